"""Plan calls against a planner service, run INSIDE the planner image by the container smoke test.

    python3 /probe/plan_client.py HOST:PORT BATCH OBS_DIM CALLS

The test mounts this file into a container of the planner image (which has grpc, torch and the
worldflux protos) on the host's loopback, so the Plan call crosses from one container to the
planner container and on to the dynamics containers. Prints one JSON object per call: the action's
shape, range and finiteness, and the stats that name the dynamics replica that served it.
"""

from __future__ import annotations

import json
import sys

import grpc
import torch

from worldflux.core import ActionKind
from worldflux.rpc.codec import encode_tensor
from worldflux.rpc.convert import action_payload_from_proto
from worldflux.v1 import planner_pb2, planner_pb2_grpc


def main(argv: list[str]) -> int:
    target, batch, obs_dim, calls = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    generator = torch.Generator().manual_seed(0)
    with grpc.insecure_channel(target) as channel:
        stub = planner_pb2_grpc.PlannerServiceStub(channel)
        for _ in range(calls):
            obs = torch.randn(batch, obs_dim, generator=generator)
            reply = stub.Plan(planner_pb2.PlanRequest(observation=encode_tensor(obs)), timeout=120)
            action = action_payload_from_proto(reply.action, "PlanResponse.action")
            tensor = action.tensor
            assert tensor is not None, "a continuous model plans tensor actions"
            print(
                json.dumps(
                    {
                        "kind": ActionKind(action.kind).value,
                        "shape": list(tensor.shape),
                        "finite": bool(torch.isfinite(tensor).all()),
                        "min": float(tensor.min()),
                        "max": float(tensor.max()),
                        "extras": {k: v for k, v in action.extras.items() if isinstance(v, int)},
                        "horizon": reply.stats.horizon,
                        "rollout_calls": reply.stats.rollout_calls,
                        "dynamics_target": reply.stats.dynamics_target,
                        "failovers": reply.stats.failovers,
                    }
                ),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
