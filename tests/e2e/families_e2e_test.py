"""Planner-boundary gate over real sockets: one planner process, started once with one command
line, plans for every family that can be planned with while the dynamics service behind its one
address is redeployed with each family in turn. Nothing about the planner changes: not its code,
not its flags, not even its process.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import torch

from e2e import procs
from wf_planner.client import PlannerClient
from worldflux.core import PLANNER_HORIZON_KEY, ActionKind, list_models

HORIZON = 3
# family id, dynamics flags, observation, expected kind, planner picked by --planner auto
FAMILIES = [
    ("toy:ci", procs.toy_args(), (3,), ActionKind.CONTINUOUS, "mppi"),
    (
        "toy:ci (discrete)",
        [*procs.toy_args(), "--action-kind", "discrete", "--action-dim", "3"],
        (3,),
        ActionKind.DISCRETE,
        "discrete-cem",
    ),
    (
        "tdmpc2:ci",
        ["--model", "tdmpc2:ci", "--obs-shape", "3", "--action-dim", "1"],
        (3,),
        ActionKind.CONTINUOUS,
        "mppi",
    ),
    (
        "dreamerv3:ci",
        ["--model", "dreamerv3:ci", "--obs-shape", "3", "--action-dim", "1"],
        (3,),
        ActionKind.CONTINUOUS,
        "mppi",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Deployment:
    """The fixed dynamics address the planner knows, and whatever currently serves it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.current: procs.Service | None = None
        self.planner = procs.planner(
            "--dynamics",
            f"127.0.0.1:{self.port}",
            "--horizon",
            str(HORIZON),
            "--iterations",
            "3",
            "--samples",
            "64",
            "--elites",
            "8",
            "--pi-trajs",
            "4",
        )
        procs.start_all(self.planner)

    def deploy(self, flags: list[str], name: str) -> procs.Service:
        if self.current is not None:
            assert self.current.stop() == 0  # drained cleanly
        service = procs.Service(
            "wf_dynamics.main", ["--port", str(self.port), *flags], f"dynamics-{name}"
        )
        self.current = service
        return service.wait_ready()

    def stop(self) -> None:
        for service in (self.planner, self.current):
            if service is not None:
                service.stop(5)


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    running = Deployment()
    yield running
    running.stop()


def available(model_id: str) -> bool:
    family = model_id.split(":")[0]
    return family == "toy" or any(m.startswith(family + ":") for m in list_models())


@pytest.mark.parametrize(
    ("model_id", "flags", "obs_shape", "kind", "planner_name"),
    FAMILIES,
    ids=[f[0] for f in FAMILIES],
)
def test_swapping_the_family_needs_no_planner_change(
    deployment: Deployment,
    model_id: str,
    flags: list[str],
    obs_shape: tuple[int, ...],
    kind: ActionKind,
    planner_name: str,
) -> None:
    if not available(model_id):
        pytest.skip(f"{model_id.split(':')[0]} is not in worldflux.models.catalog yet")
    served = deployment.deploy(flags, model_id.split(" ")[0].replace(":", "-"))
    assert served.ready["model_id"] == model_id.split(" ")[0]
    obs = torch.randn(2, *obs_shape, generator=torch.Generator().manual_seed(0))
    with PlannerClient(deployment.planner.target) as client:
        action, stats = client.plan(obs, timeout_s=120)
        again, _ = client.plan(obs, timeout_s=120)
    assert action.kind is kind
    assert action.extras[PLANNER_HORIZON_KEY] == HORIZON
    assert action.extras["wf.planner.name"] == planner_name
    primary = action.primary
    assert isinstance(primary, torch.Tensor)
    expected = (HORIZON, 2, 1) if kind is ActionKind.CONTINUOUS else (HORIZON, 2)
    assert primary.shape == expected
    if kind is ActionKind.CONTINUOUS:
        assert bool(((primary >= -1) & (primary <= 1)).all())  # within the action bounds
    else:
        assert bool(((primary >= 0) & (primary < 3)).all())
    assert stats.rollout_calls == 3 and stats.dynamics_target == f"127.0.0.1:{deployment.port}"
    assert again.primary is not None
