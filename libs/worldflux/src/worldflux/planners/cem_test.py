"""Continuous CEM on a point mass whose optimal actions are known in closed form."""

import pytest
import torch

from worldflux.core import PLANNER_HORIZON_KEY, ActionKind
from worldflux.planners import CEMConfig, CEMPlanner, PlannerState
from worldflux.planners.fakes_testutil import PointMass


def test_finds_the_known_optimum_within_reach() -> None:
    world = PointMass(target=(0.1, -0.15), dt=0.5)
    x0 = torch.zeros(1, 2)
    result = CEMPlanner(CEMConfig(horizon=3)).plan(world, x0)
    plan = result.action.tensor
    assert plan.shape == (3, 1, 2)
    # a0 = (target - x0) / dt, then stay put.
    assert torch.allclose(plan[0, 0], world.optimal_first_action(x0[0]), atol=0.05)
    assert plan[1:].abs().max() < 0.1
    assert result.action.extras[PLANNER_HORIZON_KEY] == 3
    assert result.action.action_kind is ActionKind.CONTINUOUS


def test_far_target_saturates_at_the_bounds_and_never_leaves_them() -> None:
    world = PointMass(target=(10.0, -10.0), low=-0.5, high=2.0)
    result = CEMPlanner(CEMConfig(horizon=4)).plan(world, torch.zeros(2, 2))
    plan = result.action.tensor
    assert plan.shape == (4, 2, 2)
    assert plan.min() >= -0.5 and plan.max() <= 2.0
    # Optimal: full speed towards the target on each axis, i.e. exactly at the bounds.
    assert torch.allclose(plan[0, :, 0], torch.full((2,), 2.0), atol=0.05)
    assert torch.allclose(plan[0, :, 1], torch.full((2,), -0.5), atol=0.05)
    for candidates in world.candidates:
        assert candidates.min() >= -0.5 and candidates.max() <= 2.0


def test_best_selection_reports_the_objective_of_the_returned_plan() -> None:
    world = PointMass(target=(0.3, 0.2))
    result = CEMPlanner(CEMConfig(horizon=3, select="best")).plan(world, torch.zeros(1, 2))
    replay = PointMass(target=(0.3, 0.2))
    rollout = replay.rollout(replay.encode(torch.zeros(1, 2)), result.action.tensor.transpose(0, 1))
    discounts = 0.99 ** torch.arange(3.0)
    assert rollout.rewards is not None
    assert result.stats.objective[0] == pytest.approx(float((rollout.rewards[0] * discounts).sum()))


def test_std_floor_keeps_sampling_spread() -> None:
    world = PointMass(target=(0.1, 0.1))
    planner = CEMPlanner(CEMConfig(horizon=2, iterations=8, min_std=0.3, max_std=2.0))
    planner.plan(world, torch.zeros(1, 2))
    last = world.candidates[-1]  # the final iteration samples with std >= 0.3 (in [-1, 1])
    assert last.std(0).min() > 0.2


def test_warm_start_shifts_the_previous_mean_one_step() -> None:
    world = PointMass(target=(0.4, -0.2), dt=0.5)
    planner = CEMPlanner(CEMConfig(horizon=3, init_std=0.05, min_std=0.05, num_samples=256))
    first = planner.plan(world, torch.zeros(1, 2))
    assert first.state.mean.shape == (1, 3, 2) and not first.stats.warm_started
    start = len(world.candidates)
    warm = PlannerState(
        "cem", ActionKind.CONTINUOUS, torch.tensor([[[0.9, 0.8], [-0.7, 0.6], [0.5, -0.4]]])
    )
    second = planner.plan(world, torch.zeros(1, 2), state=warm)
    assert second.stats.warm_started and second.state.steps == 2
    sampled_mean = world.candidates[start].mean(0)  # first iteration: around the shifted mean
    expected = torch.tensor([[-0.7, 0.6], [0.5, -0.4], [0.0, 0.0]])
    assert torch.allclose(sampled_mean, expected, atol=0.02)


def test_same_seed_same_plan_and_the_generator_advances() -> None:
    world = PointMass(target=(0.2, 0.1))
    obs = torch.randn(3, 2, generator=torch.Generator().manual_seed(1))
    a = CEMPlanner(CEMConfig(seed=7)).plan(world, obs).action.tensor
    planner = CEMPlanner(CEMConfig(seed=7))
    b = planner.plan(world, obs).action.tensor
    c = planner.plan(world, obs).action.tensor
    assert torch.equal(a, b)
    assert not torch.equal(b, c)
    d = (
        CEMPlanner(CEMConfig(seed=7))
        .plan(world, obs, generator=torch.Generator().manual_seed(7))
        .action.tensor
    )
    assert torch.equal(a, d)


def test_unbounded_latent_actions_go_past_the_unit_box() -> None:
    world = PointMass(target=(1.0, -0.5), dt=0.5, low=None, high=None, kind=ActionKind.LATENT)
    result = CEMPlanner(CEMConfig(horizon=1, iterations=10)).plan(world, torch.zeros(1, 2))
    assert result.action.action_kind is ActionKind.LATENT
    assert result.action.tensor is None and result.action.latent is not None
    assert torch.allclose(result.first_action[0], torch.tensor([2.0, -1.0]), atol=0.05)
