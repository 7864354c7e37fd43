"""The runs a measurement plans, and how shards split them.

The plan is a pure function of the settings, so every shard of a CI matrix or a cluster job
array computes the same list and takes its own slice without talking to the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from worldflux.gates.records import run_id
from worldflux.gates.settings import MeasureSettings


@dataclass(frozen=True)
class Job:
    """One (model, seed) training run; `rerun` repeats a seed for the stability gate."""

    model: str
    dataset: str
    seed: int
    rerun: bool = False

    @property
    def run_id(self) -> str:
        return run_id(self.model, self.seed, self.rerun)

    @property
    def family(self) -> str:
        return self.model.partition(":")[0]


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= index < count")

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise ValueError(f"shard {text!r}: expected INDEX/COUNT, e.g. 0/4")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}


def plan(settings: MeasureSettings) -> list[Job]:
    """Seeds outermost, so that the first runs to finish cover every model (and any shard
    gets a mix of models); the stability rerun of each model comes last."""
    jobs = [
        Job(model, settings.datasets.get(model.partition(":")[0], ""), seed)
        for seed in settings.seeds
        for model in settings.models
    ]
    if settings.rerun_seed is not None:
        jobs += [
            Job(
                model, settings.datasets.get(model.partition(":")[0], ""), settings.rerun_seed, True
            )
            for model in settings.models
        ]
    return jobs


def shard_jobs(jobs: list[Job], shard: Shard | None) -> list[Job]:
    if shard is None:
        return list(jobs)
    return [job for i, job in enumerate(jobs) if i % shard.count == shard.index]


def run_order(settings: MeasureSettings) -> dict[str, int]:
    """Position of each run id in the full plan: reports list runs in this order."""
    return {job.run_id: i for i, job in enumerate(plan(settings))}
