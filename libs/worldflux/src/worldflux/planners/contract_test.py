"""Bad input gets a precise ContractError; make_planner builds every planner by name."""

from typing import Any

import pytest
import torch

from worldflux.core import (
    PLANNER_HORIZON_KEY,
    ActionKind,
    ConditionPayload,
    ContractError,
    LatentState,
    Rollout,
)
from worldflux.planners import (
    PLANNER_ITERATIONS_KEY,
    PLANNER_NAME_KEY,
    AutoPlanner,
    CEMConfig,
    CEMPlanner,
    DiscreteCEMConfig,
    DiscreteCEMPlanner,
    Dynamics,
    GoalDistanceObjective,
    MPPIConfig,
    MPPIPlanner,
    PlannerState,
    make_planner,
)
from worldflux.planners.fakes_testutil import Chain, PointMass

SMALL: dict[str, Any] = {"num_samples": 16, "num_elites": 4, "iterations": 2}


def test_fakes_satisfy_the_protocol() -> None:
    assert isinstance(PointMass(), Dynamics) and isinstance(Chain(), Dynamics)


@pytest.mark.parametrize(
    ("obs", "message"),
    [
        (torch.zeros(2), r"a batch \[B, 2\], got a single observation \[2\].*unsqueeze"),
        (torch.zeros(3, 5), r"obs must have shape \[B, 2\] for pointmass:analytic, got \[3, 5\]"),
        (torch.zeros(1, 2, 2), r"obs must have shape \[B, 2\]"),
        (torch.zeros(0, 2), "empty batch"),
        (torch.tensor([[0.0, float("nan")]]), "NaN or infinite"),
        (torch.zeros(1, 2, dtype=torch.bool), "real-valued"),
        ([[0.0, 0.0]], "must be a torch.Tensor"),
    ],
)
def test_bad_observations(obs: object, message: str) -> None:
    world = PointMass()
    with pytest.raises(ContractError, match=message):
        CEMPlanner(CEMConfig(**SMALL)).plan(world, obs)  # type: ignore[arg-type]
    assert world.rollout_calls == 0


def test_encoded_states_can_be_planned_directly() -> None:
    world = PointMass(target=(0.2, 0.2))
    state = LatentState({"x": torch.zeros(2, 2)})
    result = CEMPlanner(CEMConfig(horizon=2)).plan(world, state)
    assert world.encode_calls == 0 and result.action.tensor.shape == (2, 2, 2)
    with pytest.raises(ContractError, match="NaN"):
        CEMPlanner().plan(world, LatentState({"x": torch.full((1, 2), float("nan"))}))


def test_planner_and_action_kind_must_match() -> None:
    with pytest.raises(ContractError, match="takes discrete actions: use the discrete-cem"):
        MPPIPlanner().plan(Chain(), torch.zeros(1, 1))
    with pytest.raises(ContractError, match="takes continuous actions: use the cem or mppi"):
        DiscreteCEMPlanner().plan(PointMass(), torch.zeros(1, 2))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: CEMConfig(num_samples=8, num_elites=9), r"num_elites \(9\) cannot exceed"),
        (
            lambda: MPPIConfig(num_samples=24, num_elites=4, num_pi_trajs=24),
            "some candidates must be sampled",
        ),
        (lambda: CEMConfig(horizon=0), "horizon must be an int >= 1"),
        (lambda: CEMConfig(select="median"), "select must be one of mean, best"),
        (lambda: CEMConfig(min_std=0.5, init_std=0.1), r"init_std must be in \[min_std"),
        (lambda: MPPIConfig(temperature=0.0), "temperature must be > 0"),
        (lambda: DiscreteCEMConfig(smoothing=1.5), r"smoothing must be in \[0.0, 1.0\]"),
        (lambda: CEMConfig(momentum=1.0), "momentum must be in"),
    ],
)
def test_bad_configs(build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ContractError, match=message):
        build()


def test_warm_start_state_must_match_the_plan() -> None:
    world = PointMass()
    planner = MPPIPlanner(MPPIConfig(**SMALL, num_pi_trajs=0))
    state = planner.plan(world, torch.zeros(2, 2)).state
    with pytest.raises(ContractError, match=r"shape \[2, 3, 2\].*needs \[1, 3, 2\]"):
        planner.plan(world, torch.zeros(1, 2), state=state)
    with pytest.raises(ContractError, match="comes from the 'mppi' planner, not 'cem'"):
        CEMPlanner(CEMConfig(horizon=3, **SMALL)).plan(world, torch.zeros(2, 2), state=state)
    with pytest.raises(ContractError, match="state must be a PlannerState"):
        planner.plan(world, torch.zeros(2, 2), state=state.mean)  # type: ignore[arg-type]


class _Broken(PointMass):
    """Returns NaN rewards for some (or all) candidates, or the wrong number of them."""

    def __init__(self, mode: str) -> None:
        super().__init__(target=(0.3, 0.3))
        self.mode = mode

    def rollout(self, state, actions, condition=None, *, latents=None):  # type: ignore[no-untyped-def]
        out = super().rollout(state, actions, condition, latents=latents)
        assert out.rewards is not None
        rewards = out.rewards.clone()
        if self.mode == "all-nan":
            rewards[:] = float("nan")
        elif self.mode == "some-nan":
            rewards[actions[:, 0, 0] > 0.7] = float("nan")
        elif self.mode == "short":
            return Rollout({"x": out.latents["x"][:-1]}, rewards=rewards[:-1])
        return Rollout(out.latents, rewards=rewards)


def test_non_finite_predictions() -> None:
    with pytest.raises(ContractError, match="non-finite objective for every candidate"):
        CEMPlanner(CEMConfig(**SMALL)).plan(_Broken("all-nan"), torch.zeros(1, 2))
    # NaN candidates rank last, so the plan avoids the region that produced them.
    result = CEMPlanner(CEMConfig(horizon=2, select="best")).plan(
        _Broken("some-nan"), torch.zeros(1, 2)
    )
    assert result.first_action[0, 0] <= 0.7
    with pytest.raises(ContractError, match="rollout of \\[15, 3\\] for 16 candidates"):
        MPPIPlanner(MPPIConfig(**SMALL, num_pi_trajs=0)).plan(_Broken("short"), torch.zeros(1, 2))


def test_condition_must_be_a_payload() -> None:
    with pytest.raises(ContractError, match="condition must be a ConditionPayload"):
        CEMPlanner().plan(PointMass(), torch.zeros(1, 2), {"goal": 1})  # type: ignore[arg-type]


def test_payload_and_stats() -> None:
    result = make_planner("mppi", horizon=4, **SMALL, num_pi_trajs=2).plan(
        PointMass(), torch.zeros(3, 2)
    )
    payload = result.action.validate()
    assert payload.tensor is not None and payload.tensor.shape == (4, 3, 2)
    assert payload.extras[PLANNER_HORIZON_KEY] == payload.horizon == 4
    assert payload.extras[PLANNER_ITERATIONS_KEY] == 2
    assert payload.extras[PLANNER_NAME_KEY] == "mppi"
    assert torch.equal(result.first_action, payload.tensor[0])
    stats = result.stats
    assert (stats.iterations, stats.candidates, stats.horizon, stats.rollout_calls) == (2, 16, 4, 2)
    assert len(stats.objective) == 3 and stats.elapsed_ms > 0 and not stats.warm_started
    assert isinstance(result.state, PlannerState) and result.state.mean.shape == (3, 4, 2)


def test_make_planner_by_name_alias_and_string_settings() -> None:
    cem = make_planner("cem", horizon="7", momentum="0.2", select="best", device="none")
    assert isinstance(cem, CEMPlanner)
    assert (cem.config.horizon, cem.config.momentum, cem.config.device) == (7, 0.2, None)
    mppi = make_planner("mppi", exploration_noise="true", objective="goal")
    assert isinstance(mppi, MPPIPlanner) and mppi.config.exploration_noise is True
    assert isinstance(mppi.objective, GoalDistanceObjective)
    assert isinstance(make_planner("categorical-cem"), DiscreteCEMPlanner)
    with pytest.raises(ContractError, match="unknown planner 'mpi'.*did you mean 'mppi'"):
        make_planner("mpi")
    with pytest.raises(ContractError, match="unknown setting 'horizn'.*did you mean 'horizon'"):
        make_planner("cem", horizn=3)
    with pytest.raises(ContractError, match="horizon='three' is not a valid int"):
        make_planner("cem", horizon="three")
    with pytest.raises(ContractError, match="unknown setting 'bogus' for the auto planner"):
        make_planner("auto", temperature=0.5, smoothing=0.1, bogus=1)


def test_auto_planner_follows_the_models_action_kind() -> None:
    auto = make_planner("auto", horizon=5, **SMALL, smoothing=0.1, num_pi_trajs=2)
    assert isinstance(auto, AutoPlanner)
    assert auto.discrete.config.smoothing == 0.1 and auto.continuous.config.horizon == 5
    continuous = auto.plan(PointMass(), torch.zeros(1, 2))
    discrete = auto.plan(Chain(), torch.zeros(1, 1))
    assert continuous.action.action_kind is ActionKind.CONTINUOUS
    assert discrete.action.action_kind is ActionKind.DISCRETE
    assert discrete.action.extras[PLANNER_NAME_KEY] == "discrete-cem"
    goal = ConditionPayload(goal=torch.zeros(2))
    reward_free = make_planner("auto", **SMALL, num_pi_trajs=0).plan(
        PointMass(has_reward=False), torch.zeros(1, 2), goal
    )
    assert reward_free.stats.iterations == 2
