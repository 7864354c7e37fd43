"""One seed run as recorded in seed_runs.json.

JSON has no NaN or infinity, yet a diverged run is exactly what the gate must record: non-finite
floats are written as the strings "nan", "inf" and "-inf" and read back as floats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("ok", "nonfinite", "error")
NONFINITE_STRINGS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def encode_float(value: float) -> float | str:
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def decode_float(value: float | int | str) -> float:
    if isinstance(value, str):
        try:
            return NONFINITE_STRINGS[value]
        except KeyError:
            raise ValueError(f"not a number: {value!r}") from None
    return float(value)


def run_id(model: str, seed: int, rerun: bool = False) -> str:
    return f"{model}/seed{seed}" + ("/rerun" if rerun else "")


@dataclass
class Evaluation:
    """Mean held-out loss (total and components) and family metrics over fixed batches."""

    total: float
    components: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def finite(self) -> bool:
        values = [self.total, *self.components.values(), *self.metrics.values()]
        return all(math.isfinite(v) for v in values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": encode_float(self.total),
            "components": {k: encode_float(v) for k, v in sorted(self.components.items())},
            "metrics": {k: encode_float(v) for k, v in sorted(self.metrics.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        return cls(
            decode_float(data["total"]),
            {k: decode_float(v) for k, v in data.get("components", {}).items()},
            {k: decode_float(v) for k, v in data.get("metrics", {}).items()},
        )


@dataclass
class CheckResult:
    """A per-run check; `passed` is None when it does not apply (the detail says why)."""

    passed: bool | None
    detail: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        values = {k: encode_float(v) if isinstance(v, float) else v for k, v in self.values.items()}
        return {"pass": self.passed, "detail": self.detail, "values": values}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(data["pass"], data.get("detail", ""), dict(data.get("values", {})))


@dataclass
class MetricSkill:
    """One metric of one run: the model's error, each baseline's, and the shuffled-action error
    (all mean squared errors over the same held-out entries)."""

    model_error: float
    baselines: dict[str, float]
    shuffled_error: float | None = None
    primary: bool = True
    count: int = 0

    @property
    def best_baseline(self) -> tuple[str, float]:
        name = min(self.baselines, key=lambda k: _nan_last(self.baselines[k]))
        return name, self.baselines[name]

    @property
    def skill(self) -> float:
        best = self.best_baseline[1]
        if not (math.isfinite(self.model_error) and math.isfinite(best)) or best <= 0.0:
            return math.nan
        return 1.0 - self.model_error / best

    @property
    def action_gain(self) -> float | None:
        if self.shuffled_error is None:
            return None
        if not (math.isfinite(self.model_error) and math.isfinite(self.shuffled_error)):
            return math.nan
        if self.model_error <= 0.0:
            return math.inf if self.shuffled_error > 0.0 else 0.0
        return self.shuffled_error / self.model_error - 1.0

    @property
    def finite(self) -> bool:
        values = [self.model_error, *self.baselines.values()]
        if self.shuffled_error is not None:
            values.append(self.shuffled_error)
        return all(math.isfinite(v) for v in values)

    def to_dict(self) -> dict[str, Any]:
        best, _ = self.best_baseline
        gain = self.action_gain
        return {
            "model_error": encode_float(self.model_error),
            "baselines": {k: encode_float(v) for k, v in sorted(self.baselines.items())},
            "best_baseline": best,
            "skill": encode_float(self.skill),
            "shuffled_error": (
                None if self.shuffled_error is None else encode_float(self.shuffled_error)
            ),
            "action_gain": None if gain is None else encode_float(gain),
            "primary": self.primary,
            "count": self.count,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricSkill:
        shuffled = data.get("shuffled_error")
        return cls(
            decode_float(data["model_error"]),
            {k: decode_float(v) for k, v in data["baselines"].items()},
            None if shuffled is None else decode_float(shuffled),
            bool(data.get("primary", True)),
            int(data.get("count", 0)),
        )


def _nan_last(value: float) -> float:
    return value if math.isfinite(value) else math.inf


@dataclass
class RunRecord:
    """Everything measured for one (model, seed): held-out losses before and after, timing, checks.

    `success` is finite and a held-out loss drop of at least the gate's threshold; it is stored as
    measured and recomputed by the gates from `loss_drop`, so a stricter `check` needs no rerun.
    """

    model: str
    family: str
    gate_kind: str
    dataset: str
    seed: int
    rerun: bool
    steps: int
    device: str
    batch_size: int
    seq_len: int
    status: str = "ok"
    error: str | None = None
    initial: Evaluation | None = None
    final: Evaluation | None = None
    loss_drop: float | None = None
    finite: bool = False
    success: bool = False
    steps_done: int = 0
    seconds: float = 0.0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    steps_per_second: float = 0.0
    peak_memory_bytes: int = 0
    peak_memory_kind: str = "rss"
    num_parameters: int = 0
    # [step, mean held-out total] at evenly spaced steps, for the loss-curve plots.
    curve: list[tuple[int, float]] = field(default_factory=list)
    checks: dict[str, CheckResult] = field(default_factory=dict)
    # Held-out prediction skill of the trained model per metric (gates.skill).
    skill: dict[str, MetricSkill] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def run_id(self) -> str:
        return run_id(self.model, self.seed, self.rerun)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "family": self.family,
            "gate_kind": self.gate_kind,
            "dataset": self.dataset,
            "seed": self.seed,
            "rerun": self.rerun,
            "steps": self.steps,
            "device": self.device,
            "batch_size": self.batch_size,
            "seq_len": self.seq_len,
            "status": self.status,
            "error": self.error,
            "initial": self.initial.to_dict() if self.initial else None,
            "final": self.final.to_dict() if self.final else None,
            "loss_drop": encode_float(self.loss_drop) if self.loss_drop is not None else None,
            "finite": self.finite,
            "success": self.success,
            "steps_done": self.steps_done,
            "seconds": self.seconds,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "steps_per_second": self.steps_per_second,
            "peak_memory_bytes": self.peak_memory_bytes,
            "peak_memory_kind": self.peak_memory_kind,
            "num_parameters": self.num_parameters,
            "curve": [[int(s), encode_float(v)] for s, v in self.curve],
            "checks": {k: v.to_dict() for k, v in sorted(self.checks.items())},
            "skill": {k: v.to_dict() for k, v in sorted(self.skill.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        record = cls(
            model=data["model"],
            family=data["family"],
            gate_kind=data["gate_kind"],
            dataset=data["dataset"],
            seed=int(data["seed"]),
            rerun=bool(data["rerun"]),
            steps=int(data["steps"]),
            device=data["device"],
            batch_size=int(data["batch_size"]),
            seq_len=int(data["seq_len"]),
            status=data["status"],
            error=data.get("error"),
            initial=Evaluation.from_dict(data["initial"]) if data.get("initial") else None,
            final=Evaluation.from_dict(data["final"]) if data.get("final") else None,
            loss_drop=(
                decode_float(data["loss_drop"]) if data.get("loss_drop") is not None else None
            ),
            finite=bool(data["finite"]),
            success=bool(data["success"]),
            steps_done=int(data.get("steps_done", 0)),
            seconds=float(data["seconds"]),
            train_seconds=float(data["train_seconds"]),
            eval_seconds=float(data["eval_seconds"]),
            steps_per_second=float(data["steps_per_second"]),
            peak_memory_bytes=int(data["peak_memory_bytes"]),
            peak_memory_kind=data.get("peak_memory_kind", "rss"),
            num_parameters=int(data.get("num_parameters", 0)),
            curve=[(int(s), decode_float(v)) for s, v in data.get("curve", [])],
            checks={k: CheckResult.from_dict(v) for k, v in data.get("checks", {}).items()},
            skill={k: MetricSkill.from_dict(v) for k, v in data.get("skill", {}).items()},
        )
        if data.get("run_id", record.run_id) != record.run_id:
            raise ValueError(
                f"run_id {data['run_id']!r} does not match model/seed/rerun ({record.run_id!r})"
            )
        return record


def loss_drop(initial: float, final: float) -> float:
    """Relative fall of the held-out loss: (initial - final) / |initial|."""
    if not (math.isfinite(initial) and math.isfinite(final)):
        return math.nan
    if initial == 0.0:
        return 0.0 if final == 0.0 else -math.inf
    return (initial - final) / abs(initial)
