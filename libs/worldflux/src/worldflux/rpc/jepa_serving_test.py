"""The JEPA families behind a real dynamics server: the remote client encodes (and, for
V-JEPA 2-AC, rolls out) exactly as in process, and the generic planner plans towards a goal
frame through it unchanged (CEM on the L1 goal distance). JEPA and V-JEPA 2 take no actions:
served, they encode, and planning with them is refused with a clear error."""

from __future__ import annotations

import pytest
import torch

import worldflux.models.catalog  # noqa: F401  (the built-in families)
from worldflux.core import ActionKind, ConditionPayload, ContractError, create_world_model
from worldflux.planners import CEMConfig, CEMPlanner, GoalDistanceObjective, InProcessDynamics
from worldflux.rpc.conftest import StartDynamics, target
from worldflux.rpc.remote import RemoteDynamics

torch.set_num_threads(1)


def planner() -> CEMPlanner:
    return CEMPlanner(
        CEMConfig(horizon=2, num_samples=16, num_elites=4, iterations=2, seed=0),
        objective=GoalDistanceObjective(metric="l1"),
    )


def test_served_model_matches_in_process_and_plans_to_a_goal(
    start_dynamics: StartDynamics,
) -> None:
    torch.manual_seed(0)
    model = create_world_model("vjepa2-ac:ci", obs_shape=(3, 32, 32), action_dim=2).eval()
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


@pytest.mark.parametrize("model_id", ["jepa:ci", "vjepa2:ci"])
def test_an_action_free_model_is_served_for_encoding_and_refused_by_planners(
    start_dynamics: StartDynamics, model_id: str
) -> None:
    torch.manual_seed(0)
    model = create_world_model(model_id, obs_shape=(3, 32, 32), action_dim=2).eval()
    assert model.spec.action.kind is ActionKind.NONE
    server = start_dynamics(model=model)
    obs = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    goal = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with RemoteDynamics(target(server)) as remote:
        assert remote.spec.action.kind is ActionKind.NONE
        assert torch.equal(remote.encode(obs)["z"], InProcessDynamics(model).encode(obs)["z"])
        with pytest.raises(ContractError, match="takes none actions"):
            planner().plan(remote, obs, ConditionPayload(goal=goal))
    with pytest.raises(ContractError, match="takes none actions"):
        planner().plan(InProcessDynamics(model), obs, ConditionPayload(goal=goal))
