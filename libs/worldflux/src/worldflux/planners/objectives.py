"""What a planner maximises: predicted return, or closeness to a goal in latent space.

An objective is prepared once per plan (that is where a goal observation is encoded) and then
scores every batch of imagined candidates, so the per-iteration cost is one rollout plus a few
tensor reductions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from worldflux.core import ConditionPayload, ContractError, ModelSpec, Rollout
from worldflux.core.config import suggest
from worldflux.planners.dynamics import Dynamics

# Rollout of B * N candidates (grouped per state) -> [B * N] scores, higher is better.
Scorer = Callable[[Rollout], torch.Tensor]


@runtime_checkable
class Objective(Protocol):
    name: str

    def check(self, spec: ModelSpec) -> None:
        """Raise a ContractError when a model with this spec cannot be scored."""
        ...

    def prepare(
        self, dynamics: Dynamics, condition: ConditionPayload | None, num_states: int
    ) -> Scorer:
        """Per-plan setup (e.g. encode the goal); returns the scorer for each iteration."""
        ...

    # Optional: `latents(spec) -> Sequence[str]`, the rollout latents the scorer reads, so a
    # remote rollout sends only those (planners.base.read_latents; without it, all travel).


def _discounts(gamma: float, horizon: int, like: torch.Tensor) -> torch.Tensor:
    return gamma ** torch.arange(horizon, dtype=like.dtype, device=like.device)


def _alive(continues: torch.Tensor | None, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights [N, H] of each step's reward and [N] of the terminal value.

    The reward for action t is received whether or not the episode ends after it, so step t
    is weighted by the continues of the steps before it; the terminal value by all of them.
    """
    n, h = like.shape
    if continues is None:
        return torch.ones_like(like), torch.ones(n, dtype=like.dtype, device=like.device)
    c = continues.to(like)
    through = torch.cumprod(c, dim=1)
    before = torch.cat([torch.ones(n, 1, dtype=like.dtype, device=like.device), through[:, :-1]], 1)
    return before, through[:, -1]


@dataclass
class ReturnObjective:
    """Predicted discounted return: sum_t discount^t r_t (times the continue product where the
    rollout predicts continues) + discount^H * terminal value where the family has one.

    `discount=None` uses the model's own discount (spec.discount).
    """

    discount: float | None = None
    use_value: bool = True
    use_continues: bool = True
    name: str = "return"

    def __post_init__(self) -> None:
        if self.discount is not None and not 0.0 < self.discount <= 1.0:
            raise ContractError(f"ReturnObjective discount must be in (0, 1], got {self.discount}")

    def latents(self, spec: ModelSpec) -> tuple[str, ...]:
        """No latent: rewards, continues and values are all a return reads."""
        del spec
        return ()

    def check(self, spec: ModelSpec) -> None:
        if not spec.has_reward:
            hint = (
                " plan towards a goal with GoalDistanceObjective (objective='goal')"
                if spec.goal_latent
                else " it names no goal latent either, so it cannot be planned with"
            )
            raise ContractError(
                f"{spec.model_id} predicts no reward, so ReturnObjective cannot" f" score it:{hint}"
            )

    def prepare(
        self, dynamics: Dynamics, condition: ConditionPayload | None, num_states: int
    ) -> Scorer:
        del condition, num_states
        spec = dynamics.spec
        self.check(spec)
        gamma = self.discount if self.discount is not None else spec.discount

        def score(rollout: Rollout) -> torch.Tensor:
            if rollout.rewards is None:
                raise ContractError(
                    f"{spec.model_id} declares has_reward but its rollout carries no rewards"
                )
            rewards = rollout.rewards.float()
            weights, terminal = _alive(rollout.continues if self.use_continues else None, rewards)
            horizon = rewards.shape[1]
            total = (rewards * weights * _discounts(gamma, horizon, rewards)).sum(1)
            if self.use_value and rollout.values is not None:
                total = total + (gamma**horizon) * terminal * rollout.values.to(total)
            return total

        return score


GOAL_METRICS = ("l2", "l1", "cosine")
GOAL_REDUCTIONS = ("final", "all")
GOAL_SPACES = ("observation", "latent")


@dataclass
class GoalDistanceObjective:
    """Negative distance between the rollout's goal latent (spec.goal_latent) and the goal.

    The goal comes from ConditionPayload.goal: an observation ([*obs_shape] for every state or
    [B, *obs_shape], one per state) that is encoded with dynamics.encode, or, with
    goal_space="latent", the goal latent itself. `reduce="final"` scores the last imagined
    step (as in goal-conditioned latent planners like V-JEPA 2); "all" sums the discounted
    distance of every step, which also rewards getting there sooner.
    """

    metric: str = "l2"
    reduce: str = "final"
    goal_space: str = "observation"
    discount: float = 1.0
    name: str = "goal"

    def __post_init__(self) -> None:
        for field_name, value, allowed in (
            ("metric", self.metric, GOAL_METRICS),
            ("reduce", self.reduce, GOAL_REDUCTIONS),
            ("goal_space", self.goal_space, GOAL_SPACES),
        ):
            if value not in allowed:
                raise ContractError(
                    f"GoalDistanceObjective {field_name}={value!r}{suggest(value, allowed)}; "
                    f"expected one of {', '.join(allowed)}"
                )
        if not 0.0 < self.discount <= 1.0:
            raise ContractError(
                f"GoalDistanceObjective discount must be in (0, 1], got {self.discount}"
            )

    def latents(self, spec: ModelSpec) -> tuple[str, ...]:
        """Only the goal latent: distances are measured there."""
        return (spec.goal_latent,)

    def check(self, spec: ModelSpec) -> None:
        if not spec.goal_latent:
            raise ContractError(
                f"{spec.model_id} names no goal latent (spec.goal_latent is empty), so "
                "GoalDistanceObjective cannot measure distances in its latent space"
            )

    def _goal_latent(
        self, dynamics: Dynamics, condition: ConditionPayload | None, num_states: int
    ) -> torch.Tensor:
        spec = dynamics.spec
        goal = condition.goal if condition is not None else None
        if self.goal_space == "observation":
            per_sample, what = tuple(spec.observation.shape), "observation"
        else:
            per_sample, what = tuple(spec.latent.get(spec.goal_latent, ())), "goal latent"
        if goal is None:
            raise ContractError(
                "GoalDistanceObjective needs a goal: pass ConditionPayload(goal=...) with a "
                f"{what} of shape {list(per_sample)} (or [B, {', '.join(map(str, per_sample))}])"
            )
        if per_sample and tuple(goal.shape) == per_sample:
            goal = goal.unsqueeze(0)
        if per_sample and tuple(goal.shape[1:]) != per_sample:
            raise ContractError(
                f"ConditionPayload.goal must be a {what} of shape {list(per_sample)} or "
                f"[B, {', '.join(map(str, per_sample))}], got {list(goal.shape)}"
            )
        if goal.shape[0] not in (1, num_states):
            raise ContractError(
                f"ConditionPayload.goal has {goal.shape[0]} goals for {num_states} states: "
                "give one goal, or one per state"
            )
        if self.goal_space == "observation":
            latent = dynamics.encode(goal)[spec.goal_latent]
        else:
            latent = goal
        latent = latent.float()
        if latent.shape[0] == 1 and num_states > 1:
            latent = latent.expand(num_states, *latent.shape[1:])
        return latent

    def prepare(
        self, dynamics: Dynamics, condition: ConditionPayload | None, num_states: int
    ) -> Scorer:
        spec = dynamics.spec
        self.check(spec)
        name = spec.goal_latent
        goal = self._goal_latent(dynamics, condition, num_states).flatten(1)  # [B, D]

        def score(rollout: Rollout) -> torch.Tensor:
            if name not in rollout.latents:
                raise ContractError(
                    f"the rollout carries no {name!r} latent (has {sorted(rollout.latents)}), "
                    "which GoalDistanceObjective compares to the goal"
                )
            z = rollout.latents[name].float()
            n, horizon = z.shape[:2]
            if n % num_states:
                raise ContractError(f"{n} candidates cannot be split over {num_states} states")
            z = z.reshape(n, horizon, -1)
            if z.shape[-1] != goal.shape[-1]:
                raise ContractError(
                    f"goal latent has {goal.shape[-1]} features, the rollout's {name!r} has "
                    f"{z.shape[-1]}"
                )
            target = goal.to(z.device).repeat_interleave(n // num_states, dim=0).unsqueeze(1)
            dist = _distance(z, target, self.metric)  # [N, H]
            if self.reduce == "final":
                return -dist[:, -1]
            return -(dist * _discounts(self.discount, horizon, dist)).sum(1)

        return score


def _distance(z: torch.Tensor, goal: torch.Tensor, metric: str) -> torch.Tensor:
    if metric == "l2":
        return (z - goal).norm(dim=-1)
    if metric == "l1":
        return (z - goal).abs().sum(-1)
    return 1.0 - torch.nn.functional.cosine_similarity(z, goal.expand_as(z), dim=-1)


OBJECTIVES = ("auto", "return", "goal")


def default_objective(spec: ModelSpec) -> Objective:
    """Return for families that predict reward, goal distance for reward-free ones."""
    if spec.has_reward:
        return ReturnObjective()
    if spec.goal_latent:
        return GoalDistanceObjective()
    raise ContractError(
        f"{spec.model_id} predicts no reward and names no goal latent: no objective can score "
        "its rollouts"
    )


def make_objective(objective: Objective | str | None) -> Objective | None:
    """An objective from its name ("return", "goal"), or None for "auto" (chosen per model)."""
    if objective is None or isinstance(objective, Objective):
        return objective
    if not isinstance(objective, str) or objective not in OBJECTIVES:
        raise ContractError(
            f"unknown objective {objective!r}{suggest(str(objective), OBJECTIVES)}; "
            f"expected one of {', '.join(OBJECTIVES)} or an Objective instance"
        )
    if objective == "return":
        return ReturnObjective()
    if objective == "goal":
        return GoalDistanceObjective()
    return None
