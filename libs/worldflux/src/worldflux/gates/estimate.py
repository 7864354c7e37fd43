"""How long a bigger measurement would take, from the seconds per step already measured.

Training time scales with steps; evaluation and per-run overhead (model build, checks) do not,
so they are estimated per run and reported separately instead of being folded into a rate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from worldflux.gates.records import RunRecord


@dataclass(frozen=True)
class Scenario:
    seeds: int
    steps: int

    @classmethod
    def parse(cls, text: str) -> Scenario:
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
        if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
            raise ValueError(f"scenario {text!r}: expected SEEDSxSTEPS with both >= 1, e.g. 5x5000")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.seeds}x{self.steps}"


def parse_scenarios(text: str) -> list[Scenario]:
    return [Scenario.parse(part) for part in text.split(",") if part.strip()]


@dataclass(frozen=True)
class ModelRate:
    """Measured per-model costs: seconds per training step, per evaluation, per run overhead."""

    model: str
    runs: int
    seconds_per_step: float
    eval_seconds_per_run: float
    overhead_seconds_per_run: float


@dataclass(frozen=True)
class Estimate:
    model: str
    scenario: Scenario
    train_seconds: float
    eval_seconds: float
    overhead_seconds: float

    @property
    def total_seconds(self) -> float:
        return self.train_seconds + self.eval_seconds + self.overhead_seconds


def model_rates(runs: Iterable[RunRecord]) -> list[ModelRate]:
    """Rates from the runs that trained (status ok, at least one step), per model."""
    by_model: dict[str, list[RunRecord]] = {}
    for run in runs:
        if run.status == "ok" and run.steps_done > 0 and run.train_seconds > 0:
            by_model.setdefault(run.model, []).append(run)
    rates = []
    for model, group in by_model.items():
        steps = sum(r.steps_done for r in group)
        rates.append(
            ModelRate(
                model,
                len(group),
                sum(r.train_seconds for r in group) / steps,
                sum(r.eval_seconds for r in group) / len(group),
                sum(max(0.0, r.seconds - r.train_seconds - r.eval_seconds) for r in group)
                / len(group),
            )
        )
    return rates


def estimate(rates: Iterable[ModelRate], scenarios: Iterable[Scenario]) -> list[Estimate]:
    return [
        Estimate(
            rate.model,
            scenario,
            scenario.seeds * scenario.steps * rate.seconds_per_step,
            scenario.seeds * rate.eval_seconds_per_run,
            scenario.seeds * rate.overhead_seconds_per_run,
        )
        for scenario in scenarios
        for rate in rates
    ]


def wall_seconds(estimates: Iterable[Estimate], workers: int) -> float:
    """Wall time with `workers` parallel processes, assuming runs of one scenario balance
    evenly (an optimistic bound when there are fewer runs than workers)."""
    estimates = list(estimates)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    runs = sum(e.scenario.seeds for e in estimates)
    if not runs:
        return 0.0
    total = sum(e.total_seconds for e in estimates)
    longest_run = max(e.total_seconds / e.scenario.seeds for e in estimates)
    return max(total / min(workers, runs), longest_run) if math.isfinite(total) else total
