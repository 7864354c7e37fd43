"""Checks made on a live model during a seed run: contract, save/load parity, planner boundary.

Each returns a CheckResult instead of raising, so one broken check is recorded with its reason
while the rest of the measurement goes on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from worldflux.core import PLANNER_HORIZON_KEY, ActionPayload, Batch, WorldModel
from worldflux.core.spec import ActionKind
from worldflux.gates.evaluation import EVAL_SEED, eval_mode, isolated_rng
from worldflux.gates.records import CheckResult

ROLLOUT_HORIZON = 3
CANDIDATES_PER_STATE = 2


def _candidate_actions(model: WorldModel, batch: Batch, horizon: int) -> torch.Tensor:
    """[B * CANDIDATES_PER_STATE, H, ...] actions taken from the data, grouped per state."""
    actions = batch.actions[:, :horizon]
    return actions.repeat_interleave(CANDIDATES_PER_STATE, dim=0).to(model.device)


def _outputs(model: WorldModel, batch: Batch) -> dict[str, torch.Tensor]:
    """encode -> rollout -> loss on one batch, as named tensors (fixed RNG, eval mode)."""
    device = model.device
    batch = batch.to(device)
    horizon = min(ROLLOUT_HORIZON, batch.seq_len)
    with eval_mode(model), torch.no_grad(), isolated_rng(EVAL_SEED, device):
        state = model.encode(batch.obs[:, 0])
        rollout = model.rollout(state, _candidate_actions(model, batch, horizon))
        loss = model.loss(batch)
    out = {f"encode.{k}": v for k, v in state.tensors.items()}
    out.update({f"rollout.{k}": v for k, v in rollout.latents.items()})
    for name in ("rewards", "continues", "values"):
        value = getattr(rollout, name)
        if value is not None:
            out[f"rollout.{name}"] = value
    out["loss.total"] = loss.total
    out.update({f"loss.{k}": v for k, v in loss.components.items()})
    return out


def contract_check(model: WorldModel, batch: Batch) -> CheckResult:
    """The shapes and finiteness the model's spec promises, on real data."""
    try:
        spec = model.spec
        if tuple(spec.observation.shape) != tuple(batch.obs.shape[2:]):
            return CheckResult(
                False,
                f"spec observation shape {list(spec.observation.shape)} != data "
                f"{list(batch.obs.shape[2:])}",
            )
        outputs = _outputs(model, batch)
        b = batch.batch_size
        n, h = b * CANDIDATES_PER_STATE, min(ROLLOUT_HORIZON, batch.seq_len)
        problems = []
        for name, shape in spec.latent.items():
            for prefix, lead in (("encode", (b,)), ("rollout", (n, h))):
                got = outputs.get(f"{prefix}.{name}")
                if got is None:
                    problems.append(f"{prefix} has no latent {name!r}")
                elif tuple(got.shape) != (*lead, *shape):
                    problems.append(
                        f"{prefix}.{name} has shape {list(got.shape)}, "
                        f"spec says {[*lead, *shape]}"
                    )
        if spec.has_reward and "rollout.rewards" not in outputs:
            problems.append("spec has_reward but the rollout has no rewards")
        if spec.has_value and "rollout.values" not in outputs:
            problems.append("spec has_value but the rollout has no values")
        bad = [
            k for k, v in outputs.items() if v.is_floating_point() and not torch.isfinite(v).all()
        ]
        if bad:
            problems.append(f"non-finite outputs: {', '.join(bad)}")
        if problems:
            return CheckResult(False, "; ".join(problems))
        return CheckResult(
            True, "encode, rollout and loss match the spec", {"outputs": len(outputs)}
        )
    except Exception as err:  # a contract violation of any kind is this check's finding
        return CheckResult(False, f"{type(err).__name__}: {err}")


def save_load_parity(
    model: WorldModel, batch: Batch, atol: float, rtol: float, workdir: str | Path | None = None
) -> CheckResult:
    """save_pretrained -> from_pretrained on the same device gives the same outputs."""
    try:
        with tempfile.TemporaryDirectory(dir=workdir, prefix="wf-gate-parity-") as tmp:
            path = model.save_pretrained(Path(tmp) / "checkpoint")
            reloaded = WorldModel.from_pretrained(path, map_location=model.device)
        before, after = _outputs(model, batch), _outputs(reloaded, batch)
    except Exception as err:
        return CheckResult(False, f"{type(err).__name__}: {err}")
    if set(before) != set(after):
        return CheckResult(False, f"outputs differ in names: {sorted(set(before) ^ set(after))}")
    worst_name, worst = "", 0.0
    failed = []
    for name, a in before.items():
        b = after[name]
        if a.shape != b.shape:
            failed.append(f"{name}: shape {list(a.shape)} vs {list(b.shape)}")
            continue
        diff = float((a.double() - b.double()).abs().max()) if a.numel() else 0.0
        if diff > worst or not worst_name:
            worst_name, worst = name, diff
        if not torch.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
            failed.append(f"{name}: max abs diff {diff:.3g}")
    values = {"max_abs_diff": worst, "worst_output": worst_name, "outputs": len(before)}
    if failed:
        return CheckResult(False, "outputs changed after reload: " + "; ".join(failed[:3]), values)
    return CheckResult(True, f"{len(before)} outputs equal within tolerance", values)


def planner_check(model: WorldModel, obs: torch.Tensor, horizon: int = 3) -> CheckResult:
    """Planning through worldflux.planners returns a valid ActionPayload with its horizon."""
    spec = model.spec
    kind = spec.action.kind
    if not spec.has_reward and not spec.goal_latent:
        return CheckResult(None, "not plannable: no reward head and no goal latent")
    if kind not in (ActionKind.CONTINUOUS, ActionKind.DISCRETE):
        return CheckResult(None, f"no planner for {kind.value} actions")
    try:
        from worldflux.gates.planning import plan_once

        payload, expected = plan_once(model, obs, horizon)
    except Exception as err:
        return CheckResult(False, f"{type(err).__name__}: {err}")
    return check_payload(payload, expected, obs.shape[0], spec.action.step_shape, kind)


def check_payload(
    payload: object,
    horizon: int,
    batch: int,
    step_shape: tuple[int, ...],
    kind: ActionKind,
) -> CheckResult:
    if not isinstance(payload, ActionPayload):
        return CheckResult(False, f"planner returned {type(payload).__name__}, not ActionPayload")
    try:
        payload.validate()
    except ValueError as err:
        return CheckResult(False, f"invalid ActionPayload: {err}")
    got = payload.extras.get(PLANNER_HORIZON_KEY)
    if got != horizon:
        return CheckResult(False, f"extras[{PLANNER_HORIZON_KEY!r}] is {got!r}, expected {horizon}")
    if payload.action_kind is not kind:
        return CheckResult(
            False, f"payload kind {payload.action_kind.value}, model acts {kind.value}"
        )
    primary = payload.primary
    expected = (horizon, batch, *step_shape)
    if not isinstance(primary, torch.Tensor) or tuple(primary.shape) != expected:
        shape = list(primary.shape) if isinstance(primary, torch.Tensor) else type(primary).__name__
        return CheckResult(False, f"action has shape {shape}, expected {list(expected)}")
    return CheckResult(
        True,
        f"ActionPayload {kind.value} {list(expected)} with horizon {horizon}",
        {"horizon": horizon},
    )
