"""Dynamics as a transport: what a rollout returns is the caller's argument, not client state."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from plugin_family.toy_family import ToyConfig, ToyWorldModel

from worldflux.core import ConditionPayload, LatentState, Rollout
from worldflux.planners import Dynamics, InProcessDynamics, make_planner


class Recording(InProcessDynamics):
    """In-process dynamics that remember the `latents` each rollout asked for."""

    def __init__(self, model: ToyWorldModel) -> None:
        super().__init__(model)
        self.asked: list[tuple[str, ...] | None] = []
        self.closed = False

    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
        *,
        latents: Sequence[str] | None = None,
    ) -> Rollout:
        self.asked.append(None if latents is None else tuple(latents))
        return super().rollout(state, actions, condition, latents=latents)

    def close(self) -> None:
        self.closed = True


def toy() -> ToyWorldModel:
    torch.manual_seed(0)
    return ToyWorldModel(ToyConfig(obs_shape=(3,), action_dim=2))


SETTINGS = {"horizon": 3, "iterations": 2, "num_samples": 32, "num_elites": 4}


def test_a_return_objective_asks_for_no_latent_and_a_goal_for_the_goal_latent_only() -> None:
    dynamics = Recording(toy())
    make_planner("mppi", **SETTINGS).plan(dynamics, torch.zeros(1, 3))
    assert dynamics.asked and set(dynamics.asked) == {()}
    dynamics.asked.clear()
    goal = ConditionPayload(goal=torch.ones(1, 3))
    make_planner("mppi", objective="goal", **SETTINGS).plan(dynamics, torch.zeros(1, 3), goal)
    assert set(dynamics.asked) == {(dynamics.spec.goal_latent,)}


def test_one_dynamics_serves_two_objectives_at_once() -> None:
    """Interleaved plans with different objectives each get what they asked for (the old
    client-side `latents` attribute would have leaked from one to the other)."""
    dynamics = Recording(toy())
    goal = ConditionPayload(goal=torch.ones(1, 3))
    for _ in range(2):
        make_planner("cem", **SETTINGS).plan(dynamics, torch.zeros(1, 3))
        make_planner("cem", objective="goal", **SETTINGS).plan(dynamics, torch.zeros(1, 3), goal)
    per_plan = SETTINGS["iterations"]
    runs = [dynamics.asked[i : i + per_plan] for i in range(0, len(dynamics.asked), per_plan)]
    assert [set(run) for run in runs] == [{()}, {("z",)}, {()}, {("z",)}]


def test_in_process_dynamics_is_a_closable_transport() -> None:
    with InProcessDynamics(toy()) as dynamics:
        assert isinstance(dynamics, Dynamics)
    recording = Recording(toy())
    with recording:
        pass
    assert recording.closed
