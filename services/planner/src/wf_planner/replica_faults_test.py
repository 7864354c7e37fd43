"""A misbehaving dynamics replica is the replica's fault, never the planner's caller's.

Each fault below is served by an in-process replica on loopback next to a healthy one: the
planner must fail over to the healthy one (the plan succeeds), and with the bad replica alone
answer UNAVAILABLE in its own words, without the replica's text or any address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest
import torch
from plugin_family.toy_family import ToyConfig, ToyWorldModel

from wf_planner.client import PlannerClient
from wf_planner.servicer import PlannerServicer, scrub
from worldflux.planners import make_planner
from worldflux.rpc.codec import encode_tensor
from worldflux.rpc.dynamics_servicer import DynamicsServicer
from worldflux.rpc.remote import CALLER_INPUT, RemoteDynamics
from worldflux.rpc.server import RunningServer, ServerConfig, start_server
from worldflux.v1 import dynamics_pb2

SETTINGS = {"horizon": 3, "iterations": 2, "num_samples": 32, "num_elites": 4, "seed": 1}
SECRET_TEXT = "segfault in worker 192.0.2.3:7777"


def toy() -> ToyWorldModel:
    torch.manual_seed(0)
    return ToyWorldModel(ToyConfig(obs_shape=(3,), action_dim=2))


Corrupt = Callable[[dynamics_pb2.RolloutResponse, grpc.ServicerContext], object]


def wrong_n(reply: dynamics_pb2.RolloutResponse, _: grpc.ServicerContext) -> object:
    n, h = reply.rewards.shape
    reply.rewards.CopyFrom(encode_tensor(torch.zeros(n + 1, h)))
    return reply


def nan_rewards(reply: dynamics_pb2.RolloutResponse, _: grpc.ServicerContext) -> object:
    n, h = reply.rewards.shape
    reply.rewards.CopyFrom(encode_tensor(torch.full((n, h), float("nan"))))
    return reply


def int64_rewards(reply: dynamics_pb2.RolloutResponse, _: grpc.ServicerContext) -> object:
    n, h = reply.rewards.shape
    reply.rewards.CopyFrom(encode_tensor(torch.full((n, h), 1 << 62, dtype=torch.int64)))
    return reply


def garbage_latent(reply: dynamics_pb2.RolloutResponse, _: grpc.ServicerContext) -> object:
    for name in reply.latents.tensors:
        reply.latents.tensors[name].data = b"\x00"  # shape/bytes mismatch
    return reply


def invalid_argument(_: dynamics_pb2.RolloutResponse, context: grpc.ServicerContext) -> object:
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, SECRET_TEXT)


def internal(_: dynamics_pb2.RolloutResponse, context: grpc.ServicerContext) -> object:
    context.abort(grpc.StatusCode.INTERNAL, SECRET_TEXT)


class FaultyServicer(DynamicsServicer):
    """Rollout answers, then `corrupt` spoils the answer (or aborts)."""

    def __init__(self, model: ToyWorldModel, corrupt: Corrupt) -> None:
        super().__init__(model)
        self.corrupt = corrupt

    def Rollout(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        return self.corrupt(super().Rollout(request, context), context)


class BadSpecServicer(DynamicsServicer):
    def GetSpec(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        reply = super().GetSpec(request, context)
        reply.spec.observation.dtype = 99  # type: ignore[assignment]  # no such dtype
        return reply


@pytest.fixture
def servers() -> Iterator[list[RunningServer]]:
    running: list[RunningServer] = []
    yield running
    for server in reversed(running):
        server.drain(0)


def planner_over(
    servers: list[RunningServer], replicas: list[DynamicsServicer]
) -> tuple[str, list[str]]:
    """A planner over `replicas`, tried in order (policy failover): its target, theirs."""
    targets = []
    for replica in replicas:
        dyn = start_server("dynamics", [replica.service()], ServerConfig())
        servers.append(dyn)
        targets.append(f"127.0.0.1:{dyn.port}")
    remote = RemoteDynamics(
        targets, policy="failover", timeout_s=5, caller_input=CALLER_INPUT, reconnect_wait_s=0
    )
    servicer = PlannerServicer(make_planner("cem", **SETTINGS), remote, default_deadline_s=20)
    plan = start_server("planner", [servicer.service()], ServerConfig())
    servers.append(plan)
    return f"127.0.0.1:{plan.port}", targets


FAULTS = [wrong_n, nan_rewards, int64_rewards, garbage_latent, invalid_argument, internal]


@pytest.mark.parametrize("corrupt", FAULTS, ids=lambda f: f.__name__)
def test_a_faulty_replica_fails_over_to_a_healthy_one(
    servers: list[RunningServer], corrupt: Corrupt
) -> None:
    target, replicas = planner_over(
        servers, [FaultyServicer(toy(), corrupt), DynamicsServicer(toy())]
    )
    with PlannerClient(target) as client:
        action, stats = client.plan(torch.zeros(1, 3), timeout_s=20)
    assert action.tensor is not None and bool(torch.isfinite(action.tensor).all())
    assert stats.failovers >= 1
    assert stats.dynamics_target == replicas[1]


@pytest.mark.parametrize("corrupt", FAULTS, ids=lambda f: f.__name__)
def test_a_faulty_replica_alone_is_unavailable_without_its_text(
    servers: list[RunningServer], corrupt: Corrupt
) -> None:
    target, _ = planner_over(servers, [FaultyServicer(toy(), corrupt)])
    with PlannerClient(target) as client:
        with pytest.raises(grpc.RpcError) as info:
            client.plan(torch.zeros(1, 3), timeout_s=20)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        details = info.value.details() or ""
        assert "segfault" not in details and "127.0.0.1" not in details
        assert "192.0.2.3" not in details
        # The caller's own bad input is still INVALID_ARGUMENT with its reason.
        with pytest.raises(grpc.RpcError) as info:
            client.plan(torch.zeros(1, 4), timeout_s=20)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "shape" in (info.value.details() or "")


def test_a_replica_with_a_bad_spec_is_skipped(servers: list[RunningServer]) -> None:
    target, _ = planner_over(servers, [BadSpecServicer(toy()), DynamicsServicer(toy())])
    with PlannerClient(target) as client:
        action, stats = client.plan(torch.zeros(1, 3), timeout_s=20)
    assert action.tensor is not None and stats.failovers >= 1
    alone, _ = planner_over(servers, [BadSpecServicer(toy())])
    with PlannerClient(alone) as client, pytest.raises(grpc.RpcError) as info:
        client.plan(torch.zeros(1, 3), timeout_s=20)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_scrub_removes_addresses_of_every_form() -> None:
    text = (
        "a 127.0.0.1:50061 b 192.0.2.7 c [::1]:5 d dns:///dyn.svc:50061 "
        "e ipv4:198.51.100.1:9 f dynamics-0.dynamics:50061 g"
    )
    cleaned = scrub(text)
    for gone in ("127.0.0.1", "192.0.2.7", "::1", "dyn.svc", "198.51.100.1", "dynamics-0"):
        assert gone not in cleaned
    assert cleaned.split()[::2] == ["a", "b", "c", "d", "e", "f", "g"]
    assert scrub("obs must have shape [B, 3], got [1, 4]") == (
        "obs must have shape [B, 3], got [1, 4]"
    )
