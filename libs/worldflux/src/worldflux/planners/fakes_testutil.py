"""Analytic Dynamics for planner tests: worlds whose optimal plans are known in closed form.

They implement the Dynamics protocol directly (no WorldModel), record every rollout call, and
expand states to candidates exactly as the protocol says (candidate i starts from state
i // (N // B)), so a planner that mixes up the grouping plans for the wrong state and fails.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from worldflux.core import (
    ActionKind,
    ActionSpec,
    ConditionPayload,
    LatentState,
    ModelSpec,
    ObservationSpec,
    Rollout,
)


def _expand(state: LatentState, num: int) -> LatentState:
    assert num % state.batch_size == 0, (num, state.batch_size)
    return state.repeat_interleave(num // state.batch_size)


class Recording:
    """Counts rollout/encode/propose calls and keeps the candidates of each rollout."""

    def __init__(self) -> None:
        self.rollout_calls = 0
        self.encode_calls = 0
        self.propose_calls = 0
        self.candidates: list[torch.Tensor] = []

    def record(self, actions: torch.Tensor) -> None:
        self.rollout_calls += 1
        self.candidates.append(actions.detach().clone())

    def close(self) -> None:
        """Nothing to release (the Dynamics protocol asks every transport for close)."""


class PointMass(Recording):
    """x' = x + dt * a in D dims; reward -||x' - target||^2 for each step.

    From x0 with the target within one step's reach, the unique optimum is
    a0 = (target - x0) / dt followed by zeros; farther away, full speed towards the target.
    `has_reward=False` makes it a reward-free family planned by goal distance on latent "x".
    `kind=ActionKind.LATENT` with `low=high=None` makes the actions unbounded latent vectors.
    `reward_scale` sharpens MPPI's exp(temperature * value) weights, as real returns would.
    `prior` (a [H, D] sequence) turns on the policy prior: propose() returns it for every
    state. `value_weight` adds a terminal value -value_weight * ||x_H - target||^2.
    """

    def __init__(
        self,
        dim: int = 2,
        target: tuple[float, ...] | None = None,
        dt: float = 0.5,
        low: float | None = -1.0,
        high: float | None = 1.0,
        has_reward: bool = True,
        prior: torch.Tensor | None = None,
        value_weight: float = 0.0,
        discount: float = 0.99,
        reward_scale: float = 1.0,
        kind: ActionKind = ActionKind.CONTINUOUS,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.reward_scale = reward_scale
        self.target = torch.tensor(target if target is not None else (0.0,) * dim)
        self.dt = dt
        self.prior = prior
        self.value_weight = value_weight
        self._spec = ModelSpec(
            model_id="pointmass:analytic",
            family="pointmass",
            observation=ObservationSpec((dim,)),
            action=ActionSpec(
                kind,
                dim=dim,
                low=(low,) if low is not None else None,
                high=(high,) if high is not None else None,
            ),
            latent={"x": (dim,)},
            has_reward=has_reward,
            has_value=value_weight > 0,
            has_policy_prior=prior is not None,
            discount=discount,
            goal_latent="x",
        )

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        self.encode_calls += 1
        return LatentState({"x": obs.float().clone()})

    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
        *,
        latents: Sequence[str] | None = None,
    ) -> Rollout:
        self.record(actions)
        x = _expand(state, actions.shape[0])["x"]
        xs, rewards = [], []
        for t in range(actions.shape[1]):
            x = x + self.dt * actions[:, t]
            xs.append(x)
            rewards.append(-self.reward_scale * ((x - self.target) ** 2).sum(-1))
        values = None
        if self.value_weight > 0:
            values = -self.value_weight * ((x - self.target) ** 2).sum(-1)
        return Rollout(
            {"x": torch.stack(xs, 1)},
            rewards=torch.stack(rewards, 1) if self._spec.has_reward else None,
            values=values,
        )

    def propose(self, state: LatentState, horizon: int, num_samples: int) -> torch.Tensor | None:
        self.propose_calls += 1
        if self.prior is None:
            return None
        seq = self.prior[:horizon].to(torch.float32)
        return seq.expand(state.batch_size * num_samples, horizon, self.dim).clone()

    def optimal_first_action(self, x0: torch.Tensor, low: float = -1.0, high: float = 1.0):
        return ((self.target - x0) / self.dt).clamp(low, high)


class Chain(Recording):
    """A discrete chain: position p, actions 0 = left, 1 = stay, 2 = right (clipped to
    [0, length - 1]); reward -|p' - goal| per step. From 0 with goal g < horizon, the unique
    best sequence is g moves right then stays."""

    def __init__(self, length: int = 8, goal: int = 3, kind: ActionKind = ActionKind.DISCRETE):
        super().__init__()
        self.length = length
        self.goal = goal
        self._spec = ModelSpec(
            model_id="chain:analytic",
            family="chain",
            observation=ObservationSpec((1,)),
            action=ActionSpec(kind, num_actions=3),
            latent={"p": (1,)},
            has_reward=True,
            discount=1.0,
        )

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        self.encode_calls += 1
        return LatentState({"p": obs.float().clone()})

    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
        *,
        latents: Sequence[str] | None = None,
    ) -> Rollout:
        assert actions.dtype == torch.int64 and actions.dim() == 2, actions.dtype
        self.record(actions)
        p = _expand(state, actions.shape[0])["p"][:, 0]
        ps, rewards = [], []
        for t in range(actions.shape[1]):
            p = (p + actions[:, t].float() - 1).clamp(0, self.length - 1)
            ps.append(p)
            rewards.append(-(p - self.goal).abs())
        return Rollout({"p": torch.stack(ps, 1).unsqueeze(-1)}, rewards=torch.stack(rewards, 1))

    def propose(self, state: LatentState, horizon: int, num_samples: int) -> torch.Tensor | None:
        return None


class SecretTokens(Recording):
    """Token actions: +1 reward at step t when the token equals secret[t] (K^H sequences,
    exactly one scoring H). The state is irrelevant, so any batch shares the optimum."""

    def __init__(self, secret: list[int], vocab: int = 8) -> None:
        super().__init__()
        self.secret = torch.tensor(secret)
        self._spec = ModelSpec(
            model_id="tokens:analytic",
            family="tokens",
            observation=ObservationSpec((2,)),
            action=ActionSpec(ActionKind.TOKEN, num_actions=vocab),
            latent={"h": (2,)},
            discount=1.0,
        )

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        return LatentState({"h": obs.float()})

    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
        *,
        latents: Sequence[str] | None = None,
    ) -> Rollout:
        self.record(actions)
        n, h = actions.shape
        hits = (actions == self.secret[:h].to(actions.device)).float()
        latent = _expand(state, n)["h"].unsqueeze(1).expand(n, h, 2)
        return Rollout({"h": latent}, rewards=hits)

    def propose(self, state: LatentState, horizon: int, num_samples: int) -> torch.Tensor | None:
        return None
