"""TD-MPC2 through the generic planner interface: MPPI over InProcessDynamics."""

import pytest
import torch

from worldflux.core import PLANNER_HORIZON_KEY
from worldflux.models.tdmpc2 import TDMPC2
from worldflux.models.tdmpc2.fixtures_testutil import small_model, train_steps
from worldflux.planners import InProcessDynamics, MPPIConfig, MPPIPlanner, ReturnObjective

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


class CountingDynamics(InProcessDynamics):
    """InProcessDynamics that counts the calls a planner makes."""

    def __init__(self, model: TDMPC2) -> None:
        super().__init__(model)
        self.calls = {"encode": 0, "rollout": 0, "propose": 0}
        self.candidates: list[int] = []

    def encode(self, obs, condition=None):  # type: ignore[no-untyped-def]
        self.calls["encode"] += 1
        return super().encode(obs, condition)

    def rollout(self, state, actions, condition=None, *, latents=None):  # type: ignore[no-untyped-def]
        self.calls["rollout"] += 1
        self.candidates.append(actions.shape[0])
        return super().rollout(state, actions, condition, latents=latents)

    def propose(self, state, horizon, num_samples):  # type: ignore[no-untyped-def]
        self.calls["propose"] += 1
        return super().propose(state, horizon, num_samples)


def _trained(**overrides) -> TDMPC2:  # type: ignore[no-untyped-def]
    model = small_model(**overrides)
    train_steps(model, 3)
    return model.eval()


def test_mppi_with_official_settings_uses_the_policy_prior() -> None:
    model = _trained(action_low=-2.0, action_high=2.0)
    dynamics = CountingDynamics(model)
    result = MPPIPlanner(MPPIConfig(seed=0)).plan(dynamics, torch.randn(2, 3))
    plan = result.action.tensor
    assert plan is not None and plan.shape == (3, 2, 1)
    assert result.action.extras[PLANNER_HORIZON_KEY] == 3
    assert bool((plan.abs() <= 2.0).all())
    assert dynamics.calls == {"encode": 1, "rollout": 6, "propose": 1}
    assert dynamics.candidates == [2 * 512] * 6  # 488 sampled + 24 policy trajectories per state
    assert result.stats.candidates == 512


def test_warm_start_continues_an_episode() -> None:
    model = _trained()
    planner = MPPIPlanner(MPPIConfig(seed=0))
    dynamics = InProcessDynamics(model)
    obs = torch.randn(1, 3)
    first = planner.plan(dynamics, obs)
    second = planner.plan(dynamics, obs, state=first.state)
    assert second.stats.warm_started and second.state.steps == 2
    assert second.state.mean.shape == (1, 3, 1)


def test_mppi_beats_random_sequences_under_the_model() -> None:
    """The plan scores higher under the model's own return than random action sequences."""
    model = _trained()
    with torch.no_grad():
        model.reward_head[-1].weight.normal_(0, 0.5)  # a reward landscape with a clear optimum
    dynamics = InProcessDynamics(model)
    obs = torch.randn(1, 3)
    state = dynamics.encode(obs)
    scorer = ReturnObjective().prepare(dynamics, None, 1)
    torch.manual_seed(0)
    random_scores = scorer(dynamics.rollout(state, torch.rand(512, 3, 1) * 2 - 1))
    result = MPPIPlanner(MPPIConfig(seed=0)).plan(dynamics, obs)
    assert result.action.tensor is not None
    plan = result.action.tensor.transpose(0, 1)  # [1, H, A]
    torch.manual_seed(0)
    plan_score = scorer(dynamics.rollout(state, plan.expand(64, -1, -1).contiguous())).mean()
    assert plan_score > random_scores.mean() + random_scores.std()


def test_bfloat16_dynamics_compute_in_bfloat16_and_answer_in_float32() -> None:
    model = _trained()
    actions = torch.rand(64, 3, 1) * 2 - 1
    exact = InProcessDynamics(model)
    fast = InProcessDynamics(model, compute_dtype=torch.bfloat16)
    obs = torch.randn(1, 3)
    reference = exact.rollout(exact.encode(obs), actions)
    state = fast.encode(obs)
    assert state["z"].dtype == torch.float32
    out = fast.rollout(exact.encode(obs), actions)
    for name in ("rewards", "values"):
        value, expected = getattr(out, name), getattr(reference, name)
        assert value.dtype == torch.float32
        assert not torch.equal(value, expected)  # bfloat16 really ran ...
        torch.testing.assert_close(value, expected, atol=0.05, rtol=0.05)  # ... and is close
    assert fast.propose(state, 3, 4).dtype == torch.float32
    with pytest.raises(ValueError, match="compute_dtype"):
        InProcessDynamics(model, compute_dtype=torch.int8)
