"""What a measurement runs (MeasureSettings) and what the gates demand of it (GateSettings).

Both are plain dataclasses that round-trip through the report's JSON, so `check`, `merge` and
`--append` can tell whether two reports measured the same thing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from worldflux.core.config import from_fields

DEFAULT_SKILL_HORIZON = 10
SCHEDULES = ("constant", "cosine")


@dataclass
class ControlSettings:
    """The control gate's measurement: per seed, an online run (worldflux.agents.OnlineLoop)
    of the model on a gymnasium env, judged by its final evaluation's mean return.

    A seed succeeds when that mean return over `eval_episodes` episodes (seeded alike for
    every seed) is above `threshold`. The run trains from scratch: `env_steps` env steps,
    the first `seed_steps` with uniform random actions, `utd_ratio` updates per env step
    after them. `planner`/`planner_settings` pick the planner of the families that plan;
    `max_episode_steps` overrides the env's time limit (short runs).
    """

    env_id: str
    threshold: float
    env_steps: int = 5000
    seed_steps: int = 1000
    utd_ratio: float = 1.0
    batch_size: int = 64
    seq_len: int = 4
    eval_episodes: int = 10
    num_envs: int = 1
    max_episode_steps: int | None = None
    planner: str = "auto"
    planner_settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.env_id, str) or not self.env_id:
            raise ValueError(f"control env_id must be a gymnasium env id, got {self.env_id!r}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float):
            raise ValueError(f"control threshold must be a number, got {self.threshold!r}")
        self.threshold = float(self.threshold)
        if not math.isfinite(self.threshold):
            raise ValueError(f"control threshold must be finite, got {self.threshold}")
        for name, minimum in (
            ("env_steps", 1),
            ("seed_steps", 0),
            ("batch_size", 1),
            ("seq_len", 1),
            ("eval_episodes", 1),
            ("num_envs", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"control {name} must be an int >= {minimum}, got {value!r}")
        if self.seed_steps > self.env_steps:
            raise ValueError(
                f"control seed_steps {self.seed_steps} exceeds env_steps {self.env_steps}"
            )
        if not (isinstance(self.utd_ratio, int | float) and self.utd_ratio > 0):
            raise ValueError(f"control utd_ratio must be > 0, got {self.utd_ratio!r}")
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            raise ValueError(
                f"control max_episode_steps must be >= 1, got {self.max_episode_steps}"
            )
        self.planner_settings = dict(self.planner_settings)

    @classmethod
    def parse(cls, text: str, **fields: Any) -> ControlSettings:
        """`ENV:THRESHOLD` (the command line's --control), e.g. `Pendulum-v1:-250`."""
        env_id, sep, value = text.rpartition(":")
        try:
            threshold = float(value)
        except ValueError:
            threshold = math.nan
        if not sep or not env_id or not math.isfinite(threshold):
            raise ValueError(
                f"--control {text!r}: use ENV:THRESHOLD, e.g. Pendulum-v1:-250 (a gymnasium "
                "env id and the mean evaluation return a seed must exceed)"
            )
        return cls(env_id, threshold, **fields)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ControlSettings:
        return from_fields(cls, data)


@dataclass
class MeasureSettings:
    """One measurement: every (model, seed) pair trains with the same budget and data.

    `models` are `family:size` ids (aliases resolved before they get here); `datasets` maps each
    family to its bundled dataset. `rerun_seed` is trained a second time for the seed-stability
    gate (None skips that gate). `checks` names the per-run checks: contract, save_load_parity,
    planner.
    """

    models: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    steps: int = 5000
    batch_size: int = 16
    seq_len: int = 16
    eval_batches: int = 16
    # Open-loop steps of the prediction-skill metrics (gates.skill), at most seq_len - 2;
    # None: DEFAULT_SKILL_HORIZON, or seq_len - 2 when that is shorter.
    skill_horizon: int | None = None
    curve_points: int = 10
    device: str = "cpu"
    deterministic: bool = True
    datasets: dict[str, str] = field(default_factory=dict)
    rerun_seed: int | None = 0
    checks: list[str] = field(default_factory=lambda: ["contract", "save_load_parity", "planner"])
    # family -> config field overrides (e.g. a short run's learning rate), recorded so that a
    # report always says when a family was not measured with its own configuration.
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # family -> its own step budget (the policy's steps per family); others train `steps`.
    family_steps: dict[str, int] = field(default_factory=dict)
    # Learning rate after the family's warmup: "constant" (the family's own schedule) or
    # "cosine" decay over the run, so that a short run ends on a settled model.
    schedule: str = "constant"
    # The control gate's online runs (ControlSettings as a dict); None: not measured.
    control: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.control is not None:
            self.control = ControlSettings.from_dict(self.control).to_dict()
        self.overrides = {k: dict(v) for k, v in self.overrides.items()}
        self.models = list(self.models)
        self.seeds = [int(s) for s in self.seeds]
        self.checks = list(self.checks)
        self.datasets = dict(self.datasets)
        self.family_steps = {k: int(v) for k, v in self.family_steps.items()}
        if any(v < 1 for v in self.family_steps.values()):
            raise ValueError(f"family steps must be >= 1, got {self.family_steps}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.skill_horizon is None:
            self.skill_horizon = max(1, min(DEFAULT_SKILL_HORIZON, int(self.seq_len) - 2))
        for name in ("steps", "batch_size", "seq_len", "eval_batches", "skill_horizon"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.seq_len < 3:
            raise ValueError(
                f"seq_len must be >= 3 (a context step and an open-loop future of two steps "
                f"for the prediction-skill metrics), got {self.seq_len}"
            )
        if self.skill_horizon > self.seq_len - 2:  # type: ignore[operator]
            raise ValueError(
                f"skill_horizon {self.skill_horizon} needs seq_len >= {self.skill_horizon + 2} "
                f"(context steps and the open-loop future), got seq_len {self.seq_len}"
            )
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models must be distinct, got {self.models}")
        if self.rerun_seed is not None and self.seeds and self.rerun_seed not in self.seeds:
            raise ValueError(f"rerun seed {self.rerun_seed} is not one of the seeds {self.seeds}")
        unknown = sorted(set(self.checks) - set(RUN_CHECKS))
        if unknown:
            raise ValueError(f"unknown checks {unknown}; known: {', '.join(RUN_CHECKS)}")

    def steps_for(self, family: str) -> int:
        """The training steps of one family's runs."""
        return self.family_steps.get(family, self.steps)

    @property
    def open_loop_steps(self) -> int:
        """skill_horizon as resolved in __post_init__."""
        assert self.skill_horizon is not None
        return self.skill_horizon

    # Settings that must agree before runs from two reports can be combined.
    COMPATIBILITY_FIELDS = (
        "steps",
        "batch_size",
        "seq_len",
        "eval_batches",
        "skill_horizon",
        "curve_points",
        "device",
        "deterministic",
        "checks",
        "overrides",
        "family_steps",
        "schedule",
        "control",
    )

    def incompatibilities(self, other: MeasureSettings) -> list[str]:
        """Human-readable differences that make runs of `self` and `other` incomparable."""
        out = []
        for name in self.COMPATIBILITY_FIELDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                out.append(f"{name} differs ({mine!r} vs {theirs!r})")
        for family in sorted(set(self.datasets) & set(other.datasets)):
            if self.datasets[family] != other.datasets[family]:
                out.append(
                    f"dataset of {family} differs "
                    f"({self.datasets[family]!r} vs {other.datasets[family]!r})"
                )
        if self.rerun_seed != other.rerun_seed:
            out.append(f"rerun_seed differs ({self.rerun_seed!r} vs {other.rerun_seed!r})")
        return out

    def union(self, other: MeasureSettings) -> MeasureSettings:
        """These settings covering the models and seeds of both (they must be compatible)."""
        problems = self.incompatibilities(other)
        if problems:
            raise ValueError("measurements are not compatible: " + "; ".join(problems))
        return dataclasses.replace(
            self,
            models=self.models + [m for m in other.models if m not in self.models],
            seeds=self.seeds + [s for s in other.seeds if s not in self.seeds],
            datasets={**other.datasets, **self.datasets},
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeasureSettings:
        return from_fields(cls, data)


RUN_CHECKS = ("contract", "save_load_parity", "planner")


@dataclass
class GateSettings:
    """Thresholds of the quality-gates policy (docs/content/quality-gates.md); all adjustable."""

    min_success_rate: float = 0.8
    min_loss_drop: float = 0.10
    # A run succeeds only when every primary prediction metric beats the best trivial baseline
    # fitted on the training split by this share: skill = 1 - error_model / error_baseline.
    min_skill: float = 0.10
    # Action dependence: error with actions shuffled across the batch over the error with the
    # true actions, minus 1, on the best primary metric.
    min_action_gain: float = 0.05
    # A release verdict needs this many seeds; fewer is "insufficient evidence", not a pass.
    min_seeds: int = 5
    # Lowest acceptable exact (Clopper-Pearson) lower bound of the success rate (0: off).
    min_ci_low: float = 0.0
    confidence: float = 0.95
    bootstrap_resamples: int = 2000
    bootstrap_seed: int = 0
    # Reference families: the share of seeds that must meet the loss-drop threshold.
    family_min_fraction: float = 1.0
    # Trend gates (token, diffusion, JEPA): final metric below initial by at least this share.
    trend_min_drop: float = 0.0
    # JEPA collapse: final embedding spread must stay above this.
    min_embedding_std: float = 1e-3
    max_seed_cv: float = 0.10
    stability_tolerance: float = 0.05
    # CPU runs in deterministic mode must repeat bit for bit.
    require_identical_on_cpu: bool = True
    parity_atol: float = 1e-5
    parity_rtol: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("min_success_rate", "family_min_fraction", "confidence", "min_ci_low"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.min_seeds < 1:
            raise ValueError(f"min_seeds must be >= 1, got {self.min_seeds}")
        if self.bootstrap_resamples < 1:
            raise ValueError(f"bootstrap_resamples must be >= 1, got {self.bootstrap_resamples}")
        for name in ("max_seed_cv", "stability_tolerance", "parity_atol", "parity_rtol"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateSettings:
        return from_fields(cls, data)
