"""Planner readiness follows the dynamics replicas; liveness ("") does not."""

from __future__ import annotations

import grpc
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from plugin_family.toy_family import ToyConfig, ToyWorldModel

from wf_planner.readiness import Readiness
from wf_planner.servicer import SERVICE_DESCRIPTOR, PlannerServicer
from worldflux.planners import make_planner
from worldflux.rpc.dynamics_servicer import DynamicsServicer
from worldflux.rpc.remote import RemoteDynamics
from worldflux.rpc.server import ServerConfig, start_server

SERVING, NOT_SERVING = (
    health_pb2.HealthCheckResponse.SERVING,
    health_pb2.HealthCheckResponse.NOT_SERVING,
)


def status(port: int, service: str) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = health_pb2.HealthCheckRequest(service=service)
        return health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status


def test_readiness_follows_the_replicas_and_liveness_stays_serving() -> None:
    torch.manual_seed(0)
    model = ToyWorldModel(ToyConfig(obs_shape=(3,), action_dim=2))
    dynamics = start_server("dynamics", [DynamicsServicer(model).service()], ServerConfig())
    remote = RemoteDynamics(f"127.0.0.1:{dynamics.port}", timeout_s=2)
    servicer = PlannerServicer(make_planner("cem", horizon=2, num_samples=8, num_elites=2), remote)
    planner = start_server("planner", [servicer.service()], ServerConfig())
    name = SERVICE_DESCRIPTOR.full_name
    readiness = Readiness(remote, planner.health, name, period_s=0.1, timeout_s=0.5)
    try:
        assert readiness.start().ready is True
        assert status(planner.port, name) == SERVING
        dynamics.drain(0)  # the only replica goes away
        assert readiness.check() is False
        assert status(planner.port, name) == NOT_SERVING
        assert status(planner.port, "") == SERVING  # alive: no restart loop in Kubernetes
        planner.drain(0.5)
        assert readiness.check() is False  # after drain nothing turns it SERVING again
    finally:
        readiness.stop()
        remote.close()
        dynamics.drain(0)
        planner.drain(0)
