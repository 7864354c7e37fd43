"""grpc-health's servicer, with Watch updates sent outside its lock.

grpc-health's `set()` holds the servicer's lock while it sends the new status to every open
Watch stream, and sending waits for the server's polling thread whenever an earlier message to
that stream is still in flight. A Watch that ends at that moment runs its close callback on the
polling thread, and the callback takes the same lock: the two wait for each other for ever, the
polling thread stops, and the whole server (health Check included) stops answering. Seen here as
a drain that hung a CI test, and possible in production whenever readiness changes while a probe's
Watch closes. This servicer changes statuses under the lock and sends after releasing it.
"""

from __future__ import annotations

from grpc_health.v1 import health, health_pb2


class HealthServicer(health.HealthServicer):  # type: ignore[misc]
    _gracefully_shutting_down: bool

    def set(self, service: str, status: int) -> None:
        with self._lock:
            if self._gracefully_shutting_down or self._server_status.get(service) == status:
                return
            self._server_status[service] = status
            callbacks = list(self._send_response_callbacks.get(service, ()))
        for callback in callbacks:
            callback(health_pb2.HealthCheckResponse(status=status))

    def enter_graceful_shutdown(self) -> None:
        with self._lock:
            if self._gracefully_shutting_down:
                return
            self._gracefully_shutting_down = True
            not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
            updates = []
            for service in self._server_status:
                self._server_status[service] = not_serving
                updates += list(self._send_response_callbacks.get(service, ()))
        for callback in updates:
            callback(health_pb2.HealthCheckResponse(status=not_serving))
