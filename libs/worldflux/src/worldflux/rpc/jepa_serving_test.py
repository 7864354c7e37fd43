"""The JEPA families behind a real dynamics server: the remote client encodes and rolls out
exactly as in process, and the generic planner plans towards a goal frame through it
unchanged (V-JEPA 2-AC, CEM on the L1 goal distance)."""

from __future__ import annotations

import pytest
import torch

import worldflux.models.catalog  # noqa: F401  (the built-in families)
from worldflux.core import ConditionPayload, create_world_model
from worldflux.planners import CEMConfig, CEMPlanner, GoalDistanceObjective, InProcessDynamics
from worldflux.rpc.conftest import StartDynamics, target
from worldflux.rpc.remote import RemoteDynamics

torch.set_num_threads(1)


def planner() -> CEMPlanner:
    return CEMPlanner(
        CEMConfig(horizon=2, num_samples=16, num_elites=4, iterations=2, seed=0),
        objective=GoalDistanceObjective(metric="l1"),
    )


@pytest.mark.parametrize("model_id", ["jepa:ci", "vjepa2:ci", "vjepa2-ac:ci"])
def test_served_model_matches_in_process_and_plans_to_a_goal(
    start_dynamics: StartDynamics, model_id: str
) -> None:
    torch.manual_seed(0)
    model = create_world_model(model_id, obs_shape=(3, 32, 32), action_dim=2).eval()
    server = start_dynamics(model=model)
    obs = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    goal = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    actions = torch.rand(4, 3, 2, generator=torch.Generator().manual_seed(3)) * 2 - 1
    local = InProcessDynamics(model)
    with RemoteDynamics(target(server)) as remote:
        assert remote.spec.goal_latent == "z"
        state = remote.encode(obs)
        assert torch.equal(state["z"], local.encode(obs)["z"])
        rolled = remote.rollout(state, actions)
        assert torch.equal(rolled.latents["z"], local.rollout(state, actions).latents["z"])
        there = planner().plan(remote, obs, ConditionPayload(goal=goal))
    here = planner().plan(local, obs, ConditionPayload(goal=goal))
    assert there.action.tensor is not None and there.action.tensor.shape == (2, 2, 2)
    assert torch.equal(there.action.tensor, here.action.tensor)
