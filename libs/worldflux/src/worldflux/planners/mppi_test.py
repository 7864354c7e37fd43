"""MPPI: TD-MPC2's defaults, policy prior, warm start, batching, one rollout per iteration."""

import torch

from worldflux.core import ActionKind
from worldflux.planners import MPPIConfig, MPPIPlanner, PlannerState
from worldflux.planners.fakes_testutil import PointMass


def test_defaults_are_tdmpc2s() -> None:
    cfg = MPPIConfig()
    assert (cfg.horizon, cfg.iterations, cfg.num_samples, cfg.num_elites) == (3, 6, 512, 64)
    assert (cfg.num_pi_trajs, cfg.temperature, cfg.min_std, cfg.max_std) == (24, 0.5, 0.05, 2.0)


# MPPI returns an elite drawn by its weight, not the mean, so its first action scatters around
# the optimum: over 20 seeds the largest error with the defaults was 0.13 (0.06 with 12
# iterations) on actions in [-1, 1]. The tolerances below leave room for that, no more.


def test_finds_the_known_optimum_with_one_rollout_per_iteration() -> None:
    world = PointMass(target=(0.1, -0.15), dt=0.5, reward_scale=10.0)
    x0 = torch.zeros(1, 2)
    result = MPPIPlanner().plan(world, x0)
    plan = result.action.tensor
    assert plan.shape == (3, 1, 2)
    assert torch.allclose(plan[0, 0], world.optimal_first_action(x0[0]), atol=0.2)
    assert world.rollout_calls == result.stats.rollout_calls == 6
    assert world.encode_calls == 1
    assert all(c.shape == (512, 3, 2) for c in world.candidates)


def test_more_iterations_home_in_on_the_optimum() -> None:
    world = PointMass(target=(0.1, -0.15), dt=0.5, reward_scale=10.0)
    x0 = torch.zeros(1, 2)
    result = MPPIPlanner(MPPIConfig(iterations=12)).plan(world, x0)
    assert torch.allclose(result.first_action[0], world.optimal_first_action(x0[0]), atol=0.1)
    assert world.rollout_calls == 12


def test_batch_of_states_is_one_rollout_per_iteration_and_each_plan_is_near_optimal() -> None:
    world = PointMass(target=(0.0, 0.0), dt=0.5, reward_scale=10.0)
    x0 = torch.tensor([[0.2, 0.1], [-0.3, 0.25], [0.05, -0.4], [5.0, -5.0]])
    batched = MPPIPlanner(MPPIConfig(iterations=12)).plan(world, x0)
    assert world.rollout_calls == 12
    assert all(c.shape == (4 * 512, 3, 2) for c in world.candidates)
    first = batched.first_action
    for b in range(4):
        optimum = world.optimal_first_action(x0[b])
        assert torch.allclose(first[b], optimum, atol=0.1), (b, first[b], optimum)
        alone = MPPIPlanner(MPPIConfig(iterations=12, seed=b + 1)).plan(world, x0[b : b + 1])
        assert torch.allclose(alone.first_action[0], optimum, atol=0.1), (b, alone.first_action)
    assert len(batched.stats.objective) == 4


def test_policy_prior_trajectories_are_scored_every_iteration() -> None:
    prior = torch.tensor([[0.6, -0.2], [0.1, 0.0], [-0.3, 0.3]])
    world = PointMass(target=(0.3, -0.1), reward_scale=10.0, prior=prior)
    MPPIPlanner().plan(world, torch.zeros(2, 2))
    assert world.propose_calls == 1
    for candidates in world.candidates:  # [B * 512, H, A], 24 prior sequences first per state
        per_state = candidates.reshape(2, 512, 3, 2)
        assert torch.equal(per_state[:, :24], prior.expand(2, 24, 3, 2))
        assert not torch.equal(per_state[:, 24], prior)


def test_a_good_prior_lifts_a_tiny_search() -> None:
    # With 8 candidates and one iteration random samples rarely land near the optimum; a prior
    # that proposes it must win, which it can only do if it is actually scored.
    world = PointMass(target=(0.35, -0.45), dt=0.5, reward_scale=10.0)
    optimum = torch.tensor([[0.7, -0.9], [0.0, 0.0], [0.0, 0.0]])
    tiny = MPPIConfig(iterations=1, num_samples=8, num_elites=1, num_pi_trajs=1)
    without = MPPIPlanner(tiny).plan(world, torch.zeros(1, 2))
    with_prior = MPPIPlanner(tiny).plan(
        PointMass(target=(0.35, -0.45), dt=0.5, reward_scale=10.0, prior=optimum),
        torch.zeros(1, 2),
    )
    assert torch.allclose(with_prior.action.tensor[:, 0], optimum)
    assert with_prior.stats.objective[0] > without.stats.objective[0]


def test_warm_start_shifts_the_previous_mean() -> None:
    world = PointMass(target=(0.5, 0.5), reward_scale=10.0)
    planner = MPPIPlanner(MPPIConfig(num_pi_trajs=0, max_std=0.05, num_samples=256))
    first = planner.plan(world, torch.zeros(1, 2))
    assert isinstance(first.state, PlannerState) and first.state.kind is ActionKind.CONTINUOUS
    start = len(world.candidates)
    prev = torch.tensor([[[0.9, -0.9], [0.4, 0.3], [-0.2, 0.7]]])
    planner.plan(world, torch.zeros(1, 2), state=PlannerState("mppi", ActionKind.CONTINUOUS, prev))
    sampled_mean = world.candidates[start].mean(0)
    assert torch.allclose(sampled_mean[:2], prev[0, 1:], atol=0.02)
    assert torch.allclose(sampled_mean[2], torch.zeros(2), atol=0.02)


def test_warm_start_carries_over_across_control_steps() -> None:
    # Closed loop: execute the first action, plan again from the new state with the state.
    world = PointMass(target=(1.2, -0.8), dt=0.5, reward_scale=10.0)
    planner = MPPIPlanner()
    x = torch.zeros(1, 2)
    state = None
    for _ in range(6):
        result = planner.plan(world, x, state=state)
        state = result.state
        x = x + 0.5 * result.first_action
    assert state is not None and state.steps == 6
    assert torch.allclose(x[0], world.target, atol=0.1)


def test_exploration_noise_only_perturbs_the_first_action() -> None:
    world = PointMass(target=(0.1, 0.1), reward_scale=10.0)
    quiet = MPPIPlanner(MPPIConfig(seed=3)).plan(world, torch.zeros(1, 2)).action.tensor
    noisy = MPPIPlanner(MPPIConfig(seed=3, exploration_noise=True))
    plan = noisy.plan(world, torch.zeros(1, 2)).action.tensor
    assert torch.equal(plan[1:], quiet[1:])
    assert not torch.equal(plan[0], quiet[0])
    assert plan.abs().max() <= 1.0


def test_twenty_or_more_action_dims_get_two_more_iterations() -> None:
    """Official heuristic: iterations += 2 when the action space has >= 20 dimensions."""
    for dim, iterations in ((19, 6), (20, 8), (38, 8)):
        world = PointMass(dim=dim)
        result = MPPIPlanner(MPPIConfig(num_samples=64, num_elites=8)).plan(
            world, torch.zeros(1, dim)
        )
        assert world.rollout_calls == result.stats.rollout_calls == iterations, dim
        assert result.stats.iterations == iterations  # reported as run
    assert MPPIConfig(large_action_extra_iterations=0).iterations_for(64) == 6
