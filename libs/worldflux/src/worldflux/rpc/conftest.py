"""In-process servers for the rpc tests: real gRPC over loopback, no subprocesses."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
import torch
from plugin_family.toy_family import ToyConfig, ToyWorldModel

from worldflux.core import LatentState, ModelSpec
from worldflux.rpc.dynamics_servicer import DynamicsLimits, DynamicsServicer
from worldflux.rpc.server import RunningServer, ServerConfig, start_server

StartDynamics = Callable[..., RunningServer]


def toy_model(seed: int = 0, **config: object) -> ToyWorldModel:
    torch.manual_seed(seed)
    values: dict[str, object] = {"obs_shape": (3,), "action_dim": 2, **config}
    return ToyWorldModel(ToyConfig(**values))  # type: ignore[arg-type]


def target(server: object) -> str:
    return f"127.0.0.1:{server.port}"  # type: ignore[attr-defined]


def free_port() -> int:
    """A port with nothing listening on it (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PriorToy(ToyWorldModel):
    """The toy family with a deterministic policy prior, to exercise Propose."""

    @property
    def spec(self) -> ModelSpec:
        return dataclasses.replace(super().spec, has_policy_prior=True)

    def propose(self, state: LatentState, horizon: int, num_samples: int) -> torch.Tensor:
        z = state["z"].repeat_interleave(num_samples, 0)
        return torch.tanh(z[:, None, : self.config.action_dim]).expand(-1, horizon, -1)


class SlowServicer(DynamicsServicer):
    """Rollout blocks until released (or `delay_s` passes): a hung replica."""

    def __init__(self, model: ToyWorldModel, delay_s: float) -> None:
        super().__init__(model)
        self.delay_s = delay_s
        self.release = threading.Event()

    def Rollout(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        self.release.wait(self.delay_s)
        return super().Rollout(request, context)


@pytest.fixture
def start_dynamics() -> Iterator[StartDynamics]:
    """start_dynamics(model=None, limits=None, servicer=None, **ServerConfig fields)."""
    running: list[RunningServer] = []

    def start(
        model: ToyWorldModel | None = None,
        limits: DynamicsLimits | None = None,
        servicer: object | None = None,
        **config: object,
    ) -> RunningServer:
        servicer = servicer or DynamicsServicer(model or toy_model(), limits)
        server = start_server(
            "dynamics",
            [servicer.service()],  # type: ignore[attr-defined]
            ServerConfig(**config),  # type: ignore[arg-type]
        )
        running.append(server)
        return server

    yield start
    for server in running:
        server.drain(0)
