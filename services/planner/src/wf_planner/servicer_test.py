"""The planner service in-process over loopback gRPC, against an in-process toy dynamics server."""

from __future__ import annotations

import time
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
from worldflux.rpc.codec import encode_tensor
from worldflux.rpc.dynamics_servicer import DynamicsServicer
from worldflux.rpc.remote import RemoteDynamics
from worldflux.rpc.server import RunningServer, ServerConfig, start_server
from worldflux.v1 import planner_pb2
from worldflux.v1.planner_pb2_grpc import PlannerServiceStub

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


PLAN_METHOD = "/worldflux.v1.PlannerService/Plan"


def in_flight(server: RunningServer) -> float:
    value = server.metrics.registry.get_sample_value(
        "wf_rpc_in_flight", {"service": "planner", "method": PLAN_METHOD}
    )
    return value or 0.0


def wait_idle(server: RunningServer, within_s: float) -> float:
    """Seconds until the planner's Plan handler has really ended (fails after `within_s`)."""
    start = time.monotonic()
    while in_flight(server) > 0:
        assert time.monotonic() - start < within_s, "the Plan handler kept running"
        time.sleep(0.02)
    return time.monotonic() - start


def test_caller_deadline_bounds_the_plan(servers: list[RunningServer]) -> None:
    target, _ = start_pair(servers, toy(), iterations=2000)
    planner = servers[-1]
    with PlannerClient(target, token="plan-secret") as client:
        with pytest.raises(grpc.RpcError) as info:
            client.plan(torch.zeros(1, 3), timeout_s=0.5)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # Not only the caller stopped waiting: the handler itself ended (2000 iterations would
        # take far longer), so no work runs on for a caller who is gone.
        wait_idle(planner, within_s=1.0)


def test_a_cancelled_plan_stops_its_work(servers: list[RunningServer]) -> None:
    target, _ = start_pair(servers, toy(), iterations=2000)
    planner = servers[-1]
    with PlannerClient(target, token="plan-secret") as client:
        stub = PlannerServiceStub(client.channel)
        request = planner_pb2.PlanRequest(observation=encode_tensor(torch.zeros(1, 3)))
        future = stub.Plan.future(request, metadata=client.metadata)  # no deadline: 20 s default
        deadline = time.monotonic() + 5
        while in_flight(planner) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        future.cancel()
        wait_idle(planner, within_s=1.0)


def test_default_deadline_bounds_a_plan_without_a_deadline(servers: list[RunningServer]) -> None:
    """A caller that sets no deadline gets `default_deadline_s`: 0.5 s is too short for 2000
    iterations (DEADLINE_EXCEEDED soon after 0.5 s), 20 s is plenty for 3."""
    dyn = start_server("dynamics", [DynamicsServicer(toy()).service()], ServerConfig())
    servers.append(dyn)
    remote = RemoteDynamics(f"127.0.0.1:{dyn.port}")
    for iterations, budget in ((2000, 0.5), (3, 20.0)):
        servicer = PlannerServicer(
            make_planner("auto", **{**SETTINGS, "iterations": iterations}),
            remote,
            default_deadline_s=budget,
        )
        plan = start_server("planner", [servicer.service()], ServerConfig())
        servers.append(plan)
        with PlannerClient(f"127.0.0.1:{plan.port}") as client:
            stub = PlannerServiceStub(client.channel)
            request = planner_pb2.PlanRequest(observation=encode_tensor(torch.zeros(1, 3)))
            start = time.monotonic()
            if iterations == 3:
                assert stub.Plan(request).action.HasField("tensor")
                continue
            with pytest.raises(grpc.RpcError) as info:
                stub.Plan(request)  # no deadline from the caller
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert 0.4 < time.monotonic() - start < 3.0
            wait_idle(plan, within_s=1.0)


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


def test_the_planner_service_takes_any_dynamics(servers: list[RunningServer]) -> None:
    """In-process dynamics behind the service (no scope, no replicas) plan the same actions."""
    model = toy()
    servicer = PlannerServicer(
        make_planner("auto", **SETTINGS), InProcessDynamics(model), seed=7, default_deadline_s=20
    )
    plan = start_server("planner", [servicer.service()], ServerConfig(token="plan-secret"))
    servers.append(plan)
    obs = torch.randn(2, 3, generator=torch.Generator().manual_seed(3))
    with PlannerClient(f"127.0.0.1:{plan.port}", token="plan-secret") as client:
        action, stats = client.plan(obs)
    local = make_planner("auto", **SETTINGS).plan(
        InProcessDynamics(model), obs, generator=torch.Generator().manual_seed(7)
    )
    assert action.tensor is not None and local.action.tensor is not None
    assert torch.equal(action.tensor, local.action.tensor)
    assert stats.dynamics_target == "" and stats.failovers == 0
