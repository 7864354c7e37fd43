"""GraphedPlanner with TD-MPC2 on a CPU: equal to Planner.plan, recordable, refusing bad input."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import worldflux.models.catalog  # noqa: F401
from worldflux.core import ContractError, create_world_model
from worldflux.core.capture import check_recordable
from worldflux.planners import CEMConfig, CEMPlanner, InProcessDynamics, MPPIConfig, MPPIPlanner
from worldflux.planners.graphed import GraphedPlanner

SMALL: dict[str, Any] = {"num_samples": 64, "num_elites": 8, "iterations": 3, "horizon": 3}


def _model():
    torch.manual_seed(0)
    model = create_world_model(
        "tdmpc2:ci", obs_shape=(3,), action_dim=2, action_low=-2.0, action_high=2.0
    )
    with torch.no_grad():  # untrained output layers are zero: every candidate would tie
        for p in model.parameters():
            if not bool(p.any()):
                p.normal_(0, 0.05)
    return model


def _planners():
    return [
        MPPIPlanner(MPPIConfig(num_pi_trajs=4, seed=3, **SMALL)),
        CEMPlanner(CEMConfig(seed=3, **SMALL)),
    ]


def test_the_tdmpc2_plan_is_recordable() -> None:
    model = _model()
    for planner in _planners():
        graphed = GraphedPlanner(planner, model, batch_size=2)
        outcome, finite = check_recordable(graphed._search)
        assert outcome.plan.shape == (2, 3, 2) and bool(finite)


@pytest.mark.parametrize("index", [0, 1], ids=["mppi", "cem"])
def test_plans_equal_planner_plan_cold_and_warm(index: int) -> None:
    """Same planner seed and torch seed: the same actions, and the same warm-start means,
    as Planner.plan with unseeded model calls (the graph cannot hash its inputs)."""
    model = _model()
    obs = torch.randn(2, 3)
    graphed = GraphedPlanner(_planners()[index], model, batch_size=2)
    planner, dynamics = _planners()[index], InProcessDynamics(model, seed_calls=False)
    state_a = state_b = None
    for _ in range(3):
        torch.manual_seed(7)
        a = graphed.plan(obs, state_a)
        torch.manual_seed(7)
        b = planner.plan(dynamics, obs, state=state_b)
        assert torch.equal(a.action.tensor, b.action.tensor)
        assert torch.equal(a.state.mean, b.state.mean)
        assert a.stats.warm_started == b.stats.warm_started
        assert a.stats.rollout_calls == b.stats.rollout_calls == SMALL["iterations"]
        state_a, state_b = a.state, b.state
    assert state_a is not None and state_a.steps == 3
    actions = a.action.tensor
    assert actions is not None
    assert actions.shape == (3, 2, 2) and bool((actions.abs() <= 2.0).all())


def test_a_new_plan_does_not_overwrite_the_last_state() -> None:
    graphed = GraphedPlanner(_planners()[0], _model(), batch_size=1)
    first = graphed.plan(torch.randn(1, 3))
    kept = first.state.mean.clone()
    graphed.plan(torch.randn(1, 3), first.state)
    assert torch.equal(first.state.mean, kept)


def test_bad_input_is_refused() -> None:
    model = _model()
    graphed = GraphedPlanner(_planners()[0], model, batch_size=2)
    with pytest.raises(ContractError, match="2 observations"):
        graphed.plan(torch.randn(3, 3))
    with pytest.raises(ContractError, match="NaN"):
        graphed.plan(torch.full((2, 3), float("nan")))
    with pytest.raises(ContractError, match="shape"):
        graphed.plan(torch.randn(2, 4))
    cem_state = GraphedPlanner(_planners()[1], model, batch_size=2).plan(torch.randn(2, 3)).state
    with pytest.raises(ContractError, match="planner"):
        graphed.plan(torch.randn(2, 3), cem_state)
    with pytest.raises(ContractError, match="state must be a PlannerState"):
        graphed.plan(torch.randn(2, 3), cem_state.mean)  # type: ignore[arg-type]
    with pytest.raises(ContractError, match="batch_size"):
        GraphedPlanner(_planners()[0], model, batch_size=0)


def test_a_model_predicting_nan_fails_after_the_plan() -> None:
    model = _model()
    with torch.no_grad():
        model.reward_head[-1].bias.fill_(float("nan"))
        model.q.bias_2.fill_(float("nan"))
    graphed = GraphedPlanner(_planners()[0], model, batch_size=1)
    with pytest.raises(ContractError, match="non-finite"):
        graphed.plan(torch.randn(1, 3))


def test_models_that_do_not_declare_it_are_refused() -> None:
    model = create_world_model("diffusion:ci", obs_shape=(3,), action_dim=1)
    assert not model.graph_capturable
    with pytest.raises(ContractError, match="graph_capturable"):
        GraphedPlanner(_planners()[0], model)
