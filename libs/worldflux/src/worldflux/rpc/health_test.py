"""Watch updates leave the health servicer's lock free, so a Watch closing on the polling thread
(which takes that lock) can never deadlock a status change or a drain."""

import threading

import pytest
from grpc_health.v1 import health, health_pb2

from worldflux.rpc.health import HealthServicer

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Watcher:
    """A Watch stream's send callback that needs the lock on another thread to finish, as a
    send does when the polling thread must first run a close callback."""

    def __init__(self, servicer: health.HealthServicer) -> None:
        self.servicer = servicer
        self.received: list[int] = []
        self.lock_was_free: list[bool] = []

    def __call__(self, response: health_pb2.HealthCheckResponse | None) -> None:
        outcome: list[bool] = []

        def polling_thread() -> None:
            got = self.servicer._lock.acquire(timeout=1.0)
            if got:
                self.servicer._lock.release()
            outcome.append(got)

        thread = threading.Thread(target=polling_thread)
        thread.start()
        thread.join()
        self.lock_was_free.append(outcome[0])
        if response is not None:
            self.received.append(response.status)


def watch(servicer: health.HealthServicer, service: str) -> Watcher:
    watcher = Watcher(servicer)
    servicer._send_response_callbacks.setdefault(service, set()).add(watcher)
    return watcher


@pytest.mark.parametrize("change", ["set", "drain"])
def test_updates_are_sent_with_the_lock_free(change: str) -> None:
    servicer = HealthServicer()
    servicer.set("svc", SERVING)
    watcher = watch(servicer, "svc")
    if change == "set":
        servicer.set("svc", NOT_SERVING)
        servicer.set("svc", NOT_SERVING)  # unchanged: nothing sent
    else:
        servicer.enter_graceful_shutdown()
        servicer.set("svc", SERVING)  # ignored after the drain
    assert watcher.received == [NOT_SERVING] and watcher.lock_was_free == [True]
    assert servicer._server_status["svc"] == NOT_SERVING


def test_grpc_healths_own_servicer_sends_under_its_lock() -> None:
    """The defect this module works around (if grpc-health fixes it, this test says so)."""
    servicer = health.HealthServicer()
    servicer.set("svc", SERVING)
    watcher = watch(servicer, "svc")
    servicer.set("svc", NOT_SERVING)
    assert watcher.lock_was_free == [False]
