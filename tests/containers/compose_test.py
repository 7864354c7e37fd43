"""docker/compose.yaml: valid against the Compose specification's schema (as shipped by
check-jsonschema, offline) and wired as the deployment needs: a planner balancing over N healthy
dynamics replicas, health checks on the served ports over TLS, token and TLS from secrets, only
loopback published."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from . import deploy

PROBE = ["CMD", "python3", "-m", "wf_grpc_health"]


def schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_compose_file_matches_the_compose_spec() -> None:
    result = schema_check(deploy.COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "text",
    [
        "services:\n  a:\n    image: x\n    helthcheck: {test: [CMD, 'true']}\n",
        "services:\n  a:\n    image: x\n    healthcheck: {test: 5}\n",
        "services:\n  a:\n    image: x\n    deploy: {replicas: [3]}\n",
        "services:\n  a:\n    image: x\n    depends_on: {b: {condition: healthy}}\n"
        "  b:\n    image: y\n",
    ],
    ids=["unknown-key", "healthcheck-not-a-command", "replicas-not-a-number", "unknown-condition"],
)
def test_broken_compose_file_is_rejected(tmp_path: Path, text: str) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(text)
    assert schema_check(path).returncode != 0


def test_planner_balances_over_every_dynamics_replica() -> None:
    services = deploy.compose()["services"]
    dynamics, planner = services["dynamics"], services["planner"]
    assert int(dynamics["deploy"]["replicas"]) >= 2
    port = deploy.flag(dynamics["command"], "--port")[0]
    # One DNS name that Compose resolves to every replica of the service, balanced round-robin.
    assert deploy.flag(planner["command"], "--dynamics") == [f"dns:///dynamics:{port}"]
    assert deploy.flag(planner["command"], "--dynamics-policy") == ["round_robin"]
    assert planner["depends_on"]["dynamics"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["dynamics", "planner"])
def test_health_check_probes_the_served_port(name: str) -> None:
    service = deploy.compose()["services"][name]
    port = deploy.flag(service["command"], "--port")[0]
    assert deploy.flag(service["command"], "--host") == ["0.0.0.0"]
    check = service["healthcheck"]["test"]
    assert check[:4] == PROBE and check[-1] == f"127.0.0.1:{port}"
    assert deploy.flag(check, "--tls-ca") == ["/run/secrets/tls.crt"]  # the port is TLS-only


SECRETS = {"dynamics": {"dynamics-token"}, "planner": {"planner-token", "dynamics-token"}}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_token_and_tls_come_from_secrets(name: str) -> None:
    data = deploy.compose()
    service = data["services"][name]
    command = service["command"]
    assert deploy.flag(command, "--token") == [] and "--allow-no-auth" not in command
    token = "planner-token" if name == "planner" else "dynamics-token"
    assert deploy.flag(command, "--token-file") == [f"/run/secrets/{token}"]
    assert deploy.flag(command, "--tls-cert") == ["/run/secrets/tls.crt"]
    assert deploy.flag(command, "--tls-key") == ["/run/secrets/tls.key"]
    assert set(service["secrets"]) == SECRETS[name] | {"tls.crt", "tls.key"}
    for secret in service["secrets"]:
        assert data["secrets"][secret]["file"].endswith(f"/{secret}")
    metrics = deploy.flag(command, "--metrics-port")
    assert metrics and metrics[0] in service["expose"]
    assert all(not str(p).endswith(f":{metrics[0]}") for p in service.get("ports", []))
    if name == "planner":
        assert deploy.flag(command, "--dynamics-token-file") == ["/run/secrets/dynamics-token"]
        assert deploy.flag(command, "--dynamics-tls-ca") == ["/run/secrets/tls.crt"]


@pytest.mark.parametrize("name", ["dynamics", "planner"])
def test_service_drains_before_it_is_killed(name: str) -> None:
    """stop_grace_period outlasts the services' SIGTERM drain (--grace-s, 10 s by default)."""
    service = deploy.compose()["services"][name]
    grace = deploy.flag(service["command"], "--grace-s") or ["10"]
    assert service["stop_signal"] == "SIGTERM"
    assert int(str(service["stop_grace_period"]).rstrip("s")) > float(grace[0])


def test_only_loopback_is_published() -> None:
    for name, service in deploy.compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_every_service_runs_as_the_image_user_with_resources() -> None:
    for name, service in deploy.compose()["services"].items():
        assert service["user"] == "10001:10001", name
        assert "ALL" in service["cap_drop"], name
        assert service["deploy"]["resources"]["reservations"]["memory"], name


def test_images_are_the_released_ones() -> None:
    for name, service in deploy.compose()["services"].items():
        assert service["image"].endswith(f"/{name}:latest"), service["image"]
        assert name in deploy.IMAGE_NAMES
