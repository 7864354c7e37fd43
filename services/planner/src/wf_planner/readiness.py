"""The planner's health says whether it can plan: some dynamics replica must answer.

The overall health ("") stays SERVING while the process runs (for liveness probes: a dynamics
outage must not restart every planner); the PlannerService's own status follows the replicas
(for readiness probes and load balancers). Drain turns both NOT_SERVING and this loop then has
no effect (grpc-health ignores changes after its graceful shutdown).
"""

from __future__ import annotations

import logging
import threading

from grpc_health.v1 import health, health_pb2

from worldflux.rpc.remote import RemoteDynamics

log = logging.getLogger(__name__)


class Readiness:
    """Polls the replicas every `period_s` and sets `service`'s health status to match."""

    def __init__(
        self,
        dynamics: RemoteDynamics,
        health_servicer: health.HealthServicer,
        service: str,
        period_s: float = 2.0,
        timeout_s: float = 1.0,
    ) -> None:
        self.dynamics = dynamics
        self.health = health_servicer
        self.service = service
        self.period_s = period_s
        self.timeout_s = timeout_s
        self.ready: bool | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wf-readiness", daemon=True)

    def check(self) -> bool:
        """Probe once and publish the result; True when some replica is reachable."""
        ready = self.dynamics.reachable(self.timeout_s)
        if ready != self.ready:
            log.info(
                "readiness", extra={"event": "readiness", "ready": ready, "service": self.service}
            )
        self.ready = ready
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        self.health.set(self.service, status)
        return ready

    def start(self) -> Readiness:
        self.check()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.check()

    def stop(self) -> None:
        self._stop.set()
