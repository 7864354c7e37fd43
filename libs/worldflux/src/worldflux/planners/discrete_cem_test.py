"""Categorical CEM on a chain MDP and a hidden token sequence, both with known optima."""

import torch

from worldflux.core import PLANNER_HORIZON_KEY, ActionKind
from worldflux.planners import DiscreteCEMConfig, DiscreteCEMPlanner, PlannerState
from worldflux.planners.fakes_testutil import Chain, SecretTokens

RIGHT, STAY, LEFT = 2, 1, 0


def test_chain_picks_the_unique_best_sequence_for_every_state() -> None:
    world = Chain(length=8, goal=3)
    obs = torch.tensor([[0.0], [5.0], [3.0]])
    result = DiscreteCEMPlanner(DiscreteCEMConfig(horizon=5)).plan(world, obs)
    tokens = result.action.tokens
    assert result.action.action_kind is ActionKind.DISCRETE
    assert tokens.shape == (5, 3) and tokens.dtype == torch.int64
    assert result.action.extras[PLANNER_HORIZON_KEY] == 5
    assert tokens[:, 0].tolist() == [RIGHT, RIGHT, RIGHT, STAY, STAY]
    assert tokens[:, 1].tolist() == [LEFT, LEFT, STAY, STAY, STAY]
    assert tokens[:, 2].tolist() == [STAY] * 5
    assert result.stats.objective == [-(2 + 1), -1.0, 0.0]  # distances 2,1,0,0,0 and 1,0,0,0,0
    assert world.rollout_calls == 6


def test_token_actions_find_the_one_sequence_that_scores_everywhere() -> None:
    secret = [3, 1, 4, 1, 5, 7]
    world = SecretTokens(secret, vocab=8)  # 8^6 = 262144 sequences, one scores 6
    result = DiscreteCEMPlanner(DiscreteCEMConfig(horizon=6)).plan(world, torch.zeros(2, 2))
    assert result.action.action_kind is ActionKind.TOKEN
    assert result.action.tokens.T.tolist() == [secret, secret]
    assert result.stats.objective == [6.0, 6.0]


def test_refit_concentrates_the_distribution_on_the_elites() -> None:
    secret = [2, 0, 5]
    result = DiscreteCEMPlanner(DiscreteCEMConfig(horizon=3, smoothing=0.05)).plan(
        SecretTokens(secret, vocab=6), torch.zeros(1, 2)
    )
    probs = result.state.mean[0]  # [H, K]
    assert probs.shape == (3, 6)
    assert torch.allclose(probs.sum(-1), torch.ones(3))
    assert probs.argmax(-1).tolist() == secret
    assert probs.min() >= 0.05 / 6 * (1 - 0.1)  # smoothing keeps every action possible
    mode = DiscreteCEMPlanner(DiscreteCEMConfig(horizon=3, select="mode")).plan(
        SecretTokens(secret, vocab=6), torch.zeros(1, 2)
    )
    assert mode.action.tokens[:, 0].tolist() == secret


def test_warm_start_shifts_the_distributions_and_fills_uniform() -> None:
    world = SecretTokens([1, 1, 1], vocab=4)
    peaked = torch.tensor([[[0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]])
    planner = DiscreteCEMPlanner(DiscreteCEMConfig(horizon=3, iterations=1, num_samples=400))
    result = planner.plan(
        world, torch.zeros(1, 2), state=PlannerState("discrete-cem", ActionKind.TOKEN, peaked)
    )
    first = world.candidates[0]  # sampled from the shifted distributions
    assert (first[:, 0] == 0).all() and (first[:, 1] == 2).all()
    counts = torch.bincount(first[:, 2], minlength=4).float() / 400
    assert (counts > 0.15).all()  # the new last step starts uniform
    assert result.stats.warm_started
