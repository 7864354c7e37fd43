"""Planner and dynamics as real processes on loopback: plan, stream, auth, TLS, bad input,
deadlines, a small load test, failover when a replica dies, and SIGTERM drains.

One set of processes serves the whole module (two toy dynamics replicas that require a token,
and a planner with TLS and its own token over both); the tests that kill or stop processes come
last and leave what they break behind them.
"""

from __future__ import annotations

import random
import signal
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from plugin_family.toy_family import ToyConfig, ToyWorldModel

from e2e import procs
from wf_planner.client import PlannerClient
from worldflux.core import PLANNER_HORIZON_KEY, ActionKind
from worldflux.planners import InProcessDynamics, make_planner
from worldflux.rpc.channel import ClientTLS, create_channel
from worldflux.rpc.errors import RemoteError
from worldflux.rpc.remote import RemoteDynamics
from worldflux.rpc.tls_testutil import OPENSSL, self_signed_cert

DYN_TOKEN, PLAN_TOKEN = "dyn-token", "plan-token"
PLANNER_FLAGS = ["--horizon", "5", "--iterations", "4", "--samples", "128", "--elites", "16"]
IN_PROCESS_SETTINGS = {"horizon": 5, "iterations": 4, "num_samples": 128, "num_elites": 16}
PLAN_METHOD = "/worldflux.v1.PlannerService/Plan"


class Stack:
    def __init__(self, folder: Path) -> None:
        self.cert = self_signed_cert(folder)
        # Tokens travel in files (never argv, which `ps` shows).
        dyn_token, plan_token = folder / "dyn-token", folder / "plan-token"
        dyn_token.write_text(DYN_TOKEN + "\n")
        plan_token.write_text(PLAN_TOKEN)
        self.replicas = [
            procs.dynamics(*procs.toy_args("--token-file", str(dyn_token)), name=f"dynamics-{i}")
            for i in range(2)
        ]
        procs.start_all(*self.replicas)
        tls = ["--tls-cert", str(self.cert[0]), "--tls-key", str(self.cert[1])] if self.cert else []
        dyn = [f for r in self.replicas for f in ("--dynamics", r.target)]
        self.planner = procs.planner(
            *dyn,
            *PLANNER_FLAGS,
            *tls,
            "--token-file",
            str(plan_token),
            "--dynamics-token-file",
            str(dyn_token),
            "--dynamics-timeout-s",
            "20",
            "--seed",
            "0",
            "--grace-s",
            "15",
        )
        procs.start_all(self.planner)
        self.tls = ClientTLS(root_cert=self.cert[0]) if self.cert else None

    def client(self, token: str | None = PLAN_TOKEN) -> PlannerClient:
        return PlannerClient(self.planner.target, token=token, tls=self.tls)

    def stop(self) -> None:
        for service in [self.planner, *self.replicas]:
            service.stop(5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("e2e"))
    yield running
    running.stop()


def toy_in_process() -> ToyWorldModel:
    """The model the replicas serve: same family, config and weight seed (--seed 0)."""
    torch.manual_seed(0)
    return ToyWorldModel(ToyConfig(obs_shape=(3,), action_dim=1))


def test_plan_returns_action_payload_equal_to_in_process_planning(stack: Stack) -> None:
    obs = torch.tensor([[1.0, 0.0, -0.5], [0.0, 1.0, 0.25]])
    with stack.client() as client:
        action, stats = client.plan(obs)
    assert action.kind is ActionKind.CONTINUOUS
    assert action.extras[PLANNER_HORIZON_KEY] == 5
    assert action.tensor is not None and action.tensor.shape == (5, 2, 1)  # [H, B, A]
    assert stats.rollout_calls == 4 and stats.candidates == 128
    assert stats.dynamics_target in {r.target for r in stack.replicas}
    local = make_planner("auto", **IN_PROCESS_SETTINGS).plan(
        InProcessDynamics(toy_in_process()), obs, generator=torch.Generator().manual_seed(0)
    )
    assert local.action.tensor is not None
    assert torch.equal(action.tensor, local.action.tensor)  # the network changes nothing


def test_control_stream_keeps_one_warm_start_per_stream(stack: Stack) -> None:
    with stack.client() as client, client.control(60) as first, client.control(60) as second:
        a = [first.step(torch.zeros(1, 3))[1].warm_started for _ in range(3)]
        b = second.step(torch.zeros(1, 3))[1].warm_started
        a.append(first.step(torch.zeros(1, 3), reset=True)[1].warm_started)
    assert a == [False, True, True, False]
    assert b is False  # a new stream starts cold, whatever the other stream did


def test_requests_without_the_token_are_unauthenticated(stack: Stack) -> None:
    for token in (None, "not-it"):
        with stack.client(token) as client, pytest.raises(grpc.RpcError) as info:
            client.plan(torch.zeros(1, 3))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Direct calls to a dynamics replica need its own token too.
    with (
        RemoteDynamics(stack.replicas[0].target, timeout_s=10) as bare,
        pytest.raises(RemoteError) as err,
    ):
        _ = bare.spec
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_health_and_reflection_work_without_a_token(stack: Stack) -> None:
    with create_channel(stack.planner.target, tls=stack.tls) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(
            health_pb2.HealthCheckRequest(service="worldflux.v1.PlannerService"), timeout=10
        ).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    with create_channel(stack.planner.target, tls=stack.tls) as channel:
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert "worldflux.v1.PlannerService" in services


@pytest.mark.skipif(OPENSSL is None, reason="no openssl CLI to make a test certificate")
def test_planner_speaks_tls_only(stack: Stack) -> None:
    with (
        PlannerClient(stack.planner.target, token=PLAN_TOKEN) as plaintext,
        pytest.raises(grpc.RpcError) as info,
    ):
        plaintext.plan(torch.zeros(1, 3), timeout_s=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_bad_input_is_invalid_argument_and_the_planner_keeps_serving(stack: Stack) -> None:
    with stack.client() as client:
        cases = [
            (torch.zeros(1, 4), "obs must have shape [B, 3]"),
            (torch.zeros(3), "add the batch dim"),
            (torch.tensor([[float("nan"), 0.0, 0.0]]), "NaN or infinite"),
            (torch.zeros(0, 3), "empty"),
            (torch.zeros(1, 3, dtype=torch.float64), "is float64, but the model takes float32"),
        ]
        for obs, fragment in cases:
            with pytest.raises(grpc.RpcError) as info:
                client.plan(obs)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
            assert fragment in (info.value.details() or "")
        raw = client.channel.unary_unary(
            PLAN_METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        rng = random.Random(7)
        for _ in range(60):
            garbage = rng.randbytes(rng.randint(1, 120))
            try:
                raw(garbage, timeout=20, metadata=client.metadata)
            except grpc.RpcError as err:
                assert err.code() in (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                ), err.details()
        action, _ = client.plan(torch.zeros(1, 3))
        assert action.tensor is not None


def test_json_logs_record_each_call(stack: Stack) -> None:
    entries = [e for e in stack.planner.log_entries() if e.get("logger") == "worldflux.rpc.access"]
    codes = {e["code"] for e in entries if e["method"] == PLAN_METHOD}
    assert {"OK", "INVALID_ARGUMENT", "UNAUTHENTICATED"} <= codes
    assert all(isinstance(e["duration_ms"], float) for e in entries)


def test_small_load_has_zero_errors(stack: Stack) -> None:
    """CI-sized load test: 4 clients x 8 plans, bounded in time, zero errors."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client_loop(seed: int) -> None:
        obs = torch.randn(1, 3, generator=torch.Generator().manual_seed(seed))
        with stack.client() as client:
            for _ in range(8):
                start = time.perf_counter()
                try:
                    client.plan(obs, timeout_s=60)
                except BaseException as err:  # (counted, asserted below)
                    with lock:
                        errors.append(err)
                    continue
                with lock:
                    latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    workers = [threading.Thread(target=client_loop, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    elapsed = time.perf_counter() - started
    assert not errors, errors[:3]
    assert len(latencies) == 32
    p50 = statistics.median(latencies)
    p99 = sorted(latencies)[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(
        f"load: 4 clients x 8 plans in {elapsed:.2f}s, p50 {p50 * 1e3:.1f} ms, "
        f"p99 {p99 * 1e3:.1f} ms"
    )
    assert elapsed < 120


def test_caller_deadline_propagates_to_a_hung_dynamics(stack: Stack) -> None:
    """Both replicas frozen (SIGSTOP): the planner's dynamics calls would wait their own 20 s
    timeout, but the caller's 1 s deadline bounds them, so the planner is free again at once."""
    before = stack.planner.metric("wf_rpc_requests_total", method=PLAN_METHOD)
    for replica in stack.replicas:
        replica.signal(signal.SIGSTOP)
    try:
        with stack.client() as client:
            start = time.monotonic()
            with pytest.raises(grpc.RpcError) as info:
                client.plan(torch.ones(1, 3), timeout_s=1.0)
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - start < 3.0
        deadline = time.monotonic() + 5.0  # the planner's own handler ends soon after too
        while stack.planner.metric("wf_rpc_requests_total", method=PLAN_METHOD) == before:
            assert time.monotonic() < deadline, "the planner kept waiting on frozen dynamics"
            time.sleep(0.05)
        assert stack.planner.metric("wf_rpc_in_flight", method=PLAN_METHOD) == 0
    finally:
        for replica in stack.replicas:
            replica.signal(signal.SIGCONT)
    time.sleep(2.5)  # let the replicas' "down" marks expire before the next test
    with stack.client() as client:
        assert client.plan(torch.ones(1, 3), timeout_s=60)[0].tensor is not None


def test_killing_a_replica_mid_episode_fails_over(stack: Stack) -> None:
    victim, survivor = stack.replicas
    with stack.client() as client, client.control(120) as episode:
        for _ in range(3):
            episode.step(torch.zeros(1, 3))
        victim.process.kill()  # SIGKILL: no drain, connections reset
        victim.process.wait(10)
        start = time.monotonic()
        stats = [episode.step(torch.zeros(1, 3))[1] for _ in range(4)]
        elapsed = time.monotonic() - start
    assert all(s.dynamics_target == survivor.target for s in stats)
    assert sum(s.failovers for s in stats) >= 1
    assert all(s.warm_started for s in stats)  # the episode went on with its warm start
    assert elapsed < 20.0  # a dead replica costs no deadline (connection refused)


def test_sigterm_drains_the_planner_in_flight_plan_completes(stack: Stack) -> None:
    survivor = stack.replicas[1]
    survivor.signal(signal.SIGSTOP)  # hold the plan in flight
    outcome: dict[str, object] = {}

    def plan() -> None:
        try:
            with stack.client() as client:
                outcome["action"] = client.plan(torch.zeros(1, 3), timeout_s=30)[0]
        except BaseException as err:  # (asserted below)
            outcome["error"] = err

    worker = threading.Thread(target=plan)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while stack.planner.metric("wf_rpc_in_flight", method=PLAN_METHOD) < 1:
            assert time.monotonic() < deadline, "the plan never reached the planner"
            time.sleep(0.05)
        stack.planner.signal(signal.SIGTERM)
        time.sleep(0.5)
        assert stack.planner.process.poll() is None  # still draining, not dead
    finally:
        survivor.signal(signal.SIGCONT)
    worker.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert stack.planner.process.wait(20) == 0
    events = [e.get("event") for e in stack.planner.log_entries()]
    assert "draining" in events and "stopped" in events
    # The dynamics replica drains as cleanly.
    survivor.signal(signal.SIGTERM)
    assert survivor.process.wait(20) == 0
