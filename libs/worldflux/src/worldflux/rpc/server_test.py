"""Server helpers over real loopback sockets: auth, TLS, health, reflection, metrics, logs,
drain."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from worldflux.core import ContractError
from worldflux.planners import InProcessDynamics
from worldflux.rpc.channel import ClientTLS, ServerTLS
from worldflux.rpc.conftest import SlowServicer, StartDynamics, target, toy_model
from worldflux.rpc.errors import NoReplicaError, RemoteError
from worldflux.rpc.logs import JsonFormatter, configure_json_logging
from worldflux.rpc.remote import RemoteDynamics
from worldflux.rpc.server import connection_age_options
from worldflux.rpc.tls_testutil import self_signed_cert


def health_status(port: int, service: str = "") -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def test_binds_loopback_and_reports_serving(start_dynamics: StartDynamics) -> None:
    server = start_dynamics()
    assert health_status(server.port) == health_pb2.HealthCheckResponse.SERVING
    assert (
        health_status(server.port, "worldflux.v1.DynamicsService")
        == health_pb2.HealthCheckResponse.SERVING
    )
    # Nothing listens on the machine's other addresses: connecting to 127.0.0.2 (loopback
    # net, different address) is refused, which it would not be after binding 0.0.0.0.
    with (
        RemoteDynamics(f"127.0.0.2:{server.port}", timeout_s=2) as remote,
        pytest.raises(NoReplicaError),
    ):
        _ = remote.spec


def test_a_taken_port_is_an_error_not_a_shared_port(start_dynamics: StartDynamics) -> None:
    server = start_dynamics()
    with pytest.raises(OSError, match=f"could not bind 127.0.0.1:{server.port}"):
        start_dynamics(port=server.port)


def test_reflection_lists_the_services(start_dynamics: StartDynamics) -> None:
    server = start_dynamics()
    with grpc.insecure_channel(target(server)) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        method = database.FindFileContainingSymbol("worldflux.v1.DynamicsService")
    assert {"worldflux.v1.DynamicsService", "grpc.health.v1.Health"} <= services
    assert method.name == "worldflux/v1/dynamics.proto"


def test_token_is_required_except_for_health_and_reflection(
    start_dynamics: StartDynamics,
) -> None:
    server = start_dynamics(token="s3cret")
    for token in (None, "wrong"):
        with (
            RemoteDynamics(target(server), token=token) as remote,
            pytest.raises(RemoteError) as info,
        ):
            _ = remote.spec
        assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert "bearer token" in info.value.details
    with RemoteDynamics(target(server), token="s3cret") as remote:
        assert remote.encode(torch.zeros(1, 3))["z"].shape == (1, 16)
    assert health_status(server.port) == health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(target(server)) as channel:
        assert (
            "worldflux.v1.DynamicsService"
            in ProtoReflectionDescriptorDatabase(channel).get_services()
        )


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    made = self_signed_cert(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("the openssl command is not installed: cannot make a test certificate")
    return made


def test_tls_with_token(start_dynamics: StartDynamics, self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    server = start_dynamics(tls=ServerTLS(cert, key), token="t")
    with RemoteDynamics(target(server), tls=ClientTLS(root_cert=cert), token="t") as remote:
        assert remote.encode(torch.zeros(1, 3))["z"].shape == (1, 16)
    with (
        RemoteDynamics(target(server), token="t", timeout_s=2) as plaintext,
        pytest.raises(NoReplicaError),
    ):
        _ = plaintext.spec  # a plaintext client cannot talk to a TLS server
    with RemoteDynamics(
        f"localhost:{server.port}", tls=ClientTLS(root_cert=cert), token="t"
    ) as by_name:
        assert by_name.spec.family == "toy"


def test_mutual_tls_refuses_clients_without_the_right_certificate(
    start_dynamics: StartDynamics,
    self_signed: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    cert, key = self_signed
    (tmp_path / "client").mkdir()
    client = self_signed_cert(tmp_path / "client")
    stranger = self_signed_cert(tmp_path)  # signed by nobody the server trusts
    assert client is not None and stranger is not None
    server = start_dynamics(tls=ServerTLS(cert, key, client_ca=client[0]))
    trusted = ClientTLS(root_cert=cert, cert=client[0], key=client[1])
    with RemoteDynamics(target(server), tls=trusted) as remote:
        assert remote.encode(torch.zeros(1, 3))["z"].shape == (1, 16)
    for tls in (
        ClientTLS(root_cert=cert),  # no client certificate
        ClientTLS(root_cert=cert, cert=stranger[0], key=stranger[1]),
    ):
        with (
            RemoteDynamics(target(server), tls=tls, timeout_s=2, reconnect_wait_s=0) as remote,
            pytest.raises(NoReplicaError),
        ):
            _ = remote.spec
    assert health_status_tls(server.port, trusted) == health_pb2.HealthCheckResponse.SERVING


def health_status_tls(port: int, tls: ClientTLS) -> int:
    with grpc.secure_channel(f"localhost:{port}", tls.credentials()) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status


def test_missing_tls_files_are_named() -> None:
    with pytest.raises(FileNotFoundError, match="TLS certificate file /nonexistent/cert.pem"):
        ServerTLS(Path("/nonexistent/cert.pem"), Path("/nonexistent/key.pem")).credentials()


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_latency_and_errors(start_dynamics: StartDynamics) -> None:
    server = start_dynamics(metrics_port=0)
    assert server.metrics_port
    with RemoteDynamics(target(server)) as remote:
        state = remote.encode(torch.zeros(1, 3))
        for _ in range(3):
            remote.rollout(state, torch.zeros(2, 2, 2))
        with pytest.raises(ContractError):
            remote.rollout(state, torch.zeros(2, 2, 9))
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    rollout = "/worldflux.v1.DynamicsService/Rollout"
    assert _metric(text, "wf_rpc_requests_total", method=rollout, code="OK") == 3
    assert _metric(text, "wf_rpc_requests_total", method=rollout, code="INVALID_ARGUMENT") == 1
    assert _metric(text, "wf_rpc_errors_total", method=rollout, code="INVALID_ARGUMENT") == 1
    assert _metric(text, "wf_rpc_errors_total", method=rollout, code="OK") == 0
    assert _metric(text, "wf_rpc_latency_seconds_count", method=rollout) == 4
    assert _metric(text, "wf_rpc_in_flight", method=rollout) == 0


def test_access_log_is_one_json_object_per_call(start_dynamics: StartDynamics) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_json_logging("INFO", stream)
    try:
        server = start_dynamics(token="k")
        with RemoteDynamics(target(server), token="k") as remote:
            remote.encode(torch.zeros(1, 3))
        with RemoteDynamics(target(server)) as anonymous, pytest.raises(RemoteError):
            _ = anonymous.spec
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    calls = [e for e in entries if e["logger"] == "worldflux.rpc.access"]
    by_method = {(e["method"].rsplit("/", 1)[1], e["code"]): e for e in calls}
    encode = by_method[("Encode", "OK")]
    assert encode["level"] == "info" and encode["service"] == "dynamics"
    assert encode["duration_ms"] >= 0 and encode["peer"].startswith("ipv4:127.0.0.1")
    denied = by_method[("GetSpec", "UNAUTHENTICATED")]
    assert denied["level"] == "warning" and "bearer token" in denied["details"]


def test_json_formatter_keeps_extra_fields() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "hello %s", ("you",), None)
    record.target = "127.0.0.1:1"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["msg"] == "hello you" and entry["level"] == "error"
    assert entry["target"] == "127.0.0.1:1"


def test_drain_finishes_in_flight_calls_and_refuses_new_ones(
    start_dynamics: StartDynamics,
) -> None:
    slow = SlowServicer(toy_model(), delay_s=1.0)
    server = start_dynamics(servicer=slow, metrics_port=0)
    remote = RemoteDynamics(target(server), timeout_s=10)
    state = remote.encode(torch.zeros(1, 3))
    outcome: dict[str, object] = {}

    def in_flight() -> None:
        try:
            outcome["rewards"] = remote.rollout(state, torch.zeros(2, 2, 2)).rewards
        except Exception as err:  # (recorded for the assertion below)
            outcome["error"] = err

    worker = threading.Thread(target=in_flight)
    worker.start()
    # A health Watch opened before the drain must see the drain (NOT_SERVING), not just end.
    watch_channel = grpc.insecure_channel(target(server))
    watch = health_pb2_grpc.HealthStub(watch_channel).Watch(
        health_pb2.HealthCheckRequest(), timeout=20
    )
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait until the server is really handling the call
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        if _metric(text, "wf_rpc_in_flight", method="/worldflux.v1.DynamicsService/Rollout"):
            break
        time.sleep(0.02)
    drainer = threading.Thread(target=server.drain, kwargs={"grace_s": 5.0})
    drainer.start()
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    watch.cancel()
    watch_channel.close()
    with RemoteDynamics(target(server), timeout_s=2) as late, pytest.raises(NoReplicaError):
        late.encode(torch.zeros(1, 3))
    worker.join(10)
    drainer.join(10)
    remote.close()
    assert "error" not in outcome, outcome.get("error")
    rewards = outcome["rewards"]
    assert isinstance(rewards, torch.Tensor) and rewards.shape == (2, 2)
    # The drained call's answer is the real one, not a placeholder.
    local = InProcessDynamics(toy_model())
    assert torch.equal(
        rewards, local.rollout(local.encode(torch.zeros(1, 3)), torch.zeros(2, 2, 2)).rewards
    )


def test_exit_watchdog_ends_a_process_whose_threads_will_not_stop() -> None:
    """A handler stuck in one long model call keeps a non-daemon thread alive; the watchdog
    started at SIGTERM ends the process at the end of the grace period anyway."""
    import os
    import subprocess
    import sys

    script = (
        "import threading, time\n"
        "from worldflux.rpc.server import _exit_by\n"
        "threading.Thread(target=time.sleep, args=(60,)).start()  # non-daemon, stuck\n"
        "_exit_by(time.monotonic() + 1.0, 3)\n"
    )
    start = time.monotonic()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30, env=env)
    elapsed = time.monotonic() - start
    assert done.returncode == 3, done.stderr
    assert elapsed < 10  # (interpreter start included) not the stuck thread's 60 s
    assert b"drain overran the grace period" in done.stderr


def test_connections_are_closed_after_their_maximum_age(start_dynamics: StartDynamics) -> None:
    server = start_dynamics(max_connection_age_s=0.5)
    states: list[grpc.ChannelConnectivity] = []
    with grpc.insecure_channel(target(server)) as channel:
        channel.subscribe(states.append, try_to_connect=True)
        stub = health_pb2_grpc.HealthStub(channel)
        assert stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1
        time.sleep(2.0)  # age 0.5 s + grace 0.5 s: the server has sent GOAWAY by now
        ready = [i for i, s in enumerate(states) if s == grpc.ChannelConnectivity.READY]
        assert ready and any(s != grpc.ChannelConnectivity.READY for s in states[ready[0] :])
        # The client reconnects transparently.
        assert stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1
    with pytest.raises(ValueError, match="max connection age must be positive"):
        connection_age_options(0)
