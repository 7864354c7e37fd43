"""Run an OnlineLoop through the services: the networked deployment on one machine.

    with through_services(loop) as deployment:      # loop = OnlineLoop(config)
        loop.run()
        deployment.dynamics_calls("Rollout")         # > 0: the plans crossed both hops

The loop process keeps training the model; `through_services` serves that same model object
as a DynamicsService (worldflux.rpc, in this process, on 127.0.0.1 with an ephemeral port),
starts a planner service (`python -m wf_planner.main`, a separate process) pointed at it,
and swaps the loop's agent for a ServiceAgent that acts through the planner's Control
streams. So every action is loop -> planner service -> dynamics service -> the live model:
the dynamics service always serves the current weights (the Trainer updates the very tensors
it reads; acting and training alternate in the loop's thread, so a plan never sees a half
finished update). On a real deployment the dynamics service runs elsewhere and is given new
weights by redeploying (docs/content/services.md); this keeps one process to train.

The planner service gets the loop's planner and settings (`--planner`, `--set KEY=VALUE`,
`--seed`). It has one configuration for collection and evaluation: MPPI without exploration
noise unless `planner_settings` says `exploration_noise: true`.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wf_planner.agent import ServiceAgent
from wf_planner.client import PlannerClient
from worldflux.agents import OnlineLoop
from worldflux.core import ContractError
from worldflux.rpc.dynamics_servicer import DynamicsServicer
from worldflux.rpc.server import RunningServer, ServerConfig, start_server

READY_TIMEOUT_S = float(os.environ.get("WF_SERVICES_READY_TIMEOUT_S", "240"))


@dataclass
class Deployment:
    """The running pieces; `dynamics_calls` counts what the dynamics service answered."""

    dynamics: RunningServer
    planner: subprocess.Popen[str]
    planner_target: str
    dynamics_target: str
    agent: ServiceAgent
    planner_log: Path

    def dynamics_calls(self, method: str, code: str = "OK") -> int:
        """RPCs of `method` (e.g. "Rollout") the dynamics service finished with `code`."""
        total = 0.0
        for family in self.dynamics.metrics.registry.collect():
            for sample in family.samples:
                labels = sample.labels
                if (
                    sample.name == "wf_rpc_requests_total"
                    and labels.get("method", "").endswith("/" + method)
                    and labels.get("code") == code
                ):
                    total += sample.value
        return int(total)

    def stop_dynamics(self) -> None:
        """Stop the dynamics service (what a crashed replica looks like to the planner)."""
        self.dynamics.drain(grace_s=0.5)


def planner_command(loop: OnlineLoop, dynamics_target: str) -> list[str]:
    """`python -m wf_planner.main` for the loop's planner, settings and seed."""
    cfg = loop.config
    command = [
        sys.executable,
        "-m",
        "wf_planner.main",
        "--dynamics",
        dynamics_target,
        "--port",
        "0",
        "--planner",
        cfg.planner,
        "--seed",
        str(cfg.seed),
    ]
    for key, value in sorted(cfg.planner_settings.items()):
        if key != "seed":
            command += ["--set", f"{key}={json.dumps(value)}"]
    return command


def _wait_ready(process: subprocess.Popen[str], log: IO[str], timeout_s: float) -> dict[str, Any]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            log.flush()
            raise RuntimeError(
                f"the planner service exited with {process.wait()}:\n"
                + Path(log.name).read_text(errors="replace")[-4000:]
            )
        if line.startswith("{"):
            message: dict[str, Any] = json.loads(line)
            if message.get("event") == "serving":
                return message
    raise TimeoutError(f"the planner service was not ready after {timeout_s:.0f} s")


@contextmanager
def through_services(
    loop: OnlineLoop, ready_timeout_s: float = READY_TIMEOUT_S
) -> Iterator[Deployment]:
    """Serve `loop.model`, start a planner service on it, and act through it (see above).

    On exit the loop's own agent is put back and both services are stopped."""
    if loop.config.planner == "actor":
        raise ContractError(
            "through_services acts through the planner service; planner='actor' acts with the "
            "model's actor in the loop's process: pick a planner (auto, mppi, cem, ...)"
        )
    local = loop.agent
    dynamics = start_server(
        "dynamics", [DynamicsServicer(loop.model).service()], ServerConfig(port=0)
    )
    dynamics_target = f"127.0.0.1:{dynamics.port}"
    log = tempfile.NamedTemporaryFile("w+", prefix="wf-planner-", suffix=".log", delete=False)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    planner = subprocess.Popen(
        planner_command(loop, dynamics_target),
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
        text=True,
    )
    client: PlannerClient | None = None
    agent: ServiceAgent | None = None
    try:
        ready = _wait_ready(planner, log, ready_timeout_s)
        planner_target = f"127.0.0.1:{int(ready['port'])}"
        client = PlannerClient(planner_target)
        agent = ServiceAgent(client, local, prepare=loop.model.eval)
        loop.agent = agent  # type: ignore[assignment]
        yield Deployment(dynamics, planner, planner_target, dynamics_target, agent, Path(log.name))
    finally:
        loop.agent = local
        if agent is not None:
            agent.close()
        if client is not None:
            client.close()
        if planner.poll() is None:
            planner.terminate()
            try:
                planner.wait(20)
            except subprocess.TimeoutExpired:
                planner.kill()
                planner.wait()
        dynamics.drain(grace_s=1.0)
        log.close()
