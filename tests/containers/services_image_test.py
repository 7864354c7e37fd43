"""The dynamics and planner images as networked services on loopback: two dynamics replicas, a
planner in front of them, Plan calls from a client container, health from separate containers,
round-robin, failover and a graceful SIGTERM drain.

Every container uses the host's network namespace with its server bound to 127.0.0.1 (or joins a
server's namespace with --network=container:NAME): loopback only, no bridge network.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import podman

pytestmark = pytest.mark.usefixtures("images")

# A TD-MPC2 at its ci size on Pendulum-like observations; both replicas use the same seed, so they
# serve identical weights (the planner checks the replicas' contract fingerprints).
OBS_DIM, ACTION_DIM, BATCH = 3, 1, 2
MODEL = ("--model", "tdmpc2:ci", "--obs-shape", str(OBS_DIM), "--action-dim", str(ACTION_DIM),
         "--seed", "0")  # fmt: skip
ITERATIONS = 2  # one Rollout call per planner iteration, for all candidates at once
PLANNER = ("--horizon", "3", "--iterations", str(ITERATIONS), "--samples", "32", "--elites", "4")
CLIENT = Path(__file__).with_name("plan_client.py")


@dataclass
class Stack:
    dynamics: list[podman.Server]
    planner: podman.Server
    startup_s: dict[str, float]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with ExitStack() as stack:
        dynamics = [
            stack.enter_context(podman.server("dynamics", *MODEL, stem=f"dynamics-{i}"))
            for i in range(2)
        ]
        startup = {f"dynamics-{i}": server.wait_serving() for i, server in enumerate(dynamics)}
        replicas = [arg for server in dynamics for arg in ("--dynamics", server.target)]
        planner = stack.enter_context(podman.server("planner", *replicas, *PLANNER, stem="planner"))
        startup["planner"] = planner.wait_serving()
        print(f"start-up to SERVING (s): {json.dumps(startup)}")
        yield Stack(dynamics, planner, startup)


def plan(stack: Stack, calls: int) -> list[dict[str, Any]]:
    result = podman.run(
        "planner",
        "/probe/plan_client.py",
        stack.planner.target,
        str(BATCH),
        str(OBS_DIM),
        str(calls),
        network="host",
        entrypoint="python3",
        options=[f"--volume={CLIENT}:/probe/plan_client.py:ro"],
    )
    assert result.returncode == 0, result.stdout + result.stderr + stack.planner.logs()
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_health_from_a_separate_container(stack: Stack) -> None:
    for server in [*stack.dynamics, stack.planner]:
        probe = server.health()
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert probe.stdout.strip() == f"{server.target}: SERVING"


def test_health_from_a_container_in_the_server_namespace(stack: Stack) -> None:
    server = stack.dynamics[0]
    probe = server.health(network=f"container:{server.name}")
    assert probe.returncode == 0, probe.stdout + probe.stderr


def test_health_probe_fails_where_nothing_listens(stack: Stack) -> None:
    """The probe the other tests rely on can say no."""
    probe = podman.run(
        "dynamics", "-m", "wf_grpc_health", "--timeout", "1", f"127.0.0.1:{podman.free_port()}",
        network="host", entrypoint="python3",
    )  # fmt: skip
    assert probe.returncode == 1
    assert "UNAVAILABLE" in probe.stderr or "DEADLINE_EXCEEDED" in probe.stderr


def rollouts_served(server: podman.Server) -> int:
    """Rollout calls in a dynamics replica's access log (JSON lines on stderr)."""
    return server.logs().count('"method": "/worldflux.v1.DynamicsService/Rollout"')


def test_plan_through_containers_round_robin(stack: Stack) -> None:
    before = [rollouts_served(server) for server in stack.dynamics]
    replies = plan(stack, calls=4)
    assert len(replies) == 4
    for reply in replies:
        assert reply["kind"] == "continuous"
        assert reply["shape"] == [3, BATCH, ACTION_DIM]  # [H, B, A]
        assert reply["finite"] is True
        assert -1.0 <= float(reply["min"]) <= float(reply["max"]) <= 1.0  # Pendulum-like bounds
        assert reply["horizon"] == 3
        assert int(reply["rollout_calls"]) == ITERATIONS
        assert reply["dynamics_target"] in {server.target for server in stack.dynamics}
    # Round-robin: both replicas served rollouts of these plans.
    after = [rollouts_served(server) for server in stack.dynamics]
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
    assert sum(after) - sum(before) >= sum(int(reply["rollout_calls"]) for reply in replies)


def test_sigterm_drains_a_dynamics_replica_and_the_planner_fails_over(stack: Stack) -> None:
    """Last in this module: it stops one replica of the shared stack."""
    stopped, alive = stack.dynamics
    took = stopped.stop(grace_s=30)
    state = stopped.state()
    assert state == {"status": "exited", "exit_code": "0"}, stopped.logs()
    assert took < 30  # drained and exited on SIGTERM, not killed after the grace period
    assert '"draining"' in stopped.logs()
    before = rollouts_served(alive)
    replies = plan(stack, calls=2)
    assert {reply["dynamics_target"] for reply in replies} == {alive.target}
    assert all(reply["finite"] for reply in replies)
    assert rollouts_served(alive) - before >= sum(int(r["rollout_calls"]) for r in replies)
