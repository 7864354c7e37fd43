"""Test helpers: run records with chosen numbers, and a minimal training backend.

`LoopBackend` is a plain Adam loop over a bundled dataset; the measurement tests use it to drive
the toy family through worker processes quickly. The library backend (the real Trainer) is
tested separately in runner_test.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch

from worldflux.core import NonFiniteLossError, WorldModel
from worldflux.gates.backend import (
    LibraryBackend,
    StepHook,
    TrainOutcome,
    TrainSpec,
    register_backend,
)
from worldflux.gates.records import CheckResult, Evaluation, MetricSkill, RunRecord, loss_drop


def make_record(
    model: str = "tdmpc2:ci",
    seed: int = 0,
    initial: float = 2.0,
    final: float = 1.0,
    *,
    rerun: bool = False,
    gate_kind: str = "reference",
    components: dict[str, float] | None = None,
    metrics_before: dict[str, float] | None = None,
    metrics_after: dict[str, float] | None = None,
    status: str = "ok",
    checks: dict[str, CheckResult] | None = None,
    device: str = "cpu",
    seconds: float = 10.0,
    skill: dict[str, MetricSkill] | None = None,
) -> RunRecord:
    """A finished run with the given held-out totals; success per the default 10% threshold.

    Its prediction skill defaults to `good_skill()` (50% on obs and reward, actions matter)."""
    comps = components if components is not None else {"a": final / 2, "b": final / 2}
    start = Evaluation(initial, {k: 2 * v for k, v in comps.items()}, dict(metrics_before or {}))
    end = Evaluation(final, dict(comps), dict(metrics_after or {}))
    drop = loss_drop(initial, final)
    finite = status == "ok" and start.finite and end.finite
    default_checks = {
        "contract": CheckResult(True, "ok"),
        "save_load_parity": CheckResult(True, "ok", {"max_abs_diff": 0.0}),
        "planner": CheckResult(True, "ok", {"horizon": 3}),
    }
    return RunRecord(
        model=model,
        family=model.partition(":")[0],
        gate_kind=gate_kind,
        dataset="pendulum",
        seed=seed,
        rerun=rerun,
        steps=100,
        device=device,
        batch_size=8,
        seq_len=8,
        status=status,
        error=None if status == "ok" else "boom",
        initial=start,
        final=end if status == "ok" else None,
        loss_drop=drop if status == "ok" else None,
        finite=finite,
        success=finite and drop >= 0.1,
        steps_done=100 if status == "ok" else 3,
        seconds=seconds,
        train_seconds=seconds * 0.8,
        eval_seconds=seconds * 0.1,
        steps_per_second=100 / (seconds * 0.8),
        peak_memory_bytes=1 << 20,
        curve=[(0, initial), (100, final)],
        checks=checks if checks is not None else ({} if rerun else default_checks),
        skill=(skill if skill is not None else good_skill()) if status == "ok" else {},
    )


def metric(
    model: float, best: float, shuffled: float | None = None, primary: bool = True
) -> MetricSkill:
    """A metric whose model error is `model` against baselines whose best is `best`
    (skill = 1 - model / best); shuffled-action error defaults to twice the model's."""
    return MetricSkill(
        model,
        {"mean": best * 3.0, "copy_last": best},
        model * 2.0 if shuffled is None else shuffled,
        primary,
        64,
    )


def good_skill() -> dict[str, MetricSkill]:
    return {"obs": metric(0.5, 1.0), "reward": metric(0.5, 1.0)}


@register_backend
class LoopBackend(LibraryBackend):
    """Bundled datasets, trained by a bare Adam loop (seeded, deterministic on CPU)."""

    name = "test-loop"

    def __init__(self, lr: float = 3e-3, step_delay: float = 0.0) -> None:
        self.lr = lr
        self.step_delay = step_delay

    def train(
        self, model: WorldModel, data: Any, spec: TrainSpec, on_step: StepHook
    ) -> TrainOutcome:
        generator = torch.Generator().manual_seed(spec.seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        start = time.perf_counter()
        model.train()
        for step in range(1, spec.steps + 1):
            batch = data.sample(spec.batch_size, spec.seq_len, generator).to(model.device)
            out = model.loss(batch)
            if not torch.isfinite(out.total):
                raise NonFiniteLossError("total", float(out.total.detach()), step)
            optimizer.zero_grad()
            out.total.backward()
            optimizer.step()
            if self.step_delay:
                time.sleep(self.step_delay)
            on_step(step)
        return TrainOutcome(spec.steps, time.perf_counter() - start)


@register_backend
class SlowLoopBackend(LoopBackend):
    """Slow enough that a test can kill a measurement between two runs."""

    name = "test-slow-loop"

    def __init__(self) -> None:
        super().__init__(step_delay=0.01)


class DivergingBackend(LoopBackend):
    """Learning rate so large that the toy family's loss overflows: a NaN run to record."""

    def __init__(self) -> None:
        super().__init__(lr=1e12)


@register_backend
class CrashingBackend(LoopBackend):
    """Kills its worker process outright when it reaches seed 1 (as the OOM killer would)."""

    name = "test-crashing"

    def train(
        self, model: WorldModel, data: Any, spec: TrainSpec, on_step: StepHook
    ) -> TrainOutcome:
        if spec.seed == 1:
            os._exit(3)
        return super().train(model, data, spec, on_step)
