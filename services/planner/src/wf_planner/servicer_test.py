"""The planner service in-process over loopback gRPC, against an in-process toy dynamics server."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
import torch
from plugin_family.toy_family import ToyConfig, ToyWorldModel

from wf_planner.client import PlannerClient
from wf_planner.main import build_parser, build_planner
from wf_planner.servicer import PlannerServicer
from worldflux.core import PLANNER_HORIZON_KEY, ActionKind, ConditionPayload
from worldflux.planners import AutoPlanner, InProcessDynamics, MPPIPlanner, make_planner
from worldflux.rpc.dynamics_servicer import DynamicsServicer
from worldflux.rpc.remote import RemoteDynamics
from worldflux.rpc.server import RunningServer, ServerConfig, start_server

SETTINGS = {"horizon": 4, "iterations": 3, "num_samples": 64, "num_elites": 8, "seed": 7}


def toy(**config: object) -> ToyWorldModel:
    torch.manual_seed(0)
    values: dict[str, object] = {"obs_shape": (3,), "action_dim": 2, **config}
    return ToyWorldModel(ToyConfig(**values))  # type: ignore[arg-type]


@pytest.fixture
def servers() -> Iterator[list[RunningServer]]:
    running: list[RunningServer] = []
    yield running
    for server in reversed(running):
        server.drain(0)


def start_pair(
    servers: list[RunningServer],
    model: ToyWorldModel,
    planner: str = "auto",
    dynamics_token: str | None = None,
    **settings: object,
) -> tuple[str, RemoteDynamics]:
    dyn = start_server(
        "dynamics", [DynamicsServicer(model).service()], ServerConfig(token="dyn-secret")
    )
    servers.append(dyn)
    remote = RemoteDynamics(f"127.0.0.1:{dyn.port}", token=dynamics_token or "dyn-secret")
    servicer = PlannerServicer(
        make_planner(planner, **{**SETTINGS, **settings}), remote, seed=7, default_deadline_s=20
    )
    plan = start_server("planner", [servicer.service()], ServerConfig(token="plan-secret"))
    servers.append(plan)
    return f"127.0.0.1:{plan.port}", remote


def test_plan_matches_the_in_process_planner(servers: list[RunningServer]) -> None:
    model = toy()
    target, remote = start_pair(servers, model)
    obs = torch.randn(2, 3, generator=torch.Generator().manual_seed(3))
    with PlannerClient(target, token="plan-secret") as client:
        action, stats = client.plan(obs)
    local = make_planner("auto", **SETTINGS).plan(
        InProcessDynamics(model), obs, generator=torch.Generator().manual_seed(7)
    )
    assert action.kind is ActionKind.CONTINUOUS
    assert action.tensor is not None and action.tensor.shape == (4, 2, 2)  # [H, B, A]
    assert action.extras[PLANNER_HORIZON_KEY] == 4
    assert action.extras["wf.planner.name"] == "mppi"
    assert local.action.tensor is not None
    assert torch.equal(action.tensor, local.action.tensor)
    assert list(stats.objective) == pytest.approx(local.stats.objective)
    assert stats.rollout_calls == 3 and stats.iterations == 3 and stats.horizon == 4
    assert stats.dynamics_target.startswith("127.0.0.1:") and stats.failovers == 0
    assert remote.omit_latents  # a return objective reads no latent values: none travel


def test_goal_objective_plans_towards_the_goal_with_only_the_goal_latent(
    servers: list[RunningServer],
) -> None:
    model = toy()
    target, remote = start_pair(servers, model, objective="goal")
    obs, goal = torch.zeros(1, 3), torch.ones(1, 3)
    with PlannerClient(target, token="plan-secret") as client:
        action, _ = client.plan(obs, ConditionPayload(goal=goal))
        with pytest.raises(grpc.RpcError) as info:
            client.plan(obs)  # no goal given
    assert "GoalDistanceObjective needs a goal" in (info.value.details() or "")
    assert remote.latents == ["z"] and not remote.omit_latents
    local = make_planner("auto", objective="goal", **SETTINGS).plan(
        InProcessDynamics(model),
        obs,
        ConditionPayload(goal=goal),
        generator=torch.Generator().manual_seed(7),
    )
    assert local.action.tensor is not None and action.tensor is not None
    assert torch.equal(action.tensor, local.action.tensor)


def test_discrete_family_needs_no_planner_change(servers: list[RunningServer]) -> None:
    target, _ = start_pair(servers, toy(action_kind="discrete", action_dim=3))
    with PlannerClient(target, token="plan-secret") as client:
        action, _ = client.plan(torch.zeros(1, 3))
    assert action.kind is ActionKind.DISCRETE
    assert action.tokens is not None and action.tokens.shape == (4, 1)
    assert action.extras["wf.planner.name"] == "discrete-cem"


def test_control_stream_warm_starts_and_resets(servers: list[RunningServer]) -> None:
    target, _ = start_pair(servers, toy())
    with PlannerClient(target, token="plan-secret") as client, client.control(30) as episode:
        flags = [episode.step(torch.full((1, 3), float(t)))[1].warm_started for t in range(3)]
        _, after_reset = episode.step(torch.zeros(1, 3), reset=True)
    assert flags == [False, True, True]
    assert after_reset.warm_started is False


def test_bad_observation_is_invalid_argument_with_the_reason(
    servers: list[RunningServer],
) -> None:
    target, _ = start_pair(servers, toy())
    with PlannerClient(target, token="plan-secret") as client:
        for obs, fragment in (
            (torch.zeros(1, 4), "obs must have shape [B, 3]"),
            (torch.tensor([[0.0, float("inf"), 0.0]]), "1 of 3 values are NaN or infinite"),
            (torch.zeros(2, 3, dtype=torch.float64), "is float64, but the model takes float32"),
        ):
            with pytest.raises(grpc.RpcError) as info:
                client.plan(obs)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert fragment in (info.value.details() or "")
        action, _ = client.plan(torch.zeros(1, 3))  # still serving
        assert action.tensor is not None


def test_caller_deadline_bounds_the_plan(servers: list[RunningServer]) -> None:
    target, _ = start_pair(servers, toy(), iterations=2000)
    with PlannerClient(target, token="plan-secret") as client:
        with pytest.raises(grpc.RpcError) as info:
            client.plan(torch.zeros(1, 3), timeout_s=0.5)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_dynamics_refusing_the_planner_is_not_the_callers_auth_problem(
    servers: list[RunningServer],
) -> None:
    target, _ = start_pair(servers, toy(), dynamics_token="wrong")
    with PlannerClient(target, token="plan-secret") as client, pytest.raises(grpc.RpcError) as info:
        client.plan(torch.zeros(1, 3))
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "the dynamics service refused the planner" in (info.value.details() or "")
    with PlannerClient(target) as anonymous, pytest.raises(grpc.RpcError) as info:
        anonymous.plan(torch.zeros(1, 3))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_command_line_settings_reach_the_planner() -> None:
    args = build_parser().parse_args(
        [
            "--dynamics",
            "x:1",
            "--planner",
            "mppi",
            "--horizon",
            "5",
            "--samples",
            "128",
            "--set",
            "temperature=0.25",
            "--seed",
            "3",
        ]
    )
    planner = build_planner(args)
    assert isinstance(planner, MPPIPlanner)
    assert planner.config.horizon == 5
    assert planner.config.num_samples == 128
    assert planner.config.temperature == 0.25
    assert planner.config.num_pi_trajs == 24  # TD-MPC2's default kept
    auto = build_planner(build_parser().parse_args(["--dynamics", "x:1"]))
    assert isinstance(auto, AutoPlanner)
    assert auto.continuous.config.num_samples == 512
