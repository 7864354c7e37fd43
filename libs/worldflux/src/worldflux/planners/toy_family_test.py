"""Planning a real WorldModel (the test-tree toy family) through InProcessDynamics."""

import itertools
import os
import subprocess
import sys
import textwrap

import torch
from plugin_family.toy_family import ToyConfig, ToyWorldModel

from worldflux.core import ConditionPayload
from worldflux.planners import (
    CEMConfig,
    CEMPlanner,
    DiscreteCEMConfig,
    DiscreteCEMPlanner,
    GoalDistanceObjective,
    InProcessDynamics,
    MPPIPlanner,
    ReturnObjective,
)
from worldflux.planners.fakes_testutil import Chain  # noqa: F401  (Pants: the child imports it)

CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def _toy(**overrides) -> InProcessDynamics:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    return InProcessDynamics(ToyWorldModel(ToyConfig(obs_shape=(3,), **overrides)))


def _returns(dynamics: InProcessDynamics, obs: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
    """Predicted return of sequences [N, H, ...] from one observation."""
    state = dynamics.encode(obs)
    return ReturnObjective().prepare(dynamics, None, 1)(dynamics.rollout(state, seqs))


def test_cem_and_mppi_beat_random_sequences_on_the_toy_model() -> None:
    dynamics = _toy(action_dim=2)
    obs = torch.randn(1, 3, generator=torch.Generator().manual_seed(1))
    random = torch.rand(512, 3, 2, generator=torch.Generator().manual_seed(2)) * 2 - 1
    random_returns = _returns(dynamics, obs, random)
    for planner in (CEMPlanner(CEMConfig(horizon=3, select="best")), MPPIPlanner()):
        result = planner.plan(dynamics, obs)
        plan = result.action.tensor
        assert plan.shape == (3, 1, 2) and plan.abs().max() <= 1.0
        achieved = _returns(dynamics, obs, plan.transpose(0, 1))
        assert float(achieved) >= float(random_returns.max()) - 1e-4, planner.name
        assert abs(result.stats.objective[0] - float(achieved)) < 1e-4


def test_discrete_cem_finds_the_brute_force_optimum_of_the_toy_model() -> None:
    dynamics = _toy(action_dim=3, action_kind="discrete")
    obs = torch.randn(2, 3, generator=torch.Generator().manual_seed(3))
    every = torch.tensor(list(itertools.product(range(3), repeat=3)))  # all 27 sequences
    result = DiscreteCEMPlanner(DiscreteCEMConfig(horizon=3, num_samples=64, num_elites=8)).plan(
        dynamics, obs
    )
    for b in range(2):
        best = every[_returns(dynamics, obs[b : b + 1], every).argmax()]
        assert result.action.tokens[:, b].tolist() == best.tolist()


def test_goal_objective_on_the_toy_model_closes_the_latent_distance() -> None:
    dynamics = _toy(action_dim=2)
    obs, goal = torch.zeros(1, 3), torch.ones(3)
    planner = CEMPlanner(CEMConfig(horizon=3), objective=GoalDistanceObjective())
    result = planner.plan(dynamics, obs, ConditionPayload(goal=goal))
    goal_z = dynamics.encode(goal.unsqueeze(0))["z"]
    end = dynamics.rollout(dynamics.encode(obs), result.action.tensor.transpose(0, 1)).latents["z"]
    idle = dynamics.rollout(dynamics.encode(obs), torch.zeros(1, 3, 2)).latents["z"]
    assert (end[0, -1] - goal_z[0]).norm() < (idle[0, -1] - goal_z[0]).norm()


def test_planning_imports_no_model_family() -> None:
    script = textwrap.dedent("""
        import sys
        import torch
        from plugin_family.toy_family import ToyConfig, ToyWorldModel
        from worldflux.planners import InProcessDynamics, make_planner
        from worldflux.planners.fakes_testutil import Chain
        model = ToyWorldModel(ToyConfig(obs_shape=(3,), action_dim=2))
        for name in ("cem", "mppi"):
            make_planner(name, num_samples=32, num_elites=4, iterations=2).plan(
                InProcessDynamics(model), torch.zeros(2, 3))
        make_planner("discrete-cem").plan(Chain(), torch.zeros(1, 1))
        print(sorted(m for m in sys.modules if m.startswith("worldflux.models")))
        """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=CHILD_ENV
    )
    assert out.stdout.strip() == "[]"
