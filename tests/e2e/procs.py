"""Real service processes on loopback for the end-to-end tests.

Each service runs as `python -m wf_dynamics.main` / `python -m wf_planner.main` with this
interpreter and this import path (so it works in the dev venv and in the Pants sandbox alike),
`--port 0`, and is ready once it prints its JSON ready line on stdout.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

# Slow CI machines import torch in tens of seconds; a ready line later than this is a failure.
READY_TIMEOUT_S = float(os.environ.get("WF_E2E_READY_TIMEOUT_S", "240"))


def child_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "PYTHONUNBUFFERED": "1",
        # Several services share few cores: one intra-op thread each avoids oversubscription.
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }


class Service:
    """One service process; `.port`, `.metrics_port` once ready; logs kept in a file."""

    def __init__(self, module: str, args: list[str], name: str) -> None:
        self.name = name
        self.args = args
        self._log: IO[str] = tempfile.NamedTemporaryFile(  # (closed in stop)
            "w+", prefix=f"wf-e2e-{name}-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=child_env(),
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.ready: dict[str, Any] = {}

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> Service:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                raise RuntimeError(f"{self.name} exited with {self.process.wait()}:\n{self.logs()}")
            if line.startswith("{"):
                message = json.loads(line)
                if message.get("event") == "serving":
                    self.ready = message
                    return self
        raise TimeoutError(f"{self.name} not ready after {timeout_s}s:\n{self.logs()}")

    @property
    def port(self) -> int:
        return int(self.ready["port"])

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_port(self) -> int:
        return int(self.ready["metrics_port"])

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        return urllib.request.urlopen(url, timeout=5).read().decode()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def logs(self, tail: int | None = 20000) -> str:
        """The service's stderr (the last `tail` characters; all of it with None)."""
        text = Path(self._log.name).read_text(errors="replace")
        return text if tail is None else text[-tail:]

    def log_entries(self) -> list[dict[str, Any]]:
        lines = self.logs(tail=None).splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM, then SIGKILL if it does not drain in time; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # in case a test left it stopped
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def start_all(*services: Service) -> list[Service]:
    """Wait for services started together (they import torch in parallel)."""
    try:
        return [s.wait_ready() for s in services]
    except BaseException:
        for s in services:
            s.stop(5)
        raise


def dynamics(*args: str, name: str = "dynamics") -> Service:
    return Service("wf_dynamics.main", ["--port", "0", "--metrics-port", "0", *args], name)


def planner(*args: str, name: str = "planner") -> Service:
    return Service("wf_planner.main", ["--port", "0", "--metrics-port", "0", *args], name)


def toy_args(*extra: str) -> list[str]:
    """The test-only toy family (tests/plugin_family) for pendulum-like data: obs [3], 1 action."""
    return [
        "--model",
        "toy:ci",
        "--plugin",
        "plugin_family.toy_family",
        "--obs-shape",
        "3",
        "--action-dim",
        "1",
        *extra,
    ]
