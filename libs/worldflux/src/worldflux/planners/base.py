"""What every sampling planner shares: input checks, one batched rollout per iteration, results.

A plan for B states with N candidates each sends all B * N action sequences to the dynamics in
one `rollout` call per iteration (grouped per state, as the Dynamics protocol requires): with a
remote dynamics service that is one RPC per iteration, whatever B is.
"""

from __future__ import annotations

import functools
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch

from worldflux.core import (
    PLANNER_HORIZON_KEY,
    ActionKind,
    ActionPayload,
    ActionSpec,
    ConditionPayload,
    ContractError,
    LatentState,
    ModelSpec,
)
from worldflux.core.capture import capturing
from worldflux.core.config import check_fields
from worldflux.core.plugins import Registry
from worldflux.planners.dynamics import Dynamics
from worldflux.planners.objectives import Objective, Scorer, default_objective, make_objective
from worldflux.planners.types import (
    PLANNER_CANDIDATES_KEY,
    PLANNER_ITERATIONS_KEY,
    PLANNER_NAME_KEY,
    PlannerState,
    PlanResult,
    PlanStats,
)


@dataclass
class SamplingConfig:
    """Settings shared by the sampling planners.

    num_samples counts every candidate scored per state and iteration, policy-prior ones
    included. `seed` seeds the planner's own generator (same seed, same plans); `device` is
    where candidates are sampled: None means the dynamics' device when it has one, else cpu.
    """

    horizon: int = 3
    iterations: int = 6
    num_samples: int = 512
    num_elites: int = 64
    num_pi_trajs: int = 0
    seed: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        name = type(self).__name__
        for key in ("horizon", "iterations", "num_samples", "num_elites"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ContractError(f"{name}.{key} must be an int >= 1, got {value!r}")
        if self.num_elites > self.num_samples:
            raise ContractError(
                f"{name}.num_elites ({self.num_elites}) cannot exceed num_samples "
                f"({self.num_samples})"
            )
        if not 0 <= self.num_pi_trajs < self.num_samples:
            raise ContractError(
                f"{name}.num_pi_trajs must be in [0, num_samples) = [0, {self.num_samples}), "
                f"got {self.num_pi_trajs}: some candidates must be sampled"
            )

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Any:
        """A config from keyword settings, with a did-you-mean error for unknown keys."""
        check_fields(cls, settings, "setting", also=("objective",))
        return cls(**settings)


def check_range(owner: str, key: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high) or math.isnan(value):
        raise ContractError(f"{owner}.{key} must be in [{low}, {high}], got {value}")


@dataclass
class Bounds:
    """Per-dimension action bounds on the planning device; unbounded sides are +-inf.

    `center`/`scale` turn the planners' std settings, which are in units of half the action
    range (TD-MPC2's [-1, 1] actions make that the identity), into absolute values.
    """

    low: torch.Tensor
    high: torch.Tensor
    center: torch.Tensor
    scale: torch.Tensor

    @classmethod
    def from_spec(cls, spec: ActionSpec, device: torch.device | str) -> Bounds:
        """The bounds of `spec` on `device`, made once per spec and device (a CUDA graph may
        not copy host data to the GPU while it records; planners never write to them)."""
        return _bounds(spec, torch.device(device))

    @classmethod
    def build(cls, spec: ActionSpec, device: torch.device) -> Bounds:
        dim = spec.dim
        low = torch.full((dim,), -math.inf) if spec.low is None else torch.tensor(spec.low)
        high = torch.full((dim,), math.inf) if spec.high is None else torch.tensor(spec.high)
        finite = torch.isfinite(low) & torch.isfinite(high)
        center = torch.where(finite, (low + high) / 2, torch.zeros(dim)).clamp(low, high)
        scale = torch.where(finite, (high - low) / 2, torch.ones(dim))
        return cls(*(t.float().to(device) for t in (low, high, center, scale)))

    def clamp(self, actions: torch.Tensor) -> torch.Tensor:
        return torch.maximum(torch.minimum(actions, self.high), self.low)


@functools.lru_cache(maxsize=64)
def _bounds(spec: ActionSpec, device: torch.device) -> Bounds:
    return Bounds.build(spec, device)


def read_latents(objective: Objective, spec: ModelSpec) -> tuple[str, ...] | None:
    """The rollout latents an objective reads (its `latents(spec)`), None when it does not say:
    a custom objective without the method gets every latent."""
    needed = getattr(objective, "latents", None)
    return tuple(needed(spec)) if callable(needed) else None


def check_state_type(state: object) -> PlannerState | None:
    """The warm start a caller passed, refused unless it is a PlannerState (or None)."""
    if state is not None and not isinstance(state, PlannerState):
        raise ContractError(f"state must be a PlannerState, got {type(state).__name__}")
    return state


def non_finite_objective(spec: ModelSpec) -> ContractError:
    """The error when some state has no candidate with a finite score: any choice among NaNs
    would be arbitrary (raised at once eagerly, after the replay when recorded)."""
    return ContractError(
        f"{spec.model_id} predicted a non-finite objective for every candidate of "
        "some state (NaN/Inf in its rewards, values or latents)"
    )


class Search:
    """One plan's context: the encoded states, the scorer and the rollout counter."""

    def __init__(
        self,
        dynamics: Dynamics,
        latent: LatentState,
        scorer: Scorer,
        condition: ConditionPayload | None,
        horizon: int,
        device: torch.device,
        generator: torch.Generator,
    ) -> None:
        self.dynamics = dynamics
        self.spec = dynamics.spec
        self.latent = latent
        self.scorer = scorer
        self.condition = condition
        self.horizon = horizon
        self.device = device
        self.generator = generator
        self.batch = latent.batch_size
        self.rollout_calls = 0
        self.latents: tuple[str, ...] | None = None  # what the scorer reads (None: all)
        self.bounds = Bounds.from_spec(self.spec.action, device)
        # While a CUDA graph records the search, "some state has a finite score" cannot be
        # read on the host; each iteration's flag is kept here and checked after the replay.
        self.finite_flags: list[torch.Tensor] = []

    def evaluate(self, candidates: torch.Tensor) -> torch.Tensor:
        """Score candidates [B, N, H, ...] with ONE rollout call; returns [B, N].

        Non-finite scores rank last; a batch with no finite score at all is the model's fault
        and raises, because any choice among NaNs would be arbitrary.
        """
        b, n, h = candidates.shape[:3]
        flat = candidates.reshape(b * n, h, *candidates.shape[3:])
        rollout = self.dynamics.rollout(self.latent, flat, self.condition, latents=self.latents)
        self.rollout_calls += 1
        if rollout.num_candidates != b * n or rollout.horizon != h:
            raise ContractError(
                f"dynamics returned a rollout of [{rollout.num_candidates}, {rollout.horizon}] "
                f"for {b * n} candidates over {h} steps"
            )
        scores = self.scorer(rollout)
        if tuple(scores.shape) != (b * n,):
            raise ContractError(f"objective returned shape {list(scores.shape)}, not [{b * n}]")
        scores = scores.to(self.device, torch.float32).reshape(b, n)
        finite = torch.isfinite(scores)
        if capturing():
            self.finite_flags.append(finite.any(1).all())
        elif not bool(finite.any(1).all()):
            raise non_finite_objective(self.spec)
        return torch.where(finite, scores, torch.full_like(scores, -math.inf))

    def propose(self, num: int) -> torch.Tensor | None:
        """Policy-prior sequences [B, num, H, ...] when the family has a prior, else None."""
        if num <= 0 or not self.spec.has_policy_prior:
            return None
        proposed = self.dynamics.propose(self.latent, self.horizon, num)
        if proposed is None:
            return None
        step = tuple(self.spec.action.step_shape)
        expected = (self.batch * num, self.horizon, *step)
        if tuple(proposed.shape) != expected:
            raise ContractError(
                f"dynamics.propose returned shape {list(proposed.shape)}, expected "
                f"{list(expected)} (B * num_pi_trajs, H, ...)"
            )
        return proposed.to(self.device).reshape(self.batch, num, self.horizon, *step)


@dataclass
class Outcome:
    """What a search hands back to Planner.plan: the plan [B, H, ...] and its bookkeeping."""

    plan: torch.Tensor
    objective: torch.Tensor
    mean: torch.Tensor
    candidates: int
    iterations: int | None = None  # when the search ran other than config.iterations (MPPI)


def gather_candidates(candidates: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """candidates [B, N, H, ...] and index [B, E] -> [B, E, H, ...]."""
    view = index.reshape(*index.shape, *([1] * (candidates.dim() - 2)))
    return torch.gather(candidates, 1, view.expand(-1, -1, *candidates.shape[2:]))


class Planner(ABC):
    """Base of the sampling planners: validates inputs, runs `_search`, packages the result.

    A planner is one class: `name`, `config_class`, the action `kinds` it plans, optional
    `aliases`, registered with `@register_planner` (or a `worldflux.planners` entry point that
    names the class), after which `make_planner(name)` and the planner service know it.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[SamplingConfig]]
    kinds: ClassVar[tuple[ActionKind, ...]] = ()
    aliases: ClassVar[tuple[str, ...]] = ()
    config: SamplingConfig

    def __init__(self, config: SamplingConfig, objective: Objective | str | None = None) -> None:
        self.config = config
        self.objective = make_objective(objective)
        self._generators: dict[torch.device, torch.Generator] = {}

    # -- randomness ------------------------------------------------------------------------
    def generator(self, device: torch.device | str = "cpu") -> torch.Generator:
        """The planner's own generator for `device`, seeded with config.seed on first use.

        It advances from plan to plan; pass `generator=` to plan() to control it per call
        (e.g. one per thread or per control stream).
        """
        device = torch.device(device)
        if device not in self._generators:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.config.seed)
            self._generators[device] = gen
        return self._generators[device]

    def reseed(self, seed: int | None = None) -> None:
        """Restart the planner's generators (from config.seed unless given)."""
        if seed is not None:
            self.config.seed = seed
        self._generators.clear()

    # -- planning ------------------------------------------------------------------------
    def check_spec(self, spec: ModelSpec) -> None:
        kind = spec.action.kind
        if kind not in self.kinds:
            allowed = ", ".join(k.value for k in self.kinds)
            raise ContractError(
                f"the {self.name} planner plans {allowed} actions; {spec.model_id} takes "
                f"{kind.value} actions{_planner_hint(kind)}"
            )

    def device_for(self, dynamics: Dynamics) -> torch.device:
        if self.config.device is not None:
            return torch.device(self.config.device)
        return torch.device(getattr(dynamics, "device", "cpu"))

    @torch.no_grad()
    def plan(
        self,
        dynamics: Dynamics,
        obs: torch.Tensor | LatentState,
        condition: ConditionPayload | None = None,
        state: PlannerState | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> PlanResult:
        """Plan for a batch of observations [B, *obs_shape] (or already encoded states).

        Returns actions [H, B, ...] of which the caller executes index 0, and the state to
        pass to the next call of the same episode for a warm start.
        """
        started = time.perf_counter()
        spec = dynamics.spec
        self.check_spec(spec)
        objective = self.objective if self.objective is not None else default_objective(spec)
        objective.check(spec)
        if condition is not None and not isinstance(condition, ConditionPayload):
            raise ContractError(
                f"condition must be a ConditionPayload, got {type(condition).__name__}"
            )
        check_state_type(state)
        latent = encode_observations(dynamics, obs, condition)
        device = self.device_for(dynamics)
        if generator is None:
            generator = self.generator(device)
        scorer = objective.prepare(dynamics, condition, latent.batch_size)
        search = Search(dynamics, latent, scorer, condition, self.config.horizon, device, generator)
        search.latents = read_latents(objective, spec)
        outcome = self._search(search, state)
        return self.package(spec, outcome, search.rollout_calls, state, started)

    def package(
        self,
        spec: ModelSpec,
        outcome: Outcome,
        rollout_calls: int,
        state: PlannerState | None,
        started: float,
    ) -> PlanResult:
        """A search's outcome as the PlanResult callers get: actions [H, B, ...] on the CPU,
        stats, and the state that warm-starts the next plan of the episode."""
        iterations = outcome.iterations or self.config.iterations
        kind = spec.action.kind
        new_state = PlannerState(
            self.name,
            kind,
            outcome.mean.detach(),
            steps=(state.steps + 1) if state is not None else 1,
        )
        payload = ActionPayload.of(
            kind,
            outcome.plan.transpose(0, 1).contiguous().cpu(),
            {
                PLANNER_HORIZON_KEY: self.config.horizon,
                PLANNER_ITERATIONS_KEY: iterations,
                PLANNER_CANDIDATES_KEY: outcome.candidates,
                PLANNER_NAME_KEY: self.name,
            },
        )
        stats = PlanStats(
            iterations=iterations,
            candidates=outcome.candidates,
            horizon=self.config.horizon,
            elapsed_ms=(time.perf_counter() - started) * 1e3,
            objective=[float(v) for v in outcome.objective.cpu()],
            warm_started=state is not None,
            rollout_calls=rollout_calls,
        )
        return PlanResult(payload, stats, new_state)

    @abstractmethod
    def _search(self, search: Search, state: PlannerState | None) -> Outcome:
        """Run the iterations; return the plan [B, H, ...] and the distribution to keep."""


def _planner_hint(kind: ActionKind) -> str:
    if kind in (ActionKind.DISCRETE, ActionKind.TOKEN):
        return ": use the discrete-cem planner"
    if kind in (ActionKind.CONTINUOUS, ActionKind.LATENT):
        return ": use the cem or mppi planner"
    return ": no sampling planner can search over them"


def encode_observations(
    dynamics: Dynamics, obs: torch.Tensor | LatentState, condition: ConditionPayload | None
) -> LatentState:
    """Validate a batch of observations against the spec and encode it (states pass through)."""
    if isinstance(obs, LatentState):
        if obs.batch_size < 1:
            raise ContractError("cannot plan for an empty batch of states")
        return obs.check_finite()
    check_observations(dynamics.spec, obs)
    latent = dynamics.encode(obs, condition)
    if latent.batch_size != obs.shape[0]:
        raise ContractError(
            f"dynamics.encode returned {latent.batch_size} states for {obs.shape[0]} observations"
        )
    return latent


def check_observations(spec: ModelSpec, obs: object) -> None:
    """Raise a ContractError unless obs is a finite real batch [B >= 1, *obs_shape]."""
    shape = tuple(spec.observation.shape)
    dims = ", ".join(map(str, shape))
    if not isinstance(obs, torch.Tensor):
        raise ContractError(f"obs must be a torch.Tensor [B, {dims}], got {type(obs).__name__}")
    if tuple(obs.shape) == shape:
        raise ContractError(
            f"obs must be a batch [B, {dims}], got a single observation {list(obs.shape)}: "
            "add the batch dim with obs.unsqueeze(0)"
        )
    if obs.dim() != len(shape) + 1 or tuple(obs.shape[1:]) != shape:
        raise ContractError(
            f"obs must have shape [B, {dims}] for {spec.model_id}, got {list(obs.shape)}"
        )
    if obs.shape[0] == 0:
        raise ContractError("cannot plan for an empty batch of observations (B = 0)")
    if obs.dtype == torch.bool or obs.is_complex():
        raise ContractError(f"obs must be a real-valued tensor, got {obs.dtype}")
    if obs.is_floating_point() and not bool(torch.isfinite(obs).all()):
        raise ContractError("obs contains NaN or infinite values")


def _check_planner_class(entry: type[Planner]) -> None:
    if not (isinstance(entry, type) and issubclass(entry, Planner)):
        raise ContractError(f"a planner must be a Planner subclass, got {entry!r}")
    config_class = getattr(entry, "config_class", None)
    if not (isinstance(config_class, type) and issubclass(config_class, SamplingConfig)):
        raise ContractError(f"planner {entry.__name__} needs a SamplingConfig `config_class`")
    if not entry.kinds:
        raise ContractError(f"planner {entry.__name__} names no action `kinds` it can plan")


PLANNERS: Registry[type[Planner]] = Registry(
    "planner",
    "worldflux.planners",
    builtins=("worldflux.planners.factory",),
    check=_check_planner_class,
)
register_planner = PLANNERS.register
