"""Streams that cannot starve unary calls: own thread pools, caps, idle timeouts.

gRPC's sync server runs every call on one worker pool. A stream that waits for its client
(health Watch, reflection, the planner's Control) holds a worker for as long as it is open, so
a handful of idle streams, which need no token, used to stop even health Check. `StreamGuard`
is the outermost server interceptor and gives each kind of call its own room:

- streaming calls run on a separate bounded pool (gRPC's `experimental_thread_pool` hook), and
  are capped in total and per client host: beyond the cap a new stream is refused at once with
  RESOURCE_EXHAUSTED, before it takes a thread;
- grpc-health's non-blocking Watch keeps its non-blocking flag (it holds no thread at all) and
  still counts against the caps, because each open Watch counts for gRPC's concurrency limit;
- health Check runs on a tiny pool of its own, so probes answer while every worker is busy;
- a client-streaming call with no message in either direction for `idle_timeout_s` is
  cancelled (one reaper thread per server, not a timer per stream);
- a unary call whose request message does not come (headers sent, body never) would hold a
  worker while gRPC waits for it. Every unary-request handler is therefore served as a
  client-streaming one that reads its single message itself: at most half of a pool's threads
  wait for messages at once (`Intake`), each for at most `first_message_s`, and a call over that
  share gets only `over_share_s` before it is cancelled. A message that arrives with its headers,
  as every normal client's does, is not delayed at all.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc

from worldflux.rpc.interceptors import replace_behavior

HEALTH_CHECK = "/grpc.health.v1.Health/Check"


@dataclass(frozen=True)
class StreamLimits:
    """How many streams a server holds open, and how long one may sit idle."""

    max_streams: int = 16
    max_streams_per_peer: int = 8
    idle_timeout_s: float = 60.0
    health_workers: int = 4
    # How long a unary call may take to send its request message (see the module docstring).
    first_message_s: float = 5.0
    over_share_s: float = 0.1

    def __post_init__(self) -> None:
        if self.max_streams < 1 or self.max_streams_per_peer < 1:
            raise ValueError(
                f"stream caps must be >= 1, got max_streams={self.max_streams}, "
                f"max_streams_per_peer={self.max_streams_per_peer}"
            )
        for name in ("idle_timeout_s", "first_message_s", "over_share_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.health_workers < 2:
            raise ValueError(f"health_workers must be >= 2, got {self.health_workers}")


def peer_host(peer: str) -> str:
    """The client's address without its port ("ipv4:127.0.0.1:5000" -> "127.0.0.1"): one
    client host may open many connections, each with its own port."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6") and rest:
        host = rest.rsplit(":", 1)[0]
        return host.strip("[]")
    return peer


def _is_non_blocking(behavior: Callable[..., Any]) -> bool:
    return bool(getattr(behavior, "experimental_non_blocking", False))


def _behavior(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    for attr in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        behavior = getattr(handler, attr)
        if behavior is not None:
            return behavior  # type: ignore[no-any-return]
    raise ValueError("a method handler without a behavior")


class _IdleReaper:
    """Cancels registered calls that saw no message for their timeout."""

    def __init__(self, idle_timeout_s: float) -> None:
        self.idle_timeout_s = idle_timeout_s
        self._last: dict[int, tuple[grpc.ServicerContext, float, float, str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def touch(
        self,
        key: int,
        context: grpc.ServicerContext,
        timeout_s: float | None = None,
        reason: str = "stream idle",
    ) -> None:
        """(Re)start the call's clock: cancelled after `timeout_s` (the idle timeout by default)
        unless touched again."""
        timeout = self.idle_timeout_s if timeout_s is None else timeout_s
        with self._lock:
            self._last[key] = (context, time.monotonic(), timeout, reason)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wf-stream-reaper", daemon=True
                )
                self._thread.start()

    def forget(self, key: int) -> None:
        with self._lock:
            self._last.pop(key, None)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            now = time.monotonic()
            with self._lock:
                due = [
                    (key, ctx, timeout, reason)
                    for key, (ctx, seen, timeout, reason) in self._last.items()
                    if now - seen > timeout
                ]
                for key, *_ in due:
                    del self._last[key]
            for _, context, timeout, reason in due:
                # set_details is what the log shows; the client sees CANCELLED.
                context.set_details(f"{reason} for more than {timeout:g}s")
                context.cancel()

    def close(self) -> None:
        self._stop.set()


class Intake:
    """Unary calls waiting for their request message in one pool: at most `share` at once get
    the full `first_message_s`; the others only `over_share_s` (a normal client's message is
    already there, so only a slow or malicious one waits at all)."""

    def __init__(self, share: int) -> None:
        self.share = max(1, share)
        self.waiting = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        """Count one more waiting call; True when it is within the share."""
        with self._lock:
            self.waiting += 1
            return self.waiting <= self.share

    def leave(self) -> None:
        with self._lock:
            self.waiting -= 1


class StreamGuard(grpc.ServerInterceptor):
    """Outermost interceptor: pools, caps and idle timeouts for streams (module docstring)."""

    def __init__(self, limits: StreamLimits, name: str = "wf", workers: int = 8) -> None:
        self.limits = limits
        # Half of each pool at most waits for slow request messages.
        self.intake = Intake(workers // 2)
        self.health_intake = Intake(limits.health_workers // 2)
        self.stream_pool = futures.ThreadPoolExecutor(
            max_workers=limits.max_streams, thread_name_prefix=f"{name}-stream"
        )
        self.health_pool = futures.ThreadPoolExecutor(
            max_workers=limits.health_workers, thread_name_prefix=f"{name}-health"
        )
        self._reaper = _IdleReaper(limits.idle_timeout_s)
        self._lock = threading.Lock()
        self._open = 0
        self._per_peer: Counter[str] = Counter()

    # -- bookkeeping --------------------------------------------------------------------------
    @property
    def open_streams(self) -> int:
        with self._lock:
            return self._open

    def _acquire(self, context: grpc.ServicerContext) -> None:
        host = peer_host(context.peer())
        with self._lock:
            if self._open >= self.limits.max_streams:
                refusal = (
                    f"{self._open} streams are open, this server's limit is "
                    f"{self.limits.max_streams}: close one or retry later"
                )
            elif self._per_peer[host] >= self.limits.max_streams_per_peer:
                refusal = (
                    f"this client already holds {self._per_peer[host]} streams, the limit "
                    f"per client is {self.limits.max_streams_per_peer}"
                )
            else:
                self._open += 1
                self._per_peer[host] += 1
                refusal = ""
        if refusal:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, refusal)
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            with self._lock:
                self._open -= 1
                self._per_peer[host] -= 1
                if not self._per_peer[host]:
                    del self._per_peer[host]

        # Runs when the call ends however it ends (done, cancelled, aborted, server stop).
        if not context.add_callback(release):
            release()

    def close(self) -> None:
        """Stop the reaper and let the pools' threads go (they are not joined)."""
        self._reaper.close()
        self.stream_pool.shutdown(wait=False, cancel_futures=True)
        self.health_pool.shutdown(wait=False, cancel_futures=True)

    # -- wrappers -----------------------------------------------------------------------------
    def _refuse(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        limit = self.limits.max_streams

        def refuse(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"this server's {limit} streams are all open: close one or retry later",
            )

        return replace_behavior(handler, refuse)  # a quick refusal: runs on the default pool

    def _non_blocking(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        behavior = _behavior(handler)

        def run(request: Any, context: grpc.ServicerContext, *callback: Any, **kwargs: Any) -> Any:
            # gRPC passes the send-response callback positionally or by keyword by version.
            self._acquire(context)
            return behavior(request, context, *callback, **kwargs)

        run.experimental_non_blocking = True  # type: ignore[attr-defined]
        run.experimental_thread_pool = getattr(  # type: ignore[attr-defined]
            behavior, "experimental_thread_pool", None
        )
        return replace_behavior(handler, run)

    def _blocking(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        behavior = _behavior(handler)
        reaper = self._reaper

        def run(request: Any, context: grpc.ServicerContext) -> Any:
            self._acquire(context)
            key = id(context)
            if not handler.request_streaming:
                return behavior(request, context)
            reaper.touch(key, context)
            context.add_callback(lambda: reaper.forget(key))

            def requests() -> Iterator[Any]:
                try:
                    for message in request:
                        reaper.touch(key, context)
                        yield message
                finally:
                    reaper.forget(key)

            result = behavior(requests(), context)
            if not handler.response_streaming:
                reaper.forget(key)
                return result
            return _touching(result, reaper, key, context)

        run.experimental_thread_pool = self.stream_pool  # type: ignore[attr-defined]
        return replace_behavior(handler, run)

    def _health_check(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        behavior = _behavior(handler)

        def run(request: Any, context: grpc.ServicerContext) -> Any:
            return behavior(request, context)

        run.experimental_thread_pool = self.health_pool  # type: ignore[attr-defined]
        return replace_behavior(handler, run)

    def _read_request(
        self, requests: Iterator[Any], context: grpc.ServicerContext, intake: Intake
    ) -> Any:
        """The single request message of a unary call, waited for within the intake's terms."""
        key = id(context)
        within = intake.enter()
        timeout = self.limits.first_message_s if within else self.limits.over_share_s
        self._reaper.touch(key, context, timeout, "no request message")
        try:
            # Raises gRPC's own RpcError when the call is cancelled while waiting (by the reaper
            # or the client); gRPC knows it and ends the call quietly.
            message = next(requests, None)
        finally:
            self._reaper.forget(key)
            intake.leave()
        if message is None:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "a unary call needs one request message"
            )
        return message

    def _unary_as_stream(
        self, handler: grpc.RpcMethodHandler, intake: Intake
    ) -> grpc.RpcMethodHandler:
        """`handler` (unary request) served as a client-streaming handler that reads its one
        message itself, so that waiting for it is bounded (module docstring)."""
        behavior = _behavior(handler)
        deserialize = handler.request_deserializer
        read = self._read_request

        def parse(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            raw = read(requests, context, intake)
            return deserialize(raw) if deserialize is not None else raw

        if _is_non_blocking(behavior):

            def run_non_blocking(
                requests: Iterator[Any], context: grpc.ServicerContext, *rest: Any, **kw: Any
            ) -> Any:
                return behavior(parse(requests, context), context, *rest, **kw)

            run_non_blocking.experimental_non_blocking = True  # type: ignore[attr-defined]
            pool = getattr(behavior, "experimental_thread_pool", None)
            run_non_blocking.experimental_thread_pool = pool  # type: ignore[attr-defined]
            body: Callable[..., Any] = run_non_blocking
        else:

            def run(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                return behavior(parse(requests, context), context)

            run.experimental_thread_pool = getattr(  # type: ignore[attr-defined]
                behavior, "experimental_thread_pool", None
            )
            body = run
        make = (
            grpc.stream_stream_rpc_method_handler
            if handler.response_streaming
            else grpc.stream_unary_rpc_method_handler
        )
        return make(
            body, request_deserializer=None, response_serializer=handler.response_serializer
        )

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = self._guard(continuation(handler_call_details), handler_call_details.method)
        if handler is None or handler.request_streaming:
            return handler
        health = handler_call_details.method == HEALTH_CHECK
        return self._unary_as_stream(handler, self.health_intake if health else self.intake)

    def _guard(
        self, handler: grpc.RpcMethodHandler | None, method: str
    ) -> grpc.RpcMethodHandler | None:
        """Pools and caps by kind of call (module docstring)."""
        if handler is None:
            return None
        if method == HEALTH_CHECK:
            return self._health_check(handler)
        if not (handler.request_streaming or handler.response_streaming):
            return handler
        if self.open_streams >= self.limits.max_streams:
            return self._refuse(handler)
        if _is_non_blocking(_behavior(handler)):
            return self._non_blocking(handler)
        return self._blocking(handler)


def _touching(
    responses: Iterator[Any], reaper: _IdleReaper, key: int, context: grpc.ServicerContext
) -> Iterator[Any]:
    """The responses, marking the stream active on each one (a long answer is not idleness)."""
    try:
        for response in responses:
            reaper.touch(key, context)
            yield response
    finally:
        reaper.forget(key)
