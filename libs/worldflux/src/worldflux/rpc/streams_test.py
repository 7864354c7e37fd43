"""Idle streams must not starve unary calls: caps, own pools, non-blocking Watch, idle timeout.

Every stream here is opened over loopback and left idle on purpose; the old server (one pool of
8 workers, Watch wrapped into a blocking generator) stopped answering health Check with 8.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from worldflux.rpc.conftest import StartDynamics, target
from worldflux.rpc.remote import RemoteDynamics
from worldflux.rpc.streams import StreamLimits, peer_host

TOKEN = "t0ken"


class IdleStreams:
    """Streams opened and left idle on one channel; `close()` ends them all."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.release = threading.Event()
        self.calls: list[grpc.Future] = []

    def _idle_requests(self) -> Iterator[reflection_pb2.ServerReflectionRequest]:
        self.release.wait(30)
        return
        yield  # (a generator that sends nothing)

    def watch(self) -> grpc.RpcError | None:
        call = health_pb2_grpc.HealthStub(self.channel).Watch(
            health_pb2.HealthCheckRequest(), timeout=30
        )
        self.calls.append(call)
        return self._first_or_error(call)

    def reflection(self) -> grpc.RpcError | None:
        call = reflection_pb2_grpc.ServerReflectionStub(self.channel).ServerReflectionInfo(
            self._idle_requests(), timeout=30
        )
        self.calls.append(call)
        return self._first_or_error(call, expect_message=False)

    @staticmethod
    def _first_or_error(call: grpc.Future, expect_message: bool = True) -> grpc.RpcError | None:
        """The refusal if the stream was refused at once, else None (the stream is open)."""
        if expect_message:
            try:
                next(call)  # type: ignore[call-overload]
                return None
            except grpc.RpcError as err:
                return err
        try:
            call.result(timeout=0.5)  # a refused stream ends at once
        except grpc.FutureTimeoutError:
            return None
        except grpc.RpcError as err:
            return err
        return None

    def close(self) -> None:
        self.release.set()
        for call in self.calls:
            call.cancel()
        self.channel.close()


def check_s(port: int) -> float:
    """Seconds a health Check takes (fails if it does not answer SERVING within 2 s)."""
    start = time.perf_counter()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=2
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    return time.perf_counter() - start


def test_peer_host_drops_the_port() -> None:
    assert peer_host("ipv4:127.0.0.1:5000") == "127.0.0.1"
    assert peer_host("ipv6:[::1]:5000") == "::1"
    assert peer_host("unix:/tmp/s") == "unix:/tmp/s"


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="stream caps"):
        StreamLimits(max_streams=0)
    with pytest.raises(ValueError, match="idle_timeout_s"):
        StreamLimits(idle_timeout_s=0)


def test_sixteen_idle_watch_and_reflection_streams_leave_unary_calls_answering(
    start_dynamics: StartDynamics,
) -> None:
    limits = StreamLimits(max_streams=16, max_streams_per_peer=16)
    server = start_dynamics(token=TOKEN, streams=limits, max_workers=8)
    streams = IdleStreams(server.port)
    try:
        for _ in range(8):
            assert streams.watch() is None
        # Watch kept grpc-health's non-blocking flag through every interceptor: open Watch
        # streams hold no thread (a wrapped, blocking Watch would run on the stream pool).
        assert not [t for t in threading.enumerate() if t.name.startswith("dynamics-stream")]
        for _ in range(8):
            assert streams.reflection() is None
        assert server.guard is not None and server.guard.open_streams == 16
        assert check_s(server.port) < 1.0
        with RemoteDynamics(target(server), token=TOKEN, timeout_s=2) as remote:
            assert remote.encode(torch.zeros(1, 3))["z"].shape == (1, 16)
        # The 17th stream, one over the cap, is refused at once and names the limit.
        refused = streams.reflection()
        assert refused is not None and refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "16" in (refused.details() or "")
        refused = streams.watch()
        assert refused is not None and refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        streams.close()
    # Closed streams give their places back.
    deadline = time.monotonic() + 5
    while server.guard.open_streams and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.guard.open_streams == 0
    assert check_s(server.port) < 1.0


def test_per_client_cap_is_exact(start_dynamics: StartDynamics) -> None:
    server = start_dynamics(streams=StreamLimits(max_streams=16, max_streams_per_peer=3))
    streams = IdleStreams(server.port)
    try:
        assert [streams.watch() for _ in range(3)] == [None, None, None]
        refused = streams.watch()
        assert refused is not None and refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "per client is 3" in (refused.details() or "")
        assert check_s(server.port) < 1.0
    finally:
        streams.close()


def test_health_check_answers_while_every_worker_is_busy(start_dynamics: StartDynamics) -> None:
    from worldflux.rpc.conftest import SlowServicer, toy_model

    slow = SlowServicer(toy_model(), delay_s=10.0)
    server = start_dynamics(servicer=slow, max_workers=2)
    remote = RemoteDynamics(target(server), timeout_s=10)
    state = remote.encode(torch.zeros(1, 3))
    workers = [
        threading.Thread(target=remote.rollout, args=(state, torch.zeros(2, 2, 2)))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.3)  # both workers now wait inside Rollout
    try:
        assert check_s(server.port) < 1.0
    finally:
        slow.release.set()
        for worker in workers:
            worker.join(10)
        remote.close()


def test_idle_stream_is_cancelled_after_the_idle_timeout(start_dynamics: StartDynamics) -> None:
    server = start_dynamics(streams=StreamLimits(idle_timeout_s=1.0))
    streams = IdleStreams(server.port)
    try:
        start = time.monotonic()
        assert streams.reflection() is None  # still open after 0.5 s
        with pytest.raises(grpc.RpcError) as info:
            streams.calls[-1].result(timeout=5)
        assert info.value.code() == grpc.StatusCode.CANCELLED
        assert 0.9 < time.monotonic() - start < 3.0
        assert server.guard is not None
        deadline = time.monotonic() + 2
        while server.guard.open_streams and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.guard.open_streams == 0
        # A stream that keeps talking is not idle.
        with grpc.insecure_channel(target(server)) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)

            def chatty() -> Iterator[reflection_pb2.ServerReflectionRequest]:
                for _ in range(6):  # 2.4 s in all, each gap well under the 1 s timeout
                    yield reflection_pb2.ServerReflectionRequest(list_services="")
                    time.sleep(0.4)

            replies = list(stub.ServerReflectionInfo(chatty(), timeout=10))
        assert len(replies) == 6
    finally:
        streams.close()


def half_open(channel: grpc.Channel, method: str, release: threading.Event) -> grpc.Future:
    """A unary call whose headers are sent but whose request message never is."""

    def nothing() -> Iterator[bytes]:
        release.wait(30)
        return
        yield b""

    call: Any = channel.stream_unary(method)  # bytes in, bytes out
    return call.future(nothing(), timeout=30)  # type: ignore[no-any-return]


def test_unary_calls_without_their_message_cannot_hold_every_worker(
    start_dynamics: StartDynamics,
) -> None:
    """12 half-open GetSpec and 6 half-open health Checks (more than both pools' threads): the
    server still answers at once, and each half-open call is cancelled after its time."""
    limits = StreamLimits(first_message_s=1.5, over_share_s=0.3)
    server = start_dynamics(streams=limits, max_workers=8)
    release = threading.Event()
    channel = grpc.insecure_channel(target(server))
    try:
        start = time.monotonic()
        method = "/worldflux.v1.DynamicsService/GetSpec"
        calls = [half_open(channel, method, release) for _ in range(12)]
        calls += [half_open(channel, "/grpc.health.v1.Health/Check", release) for _ in range(6)]
        ended: list[float] = []
        for call in calls:
            call.add_done_callback(lambda _: ended.append(time.monotonic() - start))
        time.sleep(0.2)
        assert check_s(server.port) < 1.0
        with RemoteDynamics(target(server), timeout_s=2) as remote:
            assert remote.spec.family == "toy"
        # Within the share (4 of 8 workers, 2 of 4 health threads) a call waits first_message_s,
        # beyond it over_share_s; then it is cancelled, never left hanging.
        for call in calls:
            with pytest.raises(grpc.RpcError) as info:
                call.result(timeout=5)
            assert info.value.code() == grpc.StatusCode.CANCELLED
        assert len(ended) == 18 and max(ended) < 1.5 + 1.0
        # 4 + 2 within the share waited about 1.5 s; the other 12 were let go early.
        assert sum(1 for t in ended if t < 1.4) == 12, sorted(ended)
    finally:
        release.set()
        channel.close()
    # A unary call that half-closes without a message is the caller's error.
    with grpc.insecure_channel(target(server)) as channel:
        with pytest.raises(grpc.RpcError) as info:
            channel.stream_unary("/worldflux.v1.DynamicsService/GetSpec")(iter(()), timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "needs one request message" in (info.value.details() or "")


def test_intake_share_is_exact() -> None:
    from worldflux.rpc.streams import Intake

    intake = Intake(2)
    assert [intake.enter() for _ in range(3)] == [True, True, False]
    intake.leave()
    intake.leave()
    assert intake.enter() is True
    with pytest.raises(ValueError, match="first_message_s must be positive"):
        StreamLimits(first_message_s=0)
