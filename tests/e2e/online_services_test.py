"""The online loop through the services (issue 17): loop -> planner service (its own process)
-> dynamics service serving the model being trained -> back, on 127.0.0.1 ephemeral ports.

Proves the path is the networked one: the dynamics service's request counters rise by exactly
the rollouts the planner service reports, the served weights are the current ones (a plan from
the service equals an in-process plan with the same weights, before and after the weights
change), and a dead dynamics service makes acting fail with the planner's status instead of
falling back to planning in process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from online_services import Deployment, through_services

import worldflux.models.catalog  # noqa: F401  (registers the built-in families)
from wf_planner.agent import ServiceActingError, ServiceAgent
from worldflux.agents import Agent, OnlineConfig, OnlineLoop
from worldflux.core import ContractError
from worldflux.planners import InProcessDynamics, make_planner

PLANNER = {"horizon": 3, "iterations": 1, "num_samples": 16, "num_elites": 2, "num_pi_trajs": 2}
CONFIG = OnlineConfig(
    env_id="Pendulum-v1",
    model="tdmpc2:ci",
    planner="mppi",
    planner_settings=PLANNER,
    total_env_steps=30,
    seed_steps=10,
    batch_size=8,
    seq_len=4,
    eval_episodes=1,
    max_episode_steps=10,
    threads=1,
    seed=3,
)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[OnlineLoop, Deployment, dict]]:  # type: ignore[type-arg]
    torch.set_num_threads(1)
    loop = OnlineLoop(CONFIG)
    try:
        with through_services(loop) as deployment:
            result = loop.run()
            yield loop, deployment, result
    finally:
        loop.close()


def test_every_action_crosses_both_hops(served: tuple[OnlineLoop, Deployment, dict]) -> None:  # type: ignore[type-arg]
    loop, deployment, result = served
    assert isinstance(loop.agent, ServiceAgent)
    # The loop's mechanics are unchanged: UTD 1 after 10 random seeding steps.
    assert (result["env_steps"], result["updates"]) == (30, 20)
    assert len(result["eval"]) == 1 and np.isfinite(result["eval"][0]["mean_return"])
    # 20 planned training steps and one 10-step evaluation episode, all answered by the
    # planner service; each MPPI iteration is one Rollout RPC to the dynamics service.
    agent = deployment.agent
    assert agent.plans == 20 + 10
    assert agent.rollout_calls == agent.plans * PLANNER["iterations"]
    assert deployment.dynamics_calls("Rollout") == agent.rollout_calls
    assert deployment.dynamics_calls("Propose") == agent.plans  # the policy prior, per plan
    assert agent.targets == {deployment.dynamics_target}


def test_the_service_plans_with_the_current_weights(
    served: tuple[OnlineLoop, Deployment, dict],  # type: ignore[type-arg]
) -> None:
    loop, deployment, _ = served
    obs = torch.tensor([[0.3, -0.9, 1.5]])

    def in_process() -> tuple[torch.Tensor, list[float]]:
        planner = make_planner("mppi", seed=CONFIG.seed, **PLANNER)
        loop.model.eval()
        generator = torch.Generator().manual_seed(CONFIG.seed)  # as the service seeds a Plan
        plan = planner.plan(InProcessDynamics(loop.model), obs, generator=generator)
        assert plan.action.tensor is not None
        return plan.action.tensor, list(plan.stats.objective)

    def by_service() -> tuple[torch.Tensor, list[float]]:
        loop.model.eval()
        payload, stats = deployment.agent.client.plan(obs)
        assert stats.rollout_calls == PLANNER["iterations"]
        assert payload.tensor is not None
        return payload.tensor, list(stats.objective)

    def same(a: tuple[torch.Tensor, list[float]], b: tuple[torch.Tensor, list[float]]) -> None:
        torch.testing.assert_close(a[0], b[0], rtol=0, atol=1e-6)  # the whole [H, 1, 1] plan
        assert a[1] == pytest.approx(b[1], rel=1e-5, abs=1e-6)  # and its predicted return

    before = by_service()
    same(before, in_process())
    calls = deployment.dynamics_calls("Rollout")
    with torch.no_grad():  # new weights, as an update makes them
        for parameter in loop.model.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    after = by_service()
    assert deployment.dynamics_calls("Rollout") == calls + PLANNER["iterations"]
    # The service saw the change (actions may sit at the bound, the predicted return moves) ...
    assert after[1] != pytest.approx(before[1], rel=1e-3)
    same(after, in_process())  # ... and all of it


def test_a_dead_dynamics_service_fails_acting_instead_of_falling_back(
    served: tuple[OnlineLoop, Deployment, dict],  # type: ignore[type-arg]
) -> None:
    loop, deployment, _ = served
    plans = deployment.agent.plans
    steps = loop.env_steps
    deployment.stop_dynamics()
    obs = torch.zeros((1, 3))
    for greedy in (False, True):
        with pytest.raises(ServiceActingError, match="UNAVAILABLE: no dynamics replica"):
            loop.agent.act(obs, greedy=greedy)
    with pytest.raises(ServiceActingError):
        loop.step()
    assert deployment.agent.plans == plans and loop.env_steps == steps  # nothing was acted


def test_leaving_the_deployment_puts_the_local_agent_back() -> None:
    loop = OnlineLoop(dataclasses.replace(CONFIG))  # its own config: the test changes it
    try:
        local = loop.agent
        assert isinstance(local, Agent)
        loop.config.planner = "actor"  # acts in process: there is no service path for it
        with pytest.raises(ContractError, match="planner='actor'"), through_services(loop):
            pass
        loop.config.planner = CONFIG.planner
        with pytest.raises(RuntimeError, match="boom"), through_services(loop) as deployment:
            assert loop.agent is deployment.agent
            raise RuntimeError("boom")
        assert loop.agent is local
        assert deployment.planner.poll() is not None  # the planner process is gone
    finally:
        loop.close()
