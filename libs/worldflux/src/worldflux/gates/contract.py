"""The contract suite: what every registered family must do, checked on a live model.

One family, one small model shaped for its bundled dataset, five checks:

- `contract`: encode / rollout / loss on real data match the spec's shapes, all finite;
- `save_load_parity`: a reloaded checkpoint gives the same outputs;
- `planner`: planning through `InProcessDynamics` returns a valid ActionPayload;
- `served`: served by the dynamics service on loopback, the same model answers encode and
  rollout exactly as in process (encode alone for a model that takes no actions);
- `trainer_step`: one `Trainer` step runs and every loss it logs is finite.

It names no family: `tests/contract` runs it over `list_models()`, and `wf-gate contract` runs it
on any model id (a third-party family included), so a new family is covered by registering.
"""

from __future__ import annotations

import math
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worldflux.core import WorldModel
from worldflux.core.registry import resolve_model_id
from worldflux.core.spec import ActionKind
from worldflux.datasets import load_dataset
from worldflux.gates.backend import model_for_data
from worldflux.gates.checks import contract_check, planner_check, save_load_parity
from worldflux.gates.kinds import default_dataset
from worldflux.gates.records import CheckResult
from worldflux.planners import InProcessDynamics
from worldflux.training import Trainer, TrainerConfig

CHECKS = ("contract", "save_load_parity", "planner", "served", "trainer_step")


@dataclass(frozen=True)
class SuiteSettings:
    """Sizes of the probe batch and of the one training step (small: this runs in CI)."""

    batch_size: int = 4
    seq_len: int = 8
    seed: int = 0
    parity_atol: float = 1e-6
    parity_rtol: float = 1e-5


def served_check(model: WorldModel, obs: torch.Tensor, actions: torch.Tensor) -> CheckResult:
    """Served over loopback gRPC, the model answers encode and rollout as it does in process."""
    from worldflux.rpc import RemoteDynamics
    from worldflux.rpc.dynamics_servicer import DynamicsServicer
    from worldflux.rpc.server import ServerConfig, start_server

    token = secrets.token_hex(16)
    try:
        server = start_server(
            "dynamics", [DynamicsServicer(model).service()], ServerConfig(token=token)
        )
    except Exception as err:
        return CheckResult(False, f"the dynamics service would not serve it: {err}")
    try:
        local = InProcessDynamics(model)
        with RemoteDynamics(f"127.0.0.1:{server.port}", token=token, timeout_s=60) as remote:
            if remote.spec.to_dict() != model.spec.to_dict():
                return CheckResult(False, "the served spec differs from the model's")
            state, served_state = local.encode(obs), remote.encode(obs)
            differ = [
                f"encode.{k}" for k in state.tensors if not torch.equal(state[k], served_state[k])
            ]
            if model.spec.action.kind is ActionKind.NONE:  # no actions to send: encode only
                if differ:
                    return CheckResult(False, f"served answers differ from in-process: {differ}")
                return CheckResult(True, "served encode equals the in-process one (no actions)")
            rollout = local.rollout(state, actions)
            served = remote.rollout(served_state, actions)
        differ += [
            f"rollout.{k}"
            for k in rollout.latents
            if not torch.equal(rollout.latents[k], served.latents[k])
        ]
        for name in ("rewards", "continues", "values"):
            ours, theirs = getattr(rollout, name), getattr(served, name)
            if (ours is None) != (theirs is None) or (
                ours is not None and not torch.equal(ours, theirs)
            ):
                differ.append(f"rollout.{name}")
        if differ:
            return CheckResult(False, f"served answers differ from in-process: {differ}")
        return CheckResult(True, "served encode and rollout equal the in-process ones")
    except Exception as err:
        return CheckResult(False, f"{type(err).__name__}: {err}")
    finally:
        server.drain(0)


def trainer_step_check(model: WorldModel, data: Any, settings: SuiteSettings) -> CheckResult:
    """One optimizer step through the generic Trainer, every logged loss finite."""
    config = TrainerConfig(
        steps=1,
        batch_size=settings.batch_size,
        seq_len=settings.seq_len,
        seed=settings.seed,
        eval_batches=1,
        progress=False,
        tensorboard=False,
    )
    try:
        result = Trainer(model, config, data).fit()
    except Exception as err:
        return CheckResult(False, f"{type(err).__name__}: {err}")
    logged = {k: v for entry in result.history for k, v in entry.items()}
    bad = sorted(k for k, v in logged.items() if isinstance(v, float) and not math.isfinite(v))
    if result.steps != 1 or bad:
        return CheckResult(False, f"{result.steps} step(s); non-finite: {', '.join(bad) or '-'}")
    return CheckResult(True, "one Trainer step, every logged value finite", {"steps": 1})


def run_contract_suite(
    model_id: str,
    dataset: str | None = None,
    settings: SuiteSettings | None = None,
    workdir: str | Path | None = None,
) -> dict[str, CheckResult]:
    """Every check of the suite on `model_id`, built for `dataset` (the family's own bundled
    dataset by default). A check that raises is recorded as failed; the others still run."""
    settings = settings or SuiteSettings()
    family, _ = resolve_model_id(model_id)
    data = load_dataset(dataset or default_dataset(family.model_class), "train", settings.seed)
    torch.manual_seed(settings.seed)
    model = model_for_data(model_id, data.spec)
    generator = torch.Generator().manual_seed(settings.seed)
    batch = data.sample(settings.batch_size, settings.seq_len, generator)
    obs = batch.obs[:, 0]
    actions = batch.actions[:, :3].repeat_interleave(2, dim=0)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="wf-contract-") as tmp:
        results = {
            "contract": contract_check(model, batch),
            "save_load_parity": save_load_parity(
                model, batch, settings.parity_atol, settings.parity_rtol, tmp
            ),
            "planner": planner_check(model, obs),
            "served": served_check(model.eval(), obs, actions),
            "trainer_step": trainer_step_check(model, data, settings),
        }
    return results


def failed(results: dict[str, CheckResult]) -> list[str]:
    """'check: detail' for every failed check (a check that does not apply is not a failure)."""
    return [f"{name}: {r.detail}" for name, r in results.items() if r.passed is False]
