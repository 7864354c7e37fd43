"""Attacks on wf-dynamics and wf-planner as real processes, from a client on loopback.

Each attack is bounded in count and time and uses 127.0.0.1 only. After each one the planner
must answer a valid Plan within its normal latency (measured at the start); the dynamics
process's peak RSS must stay under RSS_BOUND_MB. The table attack | status | recovery time |
peak RSS is printed at the end of the module (run with -s to see it) and written to the file
named by WF_ATTACK_REPORT when that is set.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2_grpc

from e2e import procs
from wf_planner.client import PlannerClient
from worldflux.core import ActionPayload
from worldflux.core.spec import ActionKind
from worldflux.rpc.channel import bearer_metadata
from worldflux.rpc.codec import encode_tensor
from worldflux.rpc.convert import (
    action_payload_to_proto,
    latent_state_from_proto,
    latent_state_to_proto,
)
from worldflux.v1 import dynamics_pb2, dynamics_pb2_grpc, planner_pb2, planner_pb2_grpc

DYN_TOKEN, PLAN_TOKEN = "attack-dyn-token", "attack-plan-token"
PLANNER_FLAGS = ["--horizon", "3", "--iterations", "2", "--samples", "32", "--elites", "4"]
# Large rollouts run in small chunks here so that a 65536 x 32 rollout takes seconds: long
# enough for a deadline or a SIGTERM to land in the middle of it.
CHUNK_MB = "0.5"
# The toy dynamics process imports torch (~300 MB); no attack may push it far beyond that.
RSS_BOUND_MB = 1200.0
STREAM_IDLE_S = 3.0
REPORT: list[dict[str, object]] = []


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set size so far (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


class Stack:
    """One toy dynamics replica and one planner over it, both with token files."""

    def __init__(self, folder: Path) -> None:
        self.dyn_token_file = folder / "dyn-token"
        self.dyn_token_file.write_text(DYN_TOKEN)
        plan_token = folder / "plan-token"
        plan_token.write_text(PLAN_TOKEN)
        self.dynamics = procs.dynamics(
            *procs.toy_args("--token-file", str(self.dyn_token_file), "--chunk-mb", CHUNK_MB),
            name="attack-dynamics",
        )
        procs.start_all(self.dynamics)
        self.planner = procs.planner(
            "--dynamics",
            self.dynamics.target,
            *PLANNER_FLAGS,
            "--token-file",
            str(plan_token),
            "--dynamics-token-file",
            str(self.dyn_token_file),
            "--stream-idle-s",
            str(STREAM_IDLE_S),
            name="attack-planner",
        )
        procs.start_all(self.planner)
        self.baseline_s = statistics.median(self.plan_s() for _ in range(5))

    def plan_s(self) -> float:
        with PlannerClient(self.planner.target, token=PLAN_TOKEN) as client:
            start = time.perf_counter()
            action, _ = client.plan(torch.zeros(1, 3), timeout_s=10)
            assert action.tensor is not None
            return time.perf_counter() - start

    def recovery_s(self, within_s: float = 10.0) -> float:
        """Seconds until a valid Plan answers again, and that Plan within normal latency."""
        start = time.monotonic()
        while True:
            try:
                latency = self.plan_s()
                break
            except grpc.RpcError:
                assert time.monotonic() - start < within_s, "the planner did not recover"
                time.sleep(0.05)
        assert latency < max(1.0, 5 * self.baseline_s), (latency, self.baseline_s)
        return time.monotonic() - start

    def record(self, attack: str, status: str) -> None:
        recovery = self.recovery_s()
        rss = peak_rss_mb(self.dynamics.process.pid)
        REPORT.append(
            {
                "attack": attack,
                "status": status,
                "recovery_s": round(recovery, 3),
                "dynamics_peak_rss_mb": round(rss, 1),
                "planner_peak_rss_mb": round(peak_rss_mb(self.planner.process.pid), 1),
            }
        )
        assert rss < RSS_BOUND_MB, f"dynamics peak RSS {rss:.0f} MB after {attack}"

    def dynamics_stub(self) -> tuple[grpc.Channel, dynamics_pb2_grpc.DynamicsServiceStub]:
        channel = grpc.insecure_channel(
            self.dynamics.target,
            options=[("grpc.max_receive_message_length", 256 << 20)],
        )
        return channel, dynamics_pb2_grpc.DynamicsServiceStub(channel)

    def stop(self) -> None:
        for service in (self.planner, self.dynamics):
            service.stop(10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("attack"))
    yield running
    running.stop()
    lines = ["attack | status | recovery time (s) | dynamics peak RSS (MB) | planner peak RSS"]
    lines += [
        f"{r['attack']} | {r['status']} | {r['recovery_s']} | {r['dynamics_peak_rss_mb']} | "
        f"{r['planner_peak_rss_mb']}"
        for r in REPORT
    ]
    print("\n" + "\n".join(lines))
    if os.environ.get("WF_ATTACK_REPORT"):
        Path(os.environ["WF_ATTACK_REPORT"]).write_text(json.dumps(REPORT, indent=1))


# -- helpers ------------------------------------------------------------------------------------
def idle_requests(release: threading.Event) -> Iterator[object]:
    release.wait(30)
    return
    yield


def open_streams(
    count: int, opener: Callable[[], grpc.Future]
) -> tuple[list[grpc.Future], list[grpc.RpcError]]:
    """Open `count` streams; those refused at once come back as errors."""
    calls, refused = [], []
    for _ in range(count):
        call = opener()
        try:
            call.result(timeout=0.3)  # a refused stream ends at once
        except grpc.FutureTimeoutError:
            calls.append(call)
            continue
        except grpc.RpcError as err:
            refused.append(err)
    return calls, refused


def health_check_s(target: str) -> float:
    start = time.perf_counter()
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=2
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    return time.perf_counter() - start


def rollout_request(
    stack: Stack, n: int, h: int, omit: bool
) -> tuple[dynamics_pb2.RolloutRequest, tuple[tuple[str, str], ...]]:
    metadata = bearer_metadata(DYN_TOKEN)
    channel, stub = stack.dynamics_stub()
    with channel:
        encoded = stub.Encode(
            dynamics_pb2.EncodeRequest(observation=encode_tensor(torch.zeros(1, 3))),
            timeout=10,
            metadata=metadata,
        )
    state = latent_state_from_proto(encoded.state)
    actions = torch.zeros(n, h, 1)
    request = dynamics_pb2.RolloutRequest(
        state=latent_state_to_proto(state),
        actions=action_payload_to_proto(ActionPayload(kind=ActionKind.CONTINUOUS, tensor=actions)),
        omit_latents=omit,
    )
    return request, metadata


# -- 1. streams cannot starve unary calls -------------------------------------------------------
@pytest.mark.parametrize("kind", ["health-watch", "reflection"])
def test_stream_floods_without_a_token_leave_plan_and_health_answering(
    stack: Stack, kind: str
) -> None:
    release = threading.Event()
    channel = grpc.insecure_channel(stack.planner.target)
    if kind == "health-watch":
        stub = health_pb2_grpc.HealthStub(channel)

        def opener() -> grpc.Future:
            return stub.Watch(health_pb2.HealthCheckRequest(), timeout=30)  # type: ignore[no-any-return]

    else:
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)

        def opener() -> grpc.Future:
            return refl.ServerReflectionInfo(idle_requests(release), timeout=30)  # type: ignore[no-any-return]

    try:
        calls, refused = open_streams(16, opener)
        assert len(calls) == 8  # the per-client cap (default 8)
        assert len(refused) == 8
        assert all(e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for e in refused)
        assert health_check_s(stack.planner.target) < 1.0
        stack.plan_s()  # answers while the 8 streams stay open
    finally:
        release.set()
        for call in calls:
            call.cancel()
        channel.close()
    stack.record(f"16 idle {kind} streams, no token", "8 open, 8 RESOURCE_EXHAUSTED")


def test_idle_control_streams_are_capped_and_timed_out(stack: Stack) -> None:
    release = threading.Event()
    channel = grpc.insecure_channel(stack.planner.target)
    stub = planner_pb2_grpc.PlannerServiceStub(channel)
    metadata = bearer_metadata(PLAN_TOKEN)

    def opener() -> grpc.Future:
        return stub.Control(idle_requests(release), timeout=30, metadata=metadata)  # type: ignore[return-value, arg-type]

    try:
        start = time.monotonic()
        calls, refused = open_streams(10, opener)
        assert len(calls) == 8 and len(refused) == 2
        assert health_check_s(stack.planner.target) < 1.0
        stack.plan_s()
        # The idle timeout ends them (CANCELLED) without the client doing anything.
        for call in calls:
            with pytest.raises(grpc.RpcError) as info:
                call.result(timeout=STREAM_IDLE_S + 5)
            assert info.value.code() == grpc.StatusCode.CANCELLED
        assert time.monotonic() - start < STREAM_IDLE_S + 5
    finally:
        release.set()
        channel.close()
    stack.record("10 idle Control streams with a token", "8 open then CANCELLED at idle, 2 refused")


def test_unary_calls_that_never_send_their_message_cannot_starve_the_planner(
    stack: Stack,
) -> None:
    release = threading.Event()

    def nothing() -> Iterator[bytes]:
        release.wait(30)
        return
        yield b""

    channel = grpc.insecure_channel(stack.planner.target)
    methods = ["/worldflux.v1.PlannerService/Plan"] * 24 + ["/grpc.health.v1.Health/Check"] * 8
    raw: list[Any] = [channel.stream_unary(m) for m in methods]  # bytes in, bytes out
    calls: list[grpc.Future] = [call.future(nothing(), timeout=30) for call in raw]
    try:
        time.sleep(0.3)
        # Calls over the waiting share are let go after 0.1 s each, but they are queued ahead
        # of this check on the 4 health threads: it waits for them (measured, bounded).
        check = health_check_s(stack.planner.target)
        assert check < 2.0
        stack.plan_s()
        for call in calls:  # each is cancelled after its time, none left hanging
            with pytest.raises(grpc.RpcError) as info:
                call.result(timeout=10)
            assert info.value.code() == grpc.StatusCode.CANCELLED
    finally:
        release.set()
        channel.close()
    stack.record(
        "32 unary calls that never send their message",
        f"health Check answered in {check:.2f} s; all CANCELLED within 5 s",
    )


# -- 2/5. admission and deadlines ---------------------------------------------------------------
def test_huge_rollout_is_refused_before_work(stack: Stack) -> None:
    request, metadata = rollout_request(stack, 65536, 32, omit=False)
    channel, stub = stack.dynamics_stub()
    with channel:
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.Rollout(request, timeout=30, metadata=metadata)
        elapsed = time.monotonic() - start
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "message limit" in (info.value.details() or "")
    assert elapsed < 2.0
    stack.record("Rollout N=65536 H=32 with latents", "RESOURCE_EXHAUSTED before work")


def test_deadline_stops_a_long_rollout_and_frees_the_model(stack: Stack) -> None:
    request, metadata = rollout_request(stack, 65536, 32, omit=True)
    channel, stub = stack.dynamics_stub()
    with channel:
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.Rollout(request, timeout=1.0, metadata=metadata)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        encode = dynamics_pb2.EncodeRequest(observation=encode_tensor(torch.zeros(1, 3)))
        stub.Encode(encode, timeout=5, metadata=metadata)
        assert time.monotonic() - start < 2.5  # the model was not held past the deadline
    stack.record("Rollout N=65536 H=32 omitted latents, 1 s deadline", "DEADLINE_EXCEEDED")


def test_a_queue_flood_is_refused_fast(stack: Stack) -> None:
    request, metadata = rollout_request(stack, 8192, 32, omit=True)
    channel, stub = stack.dynamics_stub()
    with channel:
        futures = [stub.Rollout.future(request, timeout=20, metadata=metadata) for _ in range(12)]
        codes = []
        for future in futures:
            try:
                future.result()
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as err:
                codes.append(err.code())
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    ok = codes.count(grpc.StatusCode.OK)
    stack.record("12 concurrent 8192x32 Rollouts", f"{ok} OK, {len(codes) - ok} RESOURCE_EXHAUSTED")


# -- 7. malformed input -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape", [[0, 1 << 62], [1] * 200], ids=["zero-elements-huge-dim", "200-dims"]
)
def test_pathological_shapes_are_invalid_argument(stack: Stack, shape: list[int]) -> None:
    channel, stub = stack.dynamics_stub()
    tensor = encode_tensor(torch.zeros(1, 3))
    del tensor.shape[:]
    tensor.shape.extend(shape)
    tensor.data = b""
    with channel, pytest.raises(grpc.RpcError) as info:
        stub.Encode(
            dynamics_pb2.EncodeRequest(observation=tensor),
            timeout=5,
            metadata=bearer_metadata(DYN_TOKEN),
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    stack.record(f"Encode shape {shape[:3]}{'...' if len(shape) > 3 else ''}", "INVALID_ARGUMENT")


def test_nan_in_condition_extras_is_invalid_argument(stack: Stack) -> None:
    request = planner_pb2.PlanRequest(observation=encode_tensor(torch.zeros(1, 3)))
    request.condition.extras["wf.task.weight"].number = float("nan")
    with (
        grpc.insecure_channel(stack.planner.target) as channel,
        pytest.raises(grpc.RpcError) as info,
    ):
        planner_pb2_grpc.PlannerServiceStub(channel).Plan(
            request, timeout=10, metadata=bearer_metadata(PLAN_TOKEN)
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "must be finite" in (info.value.details() or "")
    stack.record("Plan with NaN in condition.extras", "INVALID_ARGUMENT")


def test_wrong_token_is_unauthenticated(stack: Stack) -> None:
    with (
        PlannerClient(stack.planner.target, token="wrong") as client,
        pytest.raises(grpc.RpcError) as info,
    ):
        client.plan(torch.zeros(1, 3), timeout_s=5)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    stack.record("Plan with a wrong token", "UNAUTHENTICATED")


# -- 4. auth fails closed -----------------------------------------------------------------------
def test_servers_refuse_to_start_without_a_usable_token(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    cases = [
        (["--token-file", str(empty)], "is empty; refusing to start without auth"),
        (["--token-file", str(tmp_path / "missing")], "cannot read --token-file"),
        (["--token", "on-argv"], "visible to every user in `ps`"),
        (["--host", "0.0.0.0"], "without a token would let anyone on the network in"),
    ]
    services = [procs.dynamics(*procs.toy_args(*args), name="refused") for args, _ in cases]
    for service, (_, message) in zip(services, cases, strict=True):
        with pytest.raises(RuntimeError, match="exited with") as info:
            service.wait_ready(120)
        assert message in str(info.value)
        assert service.process.wait(5) != 0
        service.stop(1)


# -- 3. bounded SIGTERM drain -------------------------------------------------------------------
def _sigterm_during_rollout(folder: Path, grace_s: float, n: int) -> tuple[object, float, int, str]:
    """Start a replica, send a long rollout, SIGTERM it mid-call: (outcome, exit s, code,
    its log)."""
    token = folder / "token"
    token.write_text(DYN_TOKEN)
    replica = procs.dynamics(
        *procs.toy_args("--token-file", str(token), "--chunk-mb", CHUNK_MB),
        "--grace-s",
        str(grace_s),
        name=f"sigterm-{grace_s}",
    )
    procs.start_all(replica)
    try:
        channel = grpc.insecure_channel(replica.target)
        stub = dynamics_pb2_grpc.DynamicsServiceStub(channel)
        metadata = bearer_metadata(DYN_TOKEN)
        encoded = stub.Encode(
            dynamics_pb2.EncodeRequest(observation=encode_tensor(torch.zeros(1, 3))),
            timeout=10,
            metadata=metadata,
        )
        request = dynamics_pb2.RolloutRequest(
            state=encoded.state,
            actions=action_payload_to_proto(
                ActionPayload(kind=ActionKind.CONTINUOUS, tensor=torch.zeros(n, 32, 1))
            ),
            omit_latents=True,
        )
        future = stub.Rollout.future(request, timeout=60, metadata=metadata)
        deadline = time.monotonic() + 20
        method = "/worldflux.v1.DynamicsService/Rollout"
        while replica.metric("wf_rpc_in_flight", method=method) < 1:
            assert time.monotonic() < deadline, "the rollout never started"
            time.sleep(0.02)
        start = time.monotonic()
        replica.signal(signal.SIGTERM)
        code = replica.process.wait(grace_s + 5)
        exit_s = time.monotonic() - start
        try:
            outcome: object = future.result(timeout=5)
        except grpc.RpcError as err:
            outcome = err.code()
        channel.close()
        return outcome, exit_s, code, replica.logs(4000)
    finally:
        replica.stop(1)


def test_sigterm_finishes_a_short_call_in_flight(tmp_path: Path) -> None:
    outcome, exit_s, code, logs = _sigterm_during_rollout(tmp_path, grace_s=10.0, n=2048)
    assert isinstance(outcome, dynamics_pb2.RolloutResponse), outcome
    assert list(outcome.rewards.shape) == [2048, 32]
    assert code == 0 and exit_s < 10.0, logs
    print(f"\nSIGTERM mid 2048x32 rollout, grace 10 s: finished, exit {code}, {exit_s:.2f} s")


def test_sigterm_cancels_a_long_call_and_exits_within_the_grace(tmp_path: Path) -> None:
    outcome, exit_s, code, logs = _sigterm_during_rollout(tmp_path, grace_s=2.0, n=65536)
    assert outcome in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE), outcome
    assert exit_s < 2.0 + 0.5, f"exited after {exit_s:.2f}s (code {code}):\n{logs}"
    assert code in (0, 1), logs
    print(f"\nSIGTERM mid 65536x32 rollout, grace 2 s: {outcome}, exit {code}, {exit_s:.2f} s")
