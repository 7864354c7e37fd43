"""A Python client of the planner service: what a robot-side process calls.

with PlannerClient("127.0.0.1:50071", token=...) as client:
    action, stats = client.plan(obs)              # obs [B, *obs_shape]
    with client.control() as episode:             # closed loop, warm-started
        action, stats = episode.step(obs)
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from types import TracebackType

import torch

from worldflux.core import ActionPayload, ConditionPayload
from worldflux.rpc.channel import DEFAULT_MAX_MESSAGE_MB, ClientTLS, bearer_metadata, create_channel
from worldflux.rpc.codec import encode_tensor
from worldflux.rpc.convert import action_payload_from_proto, condition_to_proto
from worldflux.v1 import planner_pb2, planner_pb2_grpc

_END = object()


class ControlSession:
    """One Control stream: step() sends an observation and waits for its action."""

    def __init__(
        self,
        stub: planner_pb2_grpc.PlannerServiceStub,
        timeout_s: float | None,
        metadata: tuple[tuple[str, str], ...],
    ) -> None:
        self._requests: queue.Queue[object] = queue.Queue()
        self._responses = stub.Control(self._iterate(), timeout=timeout_s, metadata=metadata)

    def _iterate(self) -> Iterator[planner_pb2.ControlRequest]:
        while True:
            item = self._requests.get()
            if item is _END:
                return
            yield item  # type: ignore[misc]

    def step(
        self,
        obs: torch.Tensor,
        condition: ConditionPayload | None = None,
        reset: bool = False,
    ) -> tuple[ActionPayload, planner_pb2.PlanStats]:
        self._requests.put(
            planner_pb2.ControlRequest(
                observation=encode_tensor(obs), condition=condition_to_proto(condition), reset=reset
            )
        )
        response = next(self._responses)
        return action_payload_from_proto(response.action, "ControlResponse.action"), response.stats

    def close(self) -> None:
        self._requests.put(_END)
        for _ in self._responses:  # drain to the end of the stream
            pass

    def abort(self) -> None:
        """Cancel the stream (after a failed step) and end its request iterator, so no
        thread is left waiting for a request that will never come."""
        self._responses.cancel()  # type: ignore[attr-defined]
        self._requests.put(_END)

    def __enter__(self) -> ControlSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if err is None:
            self.close()
        else:
            self.abort()


class PlannerClient:
    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        tls: ClientTLS | None = None,
        max_message_mb: float = DEFAULT_MAX_MESSAGE_MB,
    ) -> None:
        self.channel = create_channel(target, tls=tls, max_message_mb=max_message_mb)
        self.stub = planner_pb2_grpc.PlannerServiceStub(self.channel)
        self.metadata = bearer_metadata(token)

    def plan(
        self,
        obs: torch.Tensor,
        condition: ConditionPayload | None = None,
        timeout_s: float | None = 30.0,
    ) -> tuple[ActionPayload, planner_pb2.PlanStats]:
        """Plan for obs [B, *obs_shape]; raises grpc.RpcError with the service's status."""
        response = self.stub.Plan(
            planner_pb2.PlanRequest(
                observation=encode_tensor(obs), condition=condition_to_proto(condition)
            ),
            timeout=timeout_s,
            metadata=self.metadata,
        )
        return action_payload_from_proto(response.action, "PlanResponse.action"), response.stats

    def control(self, timeout_s: float | None = None) -> ControlSession:
        return ControlSession(self.stub, timeout_s, self.metadata)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> PlannerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
