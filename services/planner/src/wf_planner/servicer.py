"""PlannerService: Plan (unary) and Control (bidirectional stream) over any Dynamics.

In deployment the dynamics are `RemoteDynamics` (replicas of a dynamics service); each call then
plans inside its `scope(remaining time of the incoming call)`, so every dynamics RPC it makes
ends before the caller stops waiting (deadline propagation). In-process dynamics work the same
without a scope. Each Control
stream keeps its own warm-start PlannerState and random generator; Plan calls start from the
configured seed, so the same observation gets the same plan.

What the caller sees of a failure is the planner's own account (`planner_status`): a replica's
fault is UNAVAILABLE after failover, never the caller's INVALID_ARGUMENT; replica addresses and
internal text stay in the planner's log.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

import grpc
import torch

from worldflux.core import ConditionPayload, ContractError
from worldflux.planners import AutoPlanner, Dynamics, Planner, PlannerState, PlanResult, PlanStats
from worldflux.rpc.codec import DEFAULT_MAX_ELEMENTS, decode_tensor
from worldflux.rpc.convert import action_payload_to_proto, condition_from_proto
from worldflux.rpc.errors import (
    ContractChangedError,
    DeadlineError,
    NoReplicaError,
    RemoteError,
    status_for,
)
from worldflux.rpc.interceptors import context_code
from worldflux.rpc.server import Service, guarded
from worldflux.v1 import payload_pb2, planner_pb2, tensor_pb2

log = logging.getLogger(__name__)
SERVICE_DESCRIPTOR = planner_pb2.DESCRIPTOR.services_by_name["PlannerService"]
# gRPC reports "no deadline" as a remaining time of centuries.
NO_DEADLINE_S = 1e7


def stats_to_proto(stats: PlanStats) -> planner_pb2.PlanStats:
    return planner_pb2.PlanStats(
        iterations=stats.iterations,
        candidates=stats.candidates,
        horizon=stats.horizon,
        elapsed_ms=stats.elapsed_ms,
        objective=stats.objective,
        dynamics_target=stats.dynamics_target,
        failovers=stats.failovers,
        warm_started=stats.warm_started,
        rollout_calls=stats.rollout_calls,
    )


# Addresses a message may carry: gRPC URIs and peers, [v6]:port, v4[:port], host:port.
_ADDRESS = re.compile(
    r"(?:dns:|ipv4:|ipv6:|unix:)\S+"
    r"|\[[0-9a-fA-F:.]+\](?::\d+)?"
    r"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"
    r"|\b[A-Za-z][\w.-]*:\d{2,5}\b"
)


def scrub(text: str) -> str:
    """`text` without network addresses (they name internal replicas)."""
    return _ADDRESS.sub("<dynamics>", text)


def planner_status(err: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status and message the planner's caller gets for `err`.

    Failures of the dynamics are told in the planner's words (the replicas' own text and
    addresses go to the log); the dynamics refusing the *planner's* credentials is not the
    caller's authentication problem; the caller's own bad input keeps its precise message.
    """
    if isinstance(err, RemoteError):
        log.warning("dynamics failure", extra={"code": err.code.name, "details": str(err)})
        if err.code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return (
                grpc.StatusCode.INTERNAL,
                "the dynamics service refused the planner's credentials (see the planner's log)",
            )
        if isinstance(err, ContractChangedError):
            return err.code, "the dynamics service now serves another model: plan again"
        if isinstance(err, NoReplicaError):
            return (
                grpc.StatusCode.UNAVAILABLE,
                "no dynamics replica could serve this plan; retry later",
            )
        if isinstance(err, DeadlineError):
            return err.code, "the deadline ran out while planning"
        return err.code, f"the dynamics service failed ({err.code.name})"
    code, message = status_for(err)
    return code, scrub(message)


class PlannerServicer:
    def __init__(
        self,
        planner: Planner | AutoPlanner,
        dynamics: Dynamics,
        *,
        seed: int = 0,
        default_deadline_s: float = 30.0,
        max_elements: int = DEFAULT_MAX_ELEMENTS,
    ) -> None:
        self.planner = planner
        self.dynamics = dynamics
        self.seed = seed
        self.default_deadline_s = default_deadline_s
        self.max_elements = max_elements

    def service(self) -> Service:
        return Service(SERVICE_DESCRIPTOR, self)

    # -- helpers ---------------------------------------------------------------------------
    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed)

    def _observation(self, message: tensor_pb2.Tensor, field: str, present: bool) -> torch.Tensor:
        if not present:
            raise ContractError(f"{field} is missing")
        return decode_tensor(
            message, field=field, max_elements=self.max_elements, require_finite=True
        )

    def _condition(
        self, message: payload_pb2.ConditionPayload, field: str
    ) -> ConditionPayload | None:
        return condition_from_proto(message, field, self.max_elements)

    def _budget(self, context: grpc.ServicerContext) -> float:
        remaining = context.time_remaining()
        if remaining is None or remaining > NO_DEADLINE_S:
            return self.default_deadline_s
        return float(remaining)

    def _plan(
        self,
        context: grpc.ServicerContext,
        obs: torch.Tensor,
        condition: ConditionPayload | None,
        state: PlannerState | None,
        generator: torch.Generator,
    ) -> PlanResult:
        scoped = getattr(self.dynamics, "scope", None)  # transports that call out have one
        for attempt in range(2):
            budget = self._budget(context)
            within = scoped(budget, context.is_active) if scoped else contextlib.nullcontext()
            with within as scope:
                try:
                    result = self.planner.plan(
                        self.dynamics, obs, condition, state, generator=generator
                    )
                except ContractChangedError:
                    if attempt:
                        raise
                    # The dynamics were redeployed with another model: a warm start from the
                    # old one means nothing now. Plan again from scratch, once.
                    state = None
                    continue
            result.stats.dynamics_target = getattr(scope, "last_target", None) or ""
            result.stats.failovers = getattr(scope, "failovers", 0)
            return result
        raise AssertionError("unreachable")

    # -- RPCs -----------------------------------------------------------------------------
    @guarded
    def Plan(  # noqa: N802  (gRPC method names)
        self, request: planner_pb2.PlanRequest, context: grpc.ServicerContext
    ) -> planner_pb2.PlanResponse:
        try:
            obs = self._observation(
                request.observation, "PlanRequest.observation", request.HasField("observation")
            )
            condition = self._condition(request.condition, "PlanRequest.condition")
            result = self._plan(context, obs, condition, None, self._generator())
        except Exception as err:
            if context_code(context) is not None:  # already aborted with a chosen status
                raise
            code, message = planner_status(err)
            if code == grpc.StatusCode.INTERNAL and not isinstance(err, RemoteError):
                log.exception("unexpected error in Plan")
            context.abort(code, message)
        return planner_pb2.PlanResponse(
            action=action_payload_to_proto(result.action), stats=stats_to_proto(result.stats)
        )

    def Control(  # noqa: N802
        self, requests: Iterator[planner_pb2.ControlRequest], context: grpc.ServicerContext
    ) -> Iterator[planner_pb2.ControlResponse]:
        state: PlannerState | None = None
        generator = self._generator()
        step = 0
        try:
            for request in requests:
                if request.reset:
                    state, generator = None, self._generator()
                field = f"ControlRequest[{step}]"
                obs = self._observation(
                    request.observation, f"{field}.observation", request.HasField("observation")
                )
                condition = self._condition(request.condition, f"{field}.condition")
                result = self._plan(context, obs, condition, state, generator)
                state = result.state
                step += 1
                yield planner_pb2.ControlResponse(
                    action=action_payload_to_proto(result.action),
                    stats=stats_to_proto(result.stats),
                )
        except Exception as err:
            if context_code(context) is not None:
                raise
            code, message = planner_status(err)
            if code == grpc.StatusCode.INTERNAL:
                log.exception("unexpected error in Control")
            context.abort(code, message)
