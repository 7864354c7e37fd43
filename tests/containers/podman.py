"""Drive podman for the container smoke tests: run images, wait for health, always clean up.

The smoke tests run outside Pants (build-support/test-images.sh): podman runs as root with the
repository's storage (.oci/), which the Pants sandbox neither has nor should touch. Every container
a test starts gets a unique name and is removed with `podman rm -f -t 0` whatever happens, and
networking is loopback only: `--network=host` with servers bound to 127.0.0.1, or
`--network=container:NAME`. No bridge network is ever created.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

PREFIX = os.environ.get("WF_IMAGE_PREFIX", "localhost/worldflux")
TAG = os.environ.get("WF_IMAGE_TAG", "dev")
IMAGES = ("gate", "dynamics", "planner")
# The non-root user every image runs as (the Dockerfiles' USER, the manifests' runAsUser).
IMAGE_UID = 10001
# What docker/compose.yaml and docker/k8s/ impose: read-only root filesystem (podman adds a tmpfs
# on /tmp), no capabilities, no privilege escalation.
HARDENED = ("--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges")


def image(name: str) -> str:
    return f"{PREFIX}/{name}:{TAG}"


def why_unavailable(names: Sequence[str] = IMAGES) -> str | None:
    """None when podman and the images are usable here, else the reason they are not."""
    if shutil.which("podman") is None:
        return "podman is not installed (build-support/build-images.sh installs it)"
    if "CONTAINERS_STORAGE_CONF" not in os.environ:
        return "podman storage is not configured: run through build-support/test-images.sh"
    for name in names:
        found = subprocess.run(
            ["podman", "image", "exists", image(name)], capture_output=True, timeout=60
        )
        if found.returncode != 0:
            return f"image {image(name)} is missing: run build-support/build-images.sh"
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (servers in --network=host containers bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def podman(
    *args: str, timeout: float = 300, check: bool = False
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def unique_name(stem: str) -> str:
    return f"wf-test-{stem}-{uuid.uuid4().hex[:8]}"


def run(
    name: str,
    *args: str,
    network: str = "none",
    entrypoint: str | None = None,
    options: Sequence[str] = (),
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`podman run --rm` of one of our images, to completion."""
    command = ["run", "--rm", "--no-healthcheck", f"--network={network}", *options]
    if entrypoint is not None:
        command.append(f"--entrypoint={entrypoint}")
    return podman(*command, image(name), *args, timeout=timeout)


@dataclass
class Server:
    """A detached container of one of our service images."""

    name: str
    image_name: str
    port: int
    started: float = field(default_factory=time.monotonic)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def logs(self) -> str:
        result = podman("logs", self.name, timeout=60)
        return result.stdout + result.stderr

    def state(self) -> dict[str, str]:
        fmt = "{{.State.Status}} {{.State.ExitCode}}"
        status, _, code = podman(
            "inspect", "--format", fmt, self.name, check=True
        ).stdout.partition(" ")
        return {"status": status.strip(), "exit_code": code.strip()}

    def health(
        self, timeout: float = 3.0, network: str = "host"
    ) -> subprocess.CompletedProcess[str]:
        """Check health with the image's gRPC probe, from a separate container."""
        return run(
            self.image_name,
            "-m",
            "wf_grpc_health",
            "--timeout",
            str(timeout),
            self.target,
            network=network,
            entrypoint="python3",
            timeout=60,
        )

    def wait_serving(self, within_s: float = 240.0) -> float:
        """Seconds from `podman run` until a health check from another container said SERVING."""
        deadline = self.started + within_s
        last = ""
        while time.monotonic() < deadline:
            if self.state()["status"] != "running":
                raise AssertionError(f"{self.name} stopped before serving:\n{self.logs()}")
            probe = self.health(timeout=1.0)
            if probe.returncode == 0 and "SERVING" in probe.stdout:
                return time.monotonic() - self.started
            last = probe.stdout + probe.stderr
            time.sleep(0.5)
        raise AssertionError(
            f"{self.name} not SERVING within {within_s} s; last probe: {last}\n{self.logs()}"
        )

    def stop(self, grace_s: int = 20) -> float:
        """SIGTERM, wait for exit (SIGKILL after grace_s); seconds it took."""
        began = time.monotonic()
        podman("stop", "-t", str(grace_s), self.name, timeout=grace_s + 60, check=True)
        return time.monotonic() - began


@contextmanager
def server(image_name: str, *args: str, stem: str, port: int | None = None) -> Iterator[Server]:
    """A service container on the host's loopback (--network=host, bound to 127.0.0.1)."""
    port = free_port() if port is None else port
    name = unique_name(stem)
    handle = Server(name, image_name, port)
    try:
        podman(
            "run",
            "-d",
            "--no-healthcheck",
            "--network=host",
            # As the compose file and the Kubernetes manifests run them.
            *HARDENED,
            f"--name={name}",
            image(image_name),
            *args,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            timeout=120,
            check=True,
        )
        yield handle
    finally:
        podman("rm", "-f", "-t", "0", name, timeout=120)


@contextmanager
def detached(image_name: str, *args: str, stem: str, options: Sequence[str] = ()) -> Iterator[str]:
    """Any detached container (network none unless options say otherwise); yields its name."""
    name = unique_name(stem)
    try:
        podman(
            "run", "-d", "--no-healthcheck", f"--name={name}", *options, image(image_name), *args,
            timeout=120, check=True,
        )  # fmt: skip
        yield name
    finally:
        podman("rm", "-f", "-t", "0", name, timeout=120)
