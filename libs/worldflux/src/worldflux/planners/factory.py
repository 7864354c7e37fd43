"""`make_planner(name, **settings)`: registered planners (planners.base.PLANNERS) by name, for
services and command lines.

Settings are config fields (strings from a command line are converted to the field's type)
plus `objective` ("auto", "return", "goal" or an Objective). The "auto" planner picks MPPI or
the categorical CEM per model from its action kind, so a planner service keeps working when the
dynamics service behind it swaps a continuous family for a discrete one.
"""

from __future__ import annotations

import typing
from typing import Any

import torch

import worldflux.planners.cem  # noqa: F401  (the built-in planners register on import)
from worldflux.core import ConditionPayload, ContractError, LatentState, ModelSpec
from worldflux.core.config import suggest
from worldflux.planners.base import PLANNERS, Planner, SamplingConfig
from worldflux.planners.discrete_cem import DiscreteCEMConfig, DiscreteCEMPlanner
from worldflux.planners.dynamics import Dynamics
from worldflux.planners.mppi import MPPIConfig, MPPIPlanner
from worldflux.planners.objectives import Objective
from worldflux.planners.types import PlannerState, PlanResult

AUTO = "auto"


def planner_names() -> list[str]:
    return [*PLANNERS.names(), AUTO]


def _aliases() -> dict[str, str]:
    return {alias: cls.name for cls in PLANNERS.values() for alias in cls.aliases}


def _convert(config_class: type[SamplingConfig], key: str, value: Any) -> Any:
    """A command-line string to the type the config field declares."""
    if not isinstance(value, str):
        return value
    hint = typing.get_type_hints(config_class).get(key)
    text = value.strip()
    if text.lower() in ("none", "null") and "None" in str(hint):
        return None
    try:
        if hint is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
    except ValueError:
        raise ContractError(
            f"setting {key}={value!r} is not a valid {getattr(hint, '__name__', hint)}"
        ) from None
    return value


def _config(config_class: type[SamplingConfig], settings: dict[str, Any]) -> SamplingConfig:
    converted = {k: _convert(config_class, k, v) for k, v in settings.items()}
    try:
        config: SamplingConfig = config_class.from_settings(converted)
    except TypeError as err:  # e.g. a wrong type reaching the dataclass
        raise ContractError(f"bad settings for {config_class.__name__}: {err}") from None
    return config


def make_planner(name: str, **settings: Any) -> Planner | AutoPlanner:
    """A registered planner by name or alias ("cem", "mppi", "discrete-cem", or "auto"), with
    config settings."""
    aliases = _aliases()
    canonical = aliases.get(name, name)
    objective = settings.pop("objective", None)
    if canonical == AUTO:
        return AutoPlanner(objective=objective, **settings)
    if canonical not in PLANNERS:
        raise ContractError(
            f"unknown planner {name!r}{suggest(name, [*planner_names(), *aliases])}; "
            f"known planners: {', '.join(planner_names())}"
        )
    planner_class = PLANNERS.get(canonical)
    return planner_class(_config(planner_class.config_class, settings), objective=objective)  # type: ignore[call-arg]


class AutoPlanner:
    """MPPI for continuous/latent actions, categorical CEM for discrete/token ones.

    A setting goes to every planner whose config has that field; one that neither has is an
    error up front, not at the first plan.
    """

    name = AUTO

    def __init__(self, objective: Objective | str | None = None, **settings: Any) -> None:
        known = set(MPPIConfig.field_names()) | set(DiscreteCEMConfig.field_names())
        for key in settings:
            if key not in known:
                raise ContractError(
                    f"unknown setting {key!r} for the auto planner{suggest(key, sorted(known))}; "
                    f"known settings: {', '.join(sorted(known))}, objective"
                )

        def pick(config_class: type[SamplingConfig]) -> SamplingConfig:
            names = set(config_class.field_names())
            return _config(config_class, {k: v for k, v in settings.items() if k in names})

        self.continuous = MPPIPlanner(pick(MPPIConfig), objective=objective)  # type: ignore[arg-type]
        self.discrete = DiscreteCEMPlanner(pick(DiscreteCEMConfig), objective=objective)  # type: ignore[arg-type]

    def for_spec(self, spec: ModelSpec) -> Planner:
        return self.discrete if spec.action.is_indexed else self.continuous

    def plan(
        self,
        dynamics: Dynamics,
        obs: torch.Tensor | LatentState,
        condition: ConditionPayload | None = None,
        state: PlannerState | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> PlanResult:
        return self.for_spec(dynamics.spec).plan(
            dynamics, obs, condition, state, generator=generator
        )

    def reseed(self, seed: int | None = None) -> None:
        self.continuous.reseed(seed)
        self.discrete.reseed(seed)
