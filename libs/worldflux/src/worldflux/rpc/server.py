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
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from worldflux.rpc.channel import DEFAULT_MAX_MESSAGE_MB, ServerTLS, message_size_options
from worldflux.rpc.errors import status_for
from worldflux.rpc.interceptors import (
    AccessLogInterceptor,
    BearerTokenInterceptor,
    MetricsInterceptor,
    context_code,
)
from worldflux.rpc.metrics import ServiceMetrics

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    tls: ServerTLS | None = None
    # None: no metrics endpoint; 0: any free port.
    metrics_port: int | None = None
    max_message_mb: float = DEFAULT_MAX_MESSAGE_MB
    max_workers: int = 8
    # Calls beyond this are refused with RESOURCE_EXHAUSTED instead of queueing without bound.
    max_concurrent_rpcs: int | None = 64
    # Seconds in-flight calls get to finish after SIGTERM.
    grace_s: float = 10.0


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
            context.abort(code, message)

    return run  # type: ignore[return-value]


class RunningServer:
    """A started server and what belongs to it (health, metrics endpoint)."""

    def __init__(
        self,
        server: grpc.Server,
        port: int,
        health_servicer: health.HealthServicer,
        metrics: ServiceMetrics,
        metrics_port: int | None,
        grace_s: float,
    ) -> None:
        self.server = server
        self.port = port
        self.health = health_servicer
        self.metrics = metrics
        self.metrics_port = metrics_port
        self.grace_s = grace_s
        self._stopped = threading.Event()

    def drain(self, grace_s: float | None = None) -> None:
        """Report NOT_SERVING, refuse new calls, let in-flight calls finish within the grace."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(self.grace_s if grace_s is None else grace_s).wait()
        self.metrics.close()

    def wait_for_termination(self) -> None:
        self.server.wait_for_termination()


def start_server(name: str, services: Sequence[Service], config: ServerConfig) -> RunningServer:
    metrics = ServiceMetrics(name)
    interceptors: list[grpc.ServerInterceptor] = [
        MetricsInterceptor(metrics),
        AccessLogInterceptor(name),
    ]
    if config.token:
        interceptors.append(BearerTokenInterceptor(config.token))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix=name),
        interceptors=interceptors,
        # No SO_REUSEPORT: a second server on a taken port must fail, not share the traffic.
        options=[*message_size_options(config.max_message_mb), ("grpc.so_reuseport", 0)],
        maximum_concurrent_rpcs=config.max_concurrent_rpcs,
    )
    server.add_generic_rpc_handlers(tuple(strict_generic_handler(s) for s in services))
    health_servicer = health.HealthServicer()
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
        metrics.serve_http(config.host, config.metrics_port)
        if config.metrics_port is not None
        else None
    )
    server.start()
    for service_name in ("", *names):
        health_servicer.set(service_name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, port, health_servicer, metrics, metrics_port, config.grace_s)


def serve_until_signal(running: RunningServer) -> None:
    """Block until SIGTERM/SIGINT, then drain (health NOT_SERVING, in-flight calls finish)."""
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        received.append(signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        stop.wait()
        log.info(
            "draining",
            extra={
                "event": "draining",
                "signal": signal.Signals(received[0]).name,
                "grace_s": running.grace_s,
            },
        )
        running.drain()
        log.info("stopped", extra={"event": "stopped"})
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
