"""Prometheus metrics of one server: request counts, latencies and errors by status code.

Each server owns its registry, so several servers (tests, a planner beside a dynamics service)
in one process never collide on metric names.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class ServiceMetrics:
    service: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        labels = ["service", "method", "code"]
        self.requests = Counter(
            "wf_rpc_requests", "RPCs handled, by final status code", labels, registry=self.registry
        )
        self.errors = Counter(
            "wf_rpc_errors", "RPCs that ended with a non-OK status", labels, registry=self.registry
        )
        self.latency = Histogram(
            "wf_rpc_latency_seconds",
            "Time from receiving an RPC to its final status",
            ["service", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "wf_rpc_in_flight",
            "RPCs being handled now",
            ["service", "method"],
            registry=self.registry,
        )
        self._http: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def observe(self, method: str, code: str, seconds: float) -> None:
        self.requests.labels(self.service, method, code).inc()
        if code != "OK":
            self.errors.labels(self.service, method, code).inc()
        self.latency.labels(self.service, method).observe(seconds)

    def serve_http(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Expose /metrics over HTTP; returns the bound port (port 0 picks a free one)."""
        self._http, self._thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._http.server_port)

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
