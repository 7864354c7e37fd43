"""Server interceptors: bearer-token auth, structured request logs, Prometheus metrics.

gRPC Python interceptors only see the handler, not the outcome, so `observe_handler` wraps the
handler's behaviour to learn the final status code and duration of every call (unary and
streaming alike, including calls that abort or raise).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from worldflux.rpc.channel import AUTHORIZATION
from worldflux.rpc.metrics import ServiceMetrics

HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIXES = (
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
access_log = logging.getLogger("worldflux.rpc.access")

Observer = Callable[[str, grpc.StatusCode, float, grpc.ServicerContext], None]


def context_code(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """The status already set on a call (by abort or set_code), or None.

    ServicerContext.code() exists since grpcio 1.38 but is missing from the type stubs.
    """
    code = getattr(context, "code", None)
    value = code() if callable(code) else None
    return value if isinstance(value, grpc.StatusCode) else None


def context_details(context: grpc.ServicerContext) -> str:
    details = getattr(context, "details", None)
    value = details() if callable(details) else None
    return _text(value) if value else ""


def _final_code(context: grpc.ServicerContext, raised: bool) -> grpc.StatusCode:
    code = context_code(context)
    if code is not None:
        return code
    return grpc.StatusCode.UNKNOWN if raised else grpc.StatusCode.OK


def is_non_blocking(handler: grpc.RpcMethodHandler) -> bool:
    """True for handlers that answer through a callback instead of holding a thread (grpc-health's
    Watch). Wrapping their behaviour in a plain function would drop the flag and make each such
    stream hold a worker thread again, so the interceptors here pass them through untouched
    (their duration is the client's choice anyway; StreamGuard still counts them)."""
    return any(
        getattr(getattr(handler, attr), "experimental_non_blocking", False)
        for attr in ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
    )


def observe_handler(
    handler: grpc.RpcMethodHandler, method: str, observer: Observer
) -> grpc.RpcMethodHandler:
    """The same handler, calling `observer(method, code, seconds, context)` when each call ends.

    Non-blocking handlers are returned unchanged (see `is_non_blocking`).
    """
    if is_non_blocking(handler):
        return handler

    def unary(behavior: Callable[..., Any]) -> Callable[..., Any]:
        def run(request: Any, context: grpc.ServicerContext) -> Any:
            start, raised = time.perf_counter(), False
            try:
                return behavior(request, context)
            except BaseException:
                raised = True
                raise
            finally:
                observer(method, _final_code(context, raised), time.perf_counter() - start, context)

        return run

    def streaming(behavior: Callable[..., Any]) -> Callable[..., Any]:
        def run(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            start, raised = time.perf_counter(), False
            try:
                yield from behavior(request, context)
            except GeneratorExit:  # the client went away mid-stream
                context.set_code(grpc.StatusCode.CANCELLED)
                raise
            except BaseException:
                raised = True
                raise
            finally:
                observer(method, _final_code(context, raised), time.perf_counter() - start, context)

        return run

    kinds = (
        ("unary_unary", unary, grpc.unary_unary_rpc_method_handler),
        ("unary_stream", streaming, grpc.unary_stream_rpc_method_handler),
        ("stream_unary", unary, grpc.stream_unary_rpc_method_handler),
        ("stream_stream", streaming, grpc.stream_stream_rpc_method_handler),
    )
    for attr, wrap, make in kinds:
        behavior = getattr(handler, attr)
        if behavior is not None:
            return make(
                wrap(behavior),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler


def replace_behavior(
    handler: grpc.RpcMethodHandler, behavior: Callable[[Any, grpc.ServicerContext], Any]
) -> grpc.RpcMethodHandler:
    """A handler of the same kind and serializers whose body is `behavior`."""
    if handler.request_streaming and handler.response_streaming:
        make = grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        make = grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        make = grpc.unary_stream_rpc_method_handler
    else:
        make = grpc.unary_unary_rpc_method_handler
    return make(
        behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """UNAUTHENTICATED unless the call carries `authorization: Bearer <token>`.

    Health checks stay open (load balancers and Kubernetes gRPC probes carry no token), and so
    does reflection: it serves only the public wire schema, and keeps generic clients such as
    `buf curl` and grpcurl simple.
    """

    def __init__(
        self,
        token: str,
        exempt_prefixes: tuple[str, ...] = (HEALTH_PREFIX, *REFLECTION_PREFIXES),
    ) -> None:
        if not token:
            raise ValueError("an auth interceptor needs a non-empty token")
        self._expected = f"Bearer {token}".encode()
        self._exempt = exempt_prefixes

    def _authorized(self, details: grpc.HandlerCallDetails) -> bool:
        for key, value in details.invocation_metadata or ():
            if key == AUTHORIZATION:
                given = value.encode() if isinstance(value, str) else bytes(value)
                return hmac.compare_digest(given, self._expected)
        return False

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if (
            handler is None
            or method.startswith(self._exempt)
            or self._authorized(handler_call_details)
        ):
            return handler

        def deny(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing or wrong bearer token: send metadata 'authorization: Bearer <token>'",
            )

        return replace_behavior(handler, deny)


class _ObservingInterceptor(grpc.ServerInterceptor):
    def observe(
        self, method: str, code: grpc.StatusCode, seconds: float, context: grpc.ServicerContext
    ) -> None:
        raise NotImplementedError

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return observe_handler(handler, handler_call_details.method, self.observe)


class AccessLogInterceptor(_ObservingInterceptor):
    """One JSON log line per call: method, status code, duration, peer (errors at WARNING)."""

    def __init__(self, service: str) -> None:
        self.service = service

    def observe(
        self, method: str, code: grpc.StatusCode, seconds: float, context: grpc.ServicerContext
    ) -> None:
        level = logging.INFO if code == grpc.StatusCode.OK else logging.WARNING
        details = context_details(context) if code != grpc.StatusCode.OK else None
        access_log.log(
            level,
            "rpc",
            extra={
                "service": self.service,
                "method": method,
                "code": code.name,
                "duration_ms": round(seconds * 1000, 3),
                "peer": context.peer(),
                **({"details": details} if details else {}),
            },
        )


class MetricsInterceptor(_ObservingInterceptor):
    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = super().intercept_service(continuation, handler_call_details)
        if handler is None or is_non_blocking(handler):
            return handler
        gauge = self.metrics.in_flight.labels(self.metrics.service, handler_call_details.method)

        def counted(behavior: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
            if streaming:

                def run_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                    gauge.inc()
                    try:
                        yield from behavior(request, context)
                    finally:
                        gauge.dec()

                return run_stream

            def run(request: Any, context: grpc.ServicerContext) -> Any:
                gauge.inc()
                try:
                    return behavior(request, context)
                finally:
                    gauge.dec()

            return run

        body = next(
            getattr(handler, a)
            for a in ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
            if getattr(handler, a) is not None
        )
        return replace_behavior(handler, counted(body, handler.response_streaming))

    def observe(
        self, method: str, code: grpc.StatusCode, seconds: float, context: grpc.ServicerContext
    ) -> None:
        self.metrics.observe(method, code.name, seconds)


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
