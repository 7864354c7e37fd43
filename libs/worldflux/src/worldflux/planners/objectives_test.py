"""Objectives: the return formula term by term, and goal distance driving plans to a goal."""

import pytest
import torch

from worldflux.core import ConditionPayload, ContractError, Rollout
from worldflux.planners import (
    CEMConfig,
    CEMPlanner,
    GoalDistanceObjective,
    ReturnObjective,
    default_objective,
    make_objective,
)
from worldflux.planners.fakes_testutil import PointMass


def _explicit_return(rewards, continues, values, gamma):  # type: ignore[no-untyped-def]
    out = []
    for n in range(rewards.shape[0]):
        total, alive = 0.0, 1.0
        for t in range(rewards.shape[1]):
            total += gamma**t * alive * float(rewards[n, t])
            alive *= float(continues[n, t]) if continues is not None else 1.0
        if values is not None:
            total += gamma ** rewards.shape[1] * alive * float(values[n])
        out.append(total)
    return torch.tensor(out)


@pytest.mark.parametrize("with_continues", [False, True])
@pytest.mark.parametrize("with_values", [False, True])
def test_return_matches_the_definition(with_continues: bool, with_values: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    rewards = torch.randn(5, 4, generator=gen)
    continues = torch.rand(5, 4, generator=gen) if with_continues else None
    if continues is not None:
        continues[0, 1] = 0.0  # a terminal after step 1: later rewards and value drop out
    values = torch.randn(5, generator=gen) if with_values else None
    rollout = Rollout({"x": torch.zeros(5, 4, 1)}, rewards, continues, values)
    world = PointMass(discount=0.9)
    score = ReturnObjective().prepare(world, None, 1)(rollout)
    assert torch.allclose(score, _explicit_return(rewards, continues, values, 0.9), atol=1e-5)
    if continues is not None:
        expected_0 = float(rewards[0, 0] + 0.9 * continues[0, 0] * rewards[0, 1])
        assert float(score[0]) == pytest.approx(expected_0, abs=1e-5)


def test_return_options_drop_value_and_continues_and_override_discount() -> None:
    rewards, continues, values = torch.ones(1, 3), torch.zeros(1, 3), torch.full((1,), 10.0)
    rollout = Rollout({"x": torch.zeros(1, 3, 1)}, rewards, continues, values)
    world = PointMass()
    assert float(ReturnObjective().prepare(world, None, 1)(rollout)[0]) == pytest.approx(1.0)
    plain = ReturnObjective(discount=0.5, use_value=False, use_continues=False)
    assert float(plain.prepare(world, None, 1)(rollout)[0]) == pytest.approx(1 + 0.5 + 0.25)


def test_planning_follows_the_terminal_value_when_rewards_are_flat() -> None:
    # Zero rewards: only the terminal value -50 * ||x_H||^2 can tell candidates apart.
    world = PointMass(target=(0.0, 0.0), value_weight=50.0, reward_scale=0.0, dt=0.5)
    obs = torch.tensor([[0.3, -0.2]])
    result = CEMPlanner(CEMConfig(horizon=1)).plan(world, obs)
    assert torch.allclose(result.first_action[0], torch.tensor([-0.6, 0.4]), atol=0.05)


def test_return_on_a_reward_free_model_says_what_to_use() -> None:
    with pytest.raises(ContractError, match="objective='goal'"):
        ReturnObjective().check(PointMass(has_reward=False).spec)
    assert isinstance(default_objective(PointMass(has_reward=False).spec), GoalDistanceObjective)
    assert isinstance(default_objective(PointMass().spec), ReturnObjective)


def test_goal_objective_drives_a_reward_free_model_to_the_goal() -> None:
    world = PointMass(has_reward=False, dt=0.5)
    goal = torch.tensor([0.6, -0.4])
    obs = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    condition = ConditionPayload(goal=goal)
    result = CEMPlanner(CEMConfig(horizon=3)).plan(world, obs, condition)
    reached = obs + 0.5 * result.action.tensor.sum(0)  # where the plan ends in the true world
    assert torch.allclose(reached, goal.expand(2, 2), atol=0.05)
    # The reported objective (mean over the final elites) is far better than staying put.
    start = (obs - goal).norm(dim=-1)
    assert all(o > -s / 3 for o, s in zip(result.stats.objective, start.tolist(), strict=True))
    assert world.encode_calls == 2  # observations and goal, once per plan


def test_summed_goal_distance_gets_there_as_soon_as_possible() -> None:
    world = PointMass(has_reward=False, dt=0.5)
    goals = torch.tensor([[0.2, 0.1], [-0.1, 0.3]])  # one goal per state, within one step
    planner = CEMPlanner(CEMConfig(horizon=3), objective=GoalDistanceObjective(reduce="all"))
    result = planner.plan(world, torch.zeros(2, 2), ConditionPayload(goal=goals))
    assert torch.allclose(result.first_action, goals / 0.5, atol=0.05)


def test_goal_given_as_a_latent_and_other_metrics() -> None:
    world = PointMass(has_reward=False, dt=0.5)
    for metric in ("l1", "cosine"):
        objective = GoalDistanceObjective(metric=metric, goal_space="latent")
        result = CEMPlanner(CEMConfig(horizon=2), objective=objective).plan(
            world, torch.zeros(1, 2), ConditionPayload(goal=torch.tensor([[0.5, 0.5]]))
        )
        end = 0.5 * result.action.tensor.sum(0)[0]
        if metric == "l1":
            assert torch.allclose(end, torch.tensor([0.5, 0.5]), atol=0.05)
        else:  # cosine only cares about the direction
            assert float(torch.nn.functional.cosine_similarity(end, torch.ones(2), dim=0)) > 0.99
    assert world.encode_calls == 2  # the goal latent is used as given, never encoded


def test_goal_errors_are_precise() -> None:
    world = PointMass(has_reward=False)
    planner = CEMPlanner(CEMConfig(horizon=2, num_samples=16, num_elites=4))
    with pytest.raises(ContractError, match=r"needs a goal.*ConditionPayload\(goal="):
        planner.plan(world, torch.zeros(1, 2))
    with pytest.raises(ContractError, match=r"goal must be a observation of shape \[2\]"):
        planner.plan(world, torch.zeros(1, 2), ConditionPayload(goal=torch.zeros(1, 3)))
    with pytest.raises(ContractError, match="3 goals for 2 states"):
        planner.plan(world, torch.zeros(2, 2), ConditionPayload(goal=torch.zeros(3, 2)))
    with pytest.raises(ContractError, match="did you mean 'cosine'"):
        GoalDistanceObjective(metric="cosin")
    with pytest.raises(ContractError, match="unknown objective 'gaol'.*did you mean 'goal'"):
        make_objective("gaol")
    assert make_objective("auto") is None
