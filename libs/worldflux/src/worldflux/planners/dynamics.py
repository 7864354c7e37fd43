"""The Dynamics protocol: all a planner needs from a world model, local or remote.

Like httpx's transports, one interface with swappable implementations underneath:
`InProcessDynamics` wraps any WorldModel in this process; `worldflux.rpc.RemoteDynamics` talks to
a dynamics service over gRPC. Planners import this module and core only, never a model family.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from worldflux.core import ConditionPayload, LatentState, ModelSpec, Rollout, WorldModel


@runtime_checkable
class Dynamics(Protocol):
    @property
    def spec(self) -> ModelSpec: ...

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        """Observations [B, *obs_shape] -> states with batch B."""
        ...

    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
    ) -> Rollout:
        """All N candidates [N, H, ...] at once; N is a multiple of B, grouped per state."""
        ...

    def propose(self, state: LatentState, horizon: int, num_samples: int) -> torch.Tensor | None:
        """Policy-prior action sequences [B * num_samples, H, ...], or None without a prior."""
        ...


class InProcessDynamics:
    """A WorldModel as Dynamics: eval mode, no autograd, inputs moved to the model's device."""

    def __init__(self, model: WorldModel) -> None:
        self.model = model.eval()
        self._spec = model.spec

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def device(self) -> torch.device:
        return self.model.device

    @torch.no_grad()
    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        return self.model.encode(obs.to(self.device), condition)

    @torch.no_grad()
    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
    ) -> Rollout:
        return self.model.rollout(state.to(self.device), actions.to(self.device), condition)

    @torch.no_grad()
    def propose(self, state: LatentState, horizon: int, num_samples: int) -> torch.Tensor | None:
        return self.model.propose(state.to(self.device), horizon, num_samples)
