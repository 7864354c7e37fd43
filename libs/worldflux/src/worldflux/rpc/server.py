"""Server assembly shared by the dynamics and planner services.

`start_server` builds a gRPC server with health checking, reflection, auth/log/metric
interceptors, message limits and optional TLS, bound to 127.0.0.1 unless told otherwise.
Requests are parsed here rather than by gRPC: gRPC answers an unparsable message with a bare
INTERNAL, but a truncated or corrupt message is the caller's fault, so it gets INVALID_ARGUMENT
naming the message type. `serve_until_signal` drains gracefully on SIGTERM.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from worldflux.rpc.channel import DEFAULT_MAX_MESSAGE_MB, ServerTLS, message_size_options
from worldflux.rpc.errors import BUSY_KEY, ServerBusyError, status_for
from worldflux.rpc.health import HealthServicer
from worldflux.rpc.interceptors import (
    AccessLogInterceptor,
    BearerTokenInterceptor,
    MetricsInterceptor,
    context_code,
)
from worldflux.rpc.metrics import ServiceMetrics
from worldflux.rpc.streams import StreamGuard, StreamLimits

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
# How long a drain waits for open health Watch streams to hear NOT_SERVING (see drain).
HEALTH_DRAIN_WAIT_S = 1.0


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    tls: ServerTLS | None = None
    # None: no metrics endpoint; 0: any free port. Its own listener and address, so that
    # binding gRPC to all interfaces does not expose /metrics too.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    max_message_mb: float = DEFAULT_MAX_MESSAGE_MB
    max_workers: int = 8
    # Calls beyond this are refused with RESOURCE_EXHAUSTED instead of queueing without bound.
    max_concurrent_rpcs: int | None = 64
    # Seconds in-flight calls get to finish after SIGTERM.
    grace_s: float = 10.0
    # Streams (health Watch, reflection, Control) get their own pool and caps: see streams.py.
    streams: StreamLimits = field(default_factory=StreamLimits)
    # Connections are closed (gracefully) after this long, so that clients resolving a DNS
    # name see new replicas; None keeps them open forever.
    max_connection_age_s: float | None = 300.0


class Service(NamedTuple):
    descriptor: ServiceDescriptor
    servicer: object


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _parser(message_class: type[Message]) -> Callable[[bytes, grpc.ServicerContext], Message]:
    name = message_class.DESCRIPTOR.full_name

    def parse(raw: bytes, context: grpc.ServicerContext) -> Message:
        try:
            return message_class.FromString(raw)
        except (DecodeError, RuntimeError, ValueError) as err:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"malformed {name} ({len(raw)} bytes): {err or 'cannot be parsed'}",
            )
            raise  # unreachable: abort raises

    return parse


def connection_age_options(max_age_s: float | None) -> list[tuple[str, int]]:
    """Server options closing each connection after `max_age_s` (plus a grace of the same
    length for calls on it to finish); none when max_age_s is None."""
    if max_age_s is None:
        return []
    if max_age_s <= 0:
        raise ValueError(f"max connection age must be positive, got {max_age_s}")
    ms = int(max_age_s * 1000)
    return [("grpc.max_connection_age_ms", ms), ("grpc.max_connection_age_grace_ms", ms)]


def strict_generic_handler(service: Service) -> grpc.GenericRpcHandler:
    """Method handlers for `service` that parse requests themselves (see module docstring)."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in service.descriptor.methods:
        parse = _parser(message_factory.GetMessageClass(method.input_type))
        behavior = getattr(service.servicer, method.name)

        def serialize(message: Message) -> bytes:
            return message.SerializeToString()

        if method.client_streaming:

            def stream_body(
                requests: Iterator[bytes],
                context: grpc.ServicerContext,
                behavior: Callable[..., Any] = behavior,
                parse: Callable[..., Message] = parse,
            ) -> Any:
                return behavior((parse(raw, context) for raw in requests), context)

            make = (
                grpc.stream_stream_rpc_method_handler
                if method.server_streaming
                else grpc.stream_unary_rpc_method_handler
            )
            handlers[method.name] = make(stream_body, response_serializer=serialize)
        else:

            def unary_body(
                raw: bytes,
                context: grpc.ServicerContext,
                behavior: Callable[..., Any] = behavior,
                parse: Callable[..., Message] = parse,
            ) -> Any:
                return behavior(parse(raw, context), context)

            make = (
                grpc.unary_stream_rpc_method_handler
                if method.server_streaming
                else grpc.unary_unary_rpc_method_handler
            )
            handlers[method.name] = make(unary_body, response_serializer=serialize)
    return grpc.method_handlers_generic_handler(service.descriptor.full_name, handlers)


def guarded(method: F) -> F:
    """Servicer method decorator: exceptions become the status `status_for` picks.

    Bad input (ContractError, codec errors) is INVALID_ARGUMENT with the message unchanged;
    anything unexpected is INTERNAL and logged with its traceback; the server keeps serving.
    """

    @functools.wraps(method)
    def run(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as err:
            if context_code(context) is not None:  # already aborted with a chosen status
                raise
            code, message = status_for(err)
            if code == grpc.StatusCode.INTERNAL:
                log.exception("unexpected error in %s", method.__name__)
            if isinstance(err, ServerBusyError):
                context.set_trailing_metadata(((BUSY_KEY, "1"),))
            context.abort(code, message)

    return run  # type: ignore[return-value]


class RunningServer:
    """A started server and what belongs to it (health, metrics endpoint, stream pools)."""

    def __init__(
        self,
        server: grpc.Server,
        port: int,
        health_servicer: health.HealthServicer,
        metrics: ServiceMetrics,
        metrics_port: int | None,
        grace_s: float,
        guard: StreamGuard | None = None,
    ) -> None:
        self.server = server
        self.port = port
        self.health = health_servicer
        self.metrics = metrics
        self.metrics_port = metrics_port
        self.grace_s = grace_s
        self.guard = guard
        self._stopped = threading.Event()

    def drain(self, grace_s: float | None = None, close_metrics: bool = True) -> bool:
        """Report NOT_SERVING (also to Watch streams already open), refuse new calls, let
        in-flight calls finish within the grace, then cancel what is left.

        Returns True when every call ended in time. Handlers that keep computing after their
        call was cancelled are not waited for: the data-plane code checks `context.is_active()`
        between chunks and stops, and `serve_until_signal` bounds the process's exit anyway.
        """
        if self._stopped.is_set():
            return True
        self._stopped.set()
        grace = self.grace_s if grace_s is None else grace_s
        # New calls are refused from here on; calls in flight (open Watch streams included)
        # go on for the grace. Stopping first means no client can see NOT_SERVING and still
        # get a new call in.
        stopped = self.server.stop(grace)
        # Mark NOT_SERVING from a daemon thread and wait for it at most a second: sending to
        # open Watch streams can wait on the server's polling thread (grpc-health deadlocked
        # there; see rpc.health), and a drain must stay bounded whatever races.
        marker = threading.Thread(
            target=self.health.enter_graceful_shutdown, name="wf-health-drain", daemon=True
        )
        marker.start()
        marker.join(HEALTH_DRAIN_WAIT_S)
        ended = stopped.wait(grace + 1.0)
        if self.guard is not None:
            self.guard.close()
        if close_metrics:  # (its HTTP shutdown polls: up to 0.5 s; skipped when exiting)
            self.metrics.close()
        return ended

    def wait_for_termination(self) -> None:
        self.server.wait_for_termination()


def start_server(name: str, services: Sequence[Service], config: ServerConfig) -> RunningServer:
    metrics = ServiceMetrics(name)
    guard = StreamGuard(config.streams, name, workers=config.max_workers)
    interceptors: list[grpc.ServerInterceptor] = [
        guard,  # outermost: its pool and flags are what gRPC sees
        MetricsInterceptor(metrics),
        AccessLogInterceptor(name),
    ]
    if config.token:
        interceptors.append(BearerTokenInterceptor(config.token))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix=name),
        interceptors=interceptors,
        # No SO_REUSEPORT: a second server on a taken port must fail, not share the traffic.
        options=[
            *message_size_options(config.max_message_mb),
            ("grpc.so_reuseport", 0),
            *connection_age_options(config.max_connection_age_s),
        ],
        maximum_concurrent_rpcs=config.max_concurrent_rpcs,
    )
    server.add_generic_rpc_handlers(tuple(strict_generic_handler(s) for s in services))
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [s.descriptor.full_name for s in services]
    reflection.enable_server_reflection(
        (*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = _address(config.host, config.port)
    try:
        if config.tls is not None:
            port = server.add_secure_port(address, config.tls.credentials())
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as err:  # grpcio raises on bind failure (older versions return 0)
        raise OSError(f"{name}: could not bind {address}: {err}") from None
    if not port:
        raise OSError(f"{name}: could not bind {address}")
    metrics_port = (
        metrics.serve_http(config.metrics_host, config.metrics_port)
        if config.metrics_port is not None
        else None
    )
    server.start()
    for service_name in ("", *names):
        health_servicer.set(service_name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(
        server, port, health_servicer, metrics, metrics_port, config.grace_s, guard
    )


# Share of the grace period in-flight calls get before they are cancelled; the rest is for
# handlers to notice the cancellation and for the process to exit.
CANCEL_AT = 0.8


def exit_now(code: int) -> None:
    """End the process at once after flushing the logs.

    After a drain nothing is left to do, and the interpreter's own teardown (torch, thread
    joins) can take a second or more on a loaded machine: longer than the grace period allows.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_by(deadline: float, code: int) -> None:
    """Daemon watchdog: end the process at `deadline` (time.monotonic()) whatever still runs.

    gRPC's worker threads are not daemons, so a handler stuck in one long model call would keep
    the interpreter alive after "stopped" and Kubernetes would SIGKILL the pod.
    """

    def watch() -> None:
        time.sleep(max(0.0, deadline - time.monotonic()))
        busy = [t.name for t in threading.enumerate() if not t.daemon and t.is_alive()]
        log.warning(
            "drain overran the grace period; exiting with work still running",
            extra={"event": "forced_exit", "threads": busy},
        )
        exit_now(code)

    threading.Thread(target=watch, name="wf-exit-watchdog", daemon=True).start()


def serve_until_signal(running: RunningServer) -> None:
    """Block until SIGTERM/SIGINT, then drain: health NOT_SERVING, in-flight calls get
    CANCEL_AT of the grace period to finish and are cancelled after that. A watchdog ends the
    process at the end of the grace period if a handler will not stop; the caller ends it with
    `exit_now` once its own cleanup is done (see there why not a normal interpreter exit)."""
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        received.append(signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        stop.wait()
        started = time.monotonic()
        _exit_by(started + running.grace_s, 1)
        log.info(
            "draining",
            extra={
                "event": "draining",
                "signal": signal.Signals(received[0]).name,
                "grace_s": running.grace_s,
            },
        )
        ended = running.drain(running.grace_s * CANCEL_AT, close_metrics=False)
        log.info(
            "stopped",
            extra={
                "event": "stopped",
                "in_flight_finished": ended,
                "drain_s": round(time.monotonic() - started, 3),
            },
        )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
