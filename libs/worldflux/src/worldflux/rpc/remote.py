"""RemoteDynamics: the planners' Dynamics protocol over gRPC, across one or more replicas.

One Rollout RPC per planner iteration carries all N candidates. Every call has a deadline: the
per-call timeout, shortened to what is left of the enclosing `scope()` (a planner service opens
one per incoming request with the caller's remaining time, so deadlines propagate planner ->
dynamics). When a replica is unreachable or does not answer in time, the same request goes to
the next replica and the failed one is skipped for `down_for_s`: a dead replica costs at most
one deadline, never a hang. When every replica fails at once, the client waits up to
`reconnect_wait_s` for one to reconnect (a restarted replica is back within one reconnect
backoff) before answering UNAVAILABLE.

Every answer is validated (dtype, shape, finiteness, the spec): a bad answer, or an error status
the request cannot have earned (an INVALID_ARGUMENT for a request the planner built itself, an
INTERNAL), counts as that replica failing, exactly like a replica that does not answer; the
details go to the log, never verbatim to whoever called the planner.

Replicas must serve the same model, because a latent state from one replica is rolled out on
another: each replica's contract fingerprint is checked before its first use and after every
reconnect, and a replica serving another model is skipped. When no replica serves the pinned
model any more but one serves another (the deployment swapped the family), the client re-pins
to the new model and raises ContractChangedError once, so the caller plans again from scratch:
swapping the family is a redeployment of the dynamics service, never a planner change.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import grpc
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc

from worldflux.core.payload import ActionPayload, ConditionPayload
from worldflux.core.spec import ModelSpec
from worldflux.core.state import LatentState, Rollout
from worldflux.rpc.channel import DEFAULT_MAX_MESSAGE_MB, ClientTLS, bearer_metadata, create_channel
from worldflux.rpc.codec import encode_tensor
from worldflux.rpc.convert import (
    action_payload_from_proto,
    action_payload_to_proto,
    condition_to_proto,
    latent_state_from_proto,
    latent_state_to_proto,
    model_spec_from_proto,
    rollout_from_proto,
)
from worldflux.rpc.errors import (
    BUSY_KEY,
    ContractChangedError,
    DeadlineError,
    NoReplicaError,
    RemoteError,
    error_from_status,
)
from worldflux.rpc.replies import (
    BadReplyError,
    check_proposal,
    check_rollout,
    check_state,
    decoded,
)
from worldflux.v1 import dynamics_pb2, dynamics_pb2_grpc

log = logging.getLogger(__name__)

# Codes after which the same request may go to another replica: the replica is unreachable,
# overloaded, did not answer within its deadline, or failed in a way that is its own.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.NOT_FOUND,
    }
)
POLICIES = ("round_robin", "failover")
# Methods whose request is built from the caller's own input (observations, conditions), so
# that an INVALID_ARGUMENT answer is the caller's; for the others it is the replica's fault
# when the client runs with `caller_input=CALLER_INPUT` (as the planner service does).
CALLER_INPUT = ("Encode", "Observe")


# Waiting for a busy replica: first pause, and the longest.
BUSY_BACKOFF_S, BUSY_BACKOFF_MAX_S = 0.02, 0.5


def _is_busy(err: grpc.RpcError) -> bool:
    """RESOURCE_EXHAUSTED because the replica's model queue is full right now (BUSY_KEY)."""
    if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return False
    trailing = getattr(err, "trailing_metadata", None)
    return any(key == BUSY_KEY for key, _ in (trailing() if callable(trailing) else None) or ())


class _AllBusyError(Exception):
    """Every replica tried said RESOURCE_EXHAUSTED (busy): worth a retry after a pause."""

    def __init__(self, error: NoReplicaError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class CallScope:
    """One unit of work (a plan) over the remote dynamics: its deadline and what happened."""

    deadline: float | None = None  # time.monotonic() seconds
    # Whether whoever wanted the work still waits (a server passes context.is_active): once it
    # is False, no further dynamics call starts.
    alive: Callable[[], bool] | None = None
    calls: int = 0
    failovers: int = 0
    last_target: str | None = None
    targets: list[str] = field(default_factory=list)

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()


_scope: contextvars.ContextVar[CallScope | None] = contextvars.ContextVar(
    "worldflux_rpc_scope", default=None
)


class _Replica:
    def __init__(self, target: str, channel: grpc.Channel) -> None:
        self.target = target
        self.channel = channel
        self.stub = dynamics_pb2_grpc.DynamicsServiceStub(channel)
        # What the replica serves, as last verified; None means "ask again before use".
        self.spec: ModelSpec | None = None
        self.fingerprint: str | None = None
        self.incompatible: str | None = None
        self.down_until = 0.0
        channel.subscribe(self._on_connectivity, try_to_connect=False)

    def _on_connectivity(self, state: grpc.ChannelConnectivity) -> None:
        # A new connection may reach a restarted process serving another model: verify again.
        if state != grpc.ChannelConnectivity.READY:
            self.forget()

    def forget(self) -> None:
        self.spec = None
        self.fingerprint = None

    def is_down(self, now: float) -> bool:
        return self.down_until > now

    def close(self) -> None:
        self.channel.unsubscribe(self._on_connectivity)
        self.channel.close()


class RemoteDynamics:
    """Dynamics served by `wf-dynamics` replicas at `targets` ("host:port" or gRPC URIs).

    policy "round_robin" starts each call at the next healthy replica; "failover" always
    prefers the first healthy one in the given order. Either way a failed call is retried on the
    other replicas before giving up.
    """

    def __init__(
        self,
        targets: str | Sequence[str],
        *,
        token: str | None = None,
        tls: ClientTLS | None = None,
        timeout_s: float = 5.0,
        policy: str = "round_robin",
        down_for_s: float = 2.0,
        recheck_s: float = 10.0,
        reconnect_wait_s: float = 2.0,
        max_message_mb: float = DEFAULT_MAX_MESSAGE_MB,
        caller_input: Sequence[str] | None = None,
    ) -> None:
        target_list = [targets] if isinstance(targets, str) else list(targets)
        if not target_list:
            raise ValueError("RemoteDynamics needs at least one target")
        if policy not in POLICIES:
            raise ValueError(f"policy {policy!r} is not one of {POLICIES}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.timeout_s = timeout_s
        self.policy = policy
        self.down_for_s = down_for_s
        self.recheck_s = recheck_s
        self.reconnect_wait_s = reconnect_wait_s
        # None: every INVALID_ARGUMENT is the caller's (a library user sends its own requests).
        self.caller_input = None if caller_input is None else frozenset(caller_input)
        self._metadata = bearer_metadata(token)
        self._replicas = [
            _Replica(t, create_channel(t, tls=tls, max_message_mb=max_message_mb))
            for t in target_list
        ]
        self._next = itertools.count()
        self._lock = threading.Lock()
        self._spec: ModelSpec | None = None
        self._fingerprint: str | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def targets(self) -> list[str]:
        return [r.target for r in self._replicas]

    def replica_status(self) -> list[dict[str, object]]:
        """Per target: whether it is marked down now and why it is excluded, if it is."""
        now = time.monotonic()
        return [
            {
                "target": r.target,
                "down": r.is_down(now),
                "incompatible": r.incompatible,
                "fingerprint": r.fingerprint,
            }
            for r in self._replicas
        ]

    def reachable(self, timeout_s: float = 1.0) -> bool:
        """Whether some replica answers its health check SERVING within `timeout_s` (health
        needs no token; a draining replica answers NOT_SERVING)."""
        request = health_pb2.HealthCheckRequest()
        for replica in self._replicas:
            try:
                reply = health_pb2_grpc.HealthStub(replica.channel).Check(
                    request, timeout=timeout_s
                )
            except grpc.RpcError:
                continue
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return True
        return False

    def close(self) -> None:
        for replica in self._replicas:
            replica.close()

    def __enter__(self) -> RemoteDynamics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def scope(
        self, timeout_s: float | None = None, alive: Callable[[], bool] | None = None
    ) -> Iterator[CallScope]:
        """Calls inside share a deadline `timeout_s` from now (nested scopes only shorten it)
        and stop starting once `alive()` turns False (the caller went away)."""
        deadline = None if timeout_s is None else time.monotonic() + max(timeout_s, 0.0)
        parent = _scope.get()
        if parent is not None and parent.deadline is not None:
            deadline = parent.deadline if deadline is None else min(deadline, parent.deadline)
        current = CallScope(deadline, alive or (parent.alive if parent is not None else None))
        token = _scope.set(current)
        try:
            yield current
        finally:
            _scope.reset(token)

    # -- the Dynamics protocol -------------------------------------------------------------
    @property
    def spec(self) -> ModelSpec:
        if self._spec is None:
            self._call(None, None)
        assert self._spec is not None
        return self._spec

    @property
    def fingerprint(self) -> str:
        self.spec  # noqa: B018  (fetches it)
        return self._fingerprint or ""

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        request = dynamics_pb2.EncodeRequest(
            observation=encode_tensor(obs), condition=condition_to_proto(condition)
        )
        batch = obs.shape[0]
        return self._call(  # type: ignore[no-any-return]
            "Encode",
            request,
            lambda r: check_state(
                latent_state_from_proto(r.state, "EncodeResponse.state"),
                batch,
                "EncodeResponse.state",
            ),
        )

    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
        *,
        latents: Sequence[str] | None = None,
    ) -> Rollout:
        """See Dynamics.rollout: latents None asks for every latent, empty for none (they come
        back as zero-width placeholders), names for those only."""
        names = [] if latents is None else list(latents)
        omit = latents is not None and not names
        request = dynamics_pb2.RolloutRequest(
            state=latent_state_to_proto(state),
            actions=action_payload_to_proto(self._payload(actions)),
            condition=condition_to_proto(condition),
            latents=names,
            omit_latents=omit,
        )
        n, h = actions.shape[0], actions.shape[1]
        return self._call(  # type: ignore[no-any-return]
            "Rollout",
            request,
            lambda r: check_rollout(rollout_from_proto(r, "RolloutResponse"), n, h, names, omit),
        )

    def propose(self, state: LatentState, horizon: int, num_samples: int) -> torch.Tensor | None:
        if not self.spec.has_policy_prior:
            return None
        request = dynamics_pb2.ProposeRequest(
            state=latent_state_to_proto(state), horizon=horizon, num_samples=num_samples
        )
        rows = state.batch_size * num_samples

        def parse(response: dynamics_pb2.ProposeResponse) -> torch.Tensor | None:
            if not response.HasField("actions"):
                return None
            payload = action_payload_from_proto(response.actions, "ProposeResponse.actions")
            primary = payload.primary
            if not isinstance(primary, torch.Tensor):
                raise BadReplyError("ProposeResponse.actions carries no tensor")
            return check_proposal(primary, rows, horizon)

        return self._call("Propose", request, parse)  # type: ignore[no-any-return]

    def observe(self, state: LatentState, action: torch.Tensor, obs: torch.Tensor) -> LatentState:
        """Posterior update after taking `action` [B, ...] and seeing `obs` [B, ...]."""
        request = dynamics_pb2.ObserveRequest(
            state=latent_state_to_proto(state),
            action=action_payload_to_proto(self._payload(action)),
            observation=encode_tensor(obs),
        )
        batch = state.batch_size
        return self._call(  # type: ignore[no-any-return]
            "Observe",
            request,
            lambda r: check_state(
                latent_state_from_proto(r.state, "ObserveResponse.state"),
                batch,
                "ObserveResponse.state",
            ),
        )

    # -- internals -------------------------------------------------------------------------
    def _payload(self, actions: torch.Tensor) -> ActionPayload:
        return ActionPayload.of(self.spec.action.kind, actions)

    def _order(self) -> list[_Replica]:
        now = time.monotonic()
        for replica in self._replicas:
            if replica.incompatible is not None and not replica.is_down(now):
                replica.incompatible = None  # its recheck window is over: ask it again
                replica.forget()
        order = list(self._replicas)
        if self.policy == "round_robin":
            start = next(self._next) % len(order)
            order = order[start:] + order[:start]
        # Replicas marked down go last: tried only when every healthy one has failed.
        return sorted(order, key=lambda r: r.is_down(now))

    def _timeout(self, scope: CallScope) -> float:
        if scope.alive is not None and not scope.alive():
            raise RemoteError(grpc.StatusCode.CANCELLED, "the caller cancelled; planning stopped")
        remaining = scope.remaining()
        if remaining is None:
            return self.timeout_s
        if remaining <= 0:
            raise DeadlineError("the deadline ran out before the dynamics call could start")
        return min(self.timeout_s, remaining)

    def _verify(self, replica: _Replica, scope: CallScope) -> bool:
        """True when the replica serves the pinned contract (pinning it if none is yet)."""
        if replica.fingerprint is None:
            response = replica.stub.GetSpec(
                dynamics_pb2.GetSpecRequest(), timeout=self._timeout(scope), metadata=self._metadata
            )
            spec = decoded("GetSpecResponse.spec", lambda: model_spec_from_proto(response.spec))
            if not response.spec.fingerprint:
                raise BadReplyError("GetSpecResponse.spec has no fingerprint")
            replica.spec = spec  # type: ignore[assignment]
            replica.fingerprint = response.spec.fingerprint
        with self._lock:
            if self._spec is None:
                self._spec, self._fingerprint = replica.spec, replica.fingerprint
            if replica.fingerprint == self._fingerprint:
                replica.incompatible = None
                return True
            assert replica.spec is not None
            replica.incompatible = (
                f"{replica.target} serves {replica.spec.model_id} with fingerprint "
                f"{replica.fingerprint}, not the pinned {self._fingerprint}"
            )
            replica.down_until = time.monotonic() + self.recheck_s
        log.warning("dynamics replica serves another model", extra={"reason": replica.incompatible})
        return False

    def _repin(self, replica: _Replica) -> ContractChangedError:
        """No replica serves the pinned contract any more, but `replica` serves another one:
        adopt it (a redeployment swapped the model) and tell the caller to start over."""
        with self._lock:
            old = self._spec.model_id if self._spec is not None else "?"
            old_fingerprint = self._fingerprint
            self._spec, self._fingerprint = replica.spec, replica.fingerprint
            for other in self._replicas:
                if other.fingerprint == replica.fingerprint:
                    other.incompatible = None
                    other.down_until = 0.0
        assert replica.spec is not None
        message = (
            f"the dynamics replicas now serve {replica.spec.model_id} (fingerprint "
            f"{replica.fingerprint}) instead of {old} ({old_fingerprint}): plan again"
        )
        log.warning("dynamics contract changed", extra={"details": message})
        return ContractChangedError(grpc.StatusCode.UNAVAILABLE, message, replica.target)

    def _await_reconnect(self, scope: CallScope) -> list[_Replica]:
        """Wait (at most reconnect_wait_s, within the deadline) until some replica's channel is
        connected again, and return those that are.

        Every replica failed fast, which also happens for a moment after a replica restarts:
        its channel is still in reconnect backoff. Waiting one backoff period turns that into
        a short delay instead of an error, and still bounds the cost of dead replicas.
        """
        remaining = scope.remaining()
        budget = (
            self.reconnect_wait_s if remaining is None else min(self.reconnect_wait_s, remaining)
        )
        if budget <= 0:
            return []
        futures = {r.target: grpc.channel_ready_future(r.channel) for r in self._replicas}
        deadline = time.monotonic() + budget
        try:
            while time.monotonic() < deadline:
                ready = [r for r in self._replicas if futures[r.target].done()]
                if ready:
                    return ready
                time.sleep(0.02)
            return []
        finally:
            for future in futures.values():
                future.cancel()

    def _replica_fault(self, method: str | None, code: grpc.StatusCode) -> bool:
        """Whether a failed call is the replica's fault (fail over) rather than the caller's."""
        if code in RETRYABLE:
            return True
        if self.caller_input is None:  # a library user sized and built the request itself
            return False
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:  # busy, or limits the planner exceeded
            return True
        return code == grpc.StatusCode.INVALID_ARGUMENT and method not in self.caller_input

    def _call(
        self, method: str | None, request: Any, parse: Callable[[Any], Any] | None = None
    ) -> Any:
        """`_call_once`, again after a short backoff while every replica answered "busy"
        (RESOURCE_EXHAUSTED: their model queues are full), within the deadline (or `timeout_s`
        without one). A replica refuses at once rather than queue without bound; its clients
        wait politely instead of failing a plan at the first busy moment."""
        scope = _scope.get() or CallScope()
        give_up = time.monotonic() + self.timeout_s
        backoff = BUSY_BACKOFF_S
        while True:
            try:
                return self._call_once(method, request, parse, scope)
            except _AllBusyError as busy:
                remaining = give_up - time.monotonic()
                if scope.remaining() is not None:
                    remaining = min(remaining, scope.remaining() or 0.0)
                if remaining <= backoff:
                    raise busy.error from None
                time.sleep(backoff)
                backoff = min(2 * backoff, BUSY_BACKOFF_MAX_S)

    def _call_once(
        self,
        method: str | None,
        request: Any,
        parse: Callable[[Any], Any] | None,
        scope: CallScope,
    ) -> Any:
        """Send `request` to `method` on one replica, failing over when the replica fails:
        a RETRYABLE code, an error that is the replica's fault, or an answer that `parse`
        (decode and validate) rejects.

        method None only makes sure some replica's spec is known.
        """
        errors: list[str] = []
        all_busy = True
        other_contract: _Replica | None = None
        candidates = self._order()
        for attempt in range(2):
            for replica in candidates:
                try:
                    if not self._verify(replica, scope):
                        other_contract = other_contract or replica
                        errors.append(str(replica.incompatible))
                        continue
                    response = (
                        None
                        if method is None
                        else getattr(replica.stub, method)(
                            request, timeout=self._timeout(scope), metadata=self._metadata
                        )
                    )
                    if parse is not None:
                        response = decoded(f"{method}Response", partial(parse, response))
                except (grpc.RpcError, BadReplyError) as err:
                    busy = False
                    if isinstance(err, BadReplyError):
                        code, details = grpc.StatusCode.DATA_LOSS, f"bad answer: {err}"
                    else:
                        code, details = err.code(), err.details() or ""
                        busy = _is_busy(err)
                    if not (busy or self._replica_fault(method, code)):
                        raise error_from_status(code, details, replica.target) from None
                    remaining = scope.remaining()
                    if remaining is not None and remaining <= 0:
                        raise DeadlineError(
                            f"deadline exceeded waiting for {replica.target}", replica.target
                        ) from None
                    if not busy:  # busy is not down
                        replica.forget()  # it may come back serving something else
                        replica.down_until = time.monotonic() + self.down_for_s
                    scope.failovers += 1
                    all_busy = all_busy and busy
                    errors.append(f"{replica.target}: {code.name} {details}")
                    log.warning(
                        "dynamics replica failed; trying the next one",
                        extra={"target": replica.target, "code": code.name, "details": details},
                    )
                    continue
                replica.down_until = 0.0
                scope.calls += 1
                scope.last_target = replica.target
                if replica.target not in scope.targets:
                    scope.targets.append(replica.target)
                return response
            if other_contract is not None or attempt:
                break
            candidates = self._await_reconnect(scope)
            if not candidates:
                break
        if other_contract is not None:
            raise self._repin(other_contract)
        message = f"no dynamics replica answered ({len(self._replicas)} configured)"
        log.warning("no dynamics replica answered", extra={"details": "; ".join(errors)})
        error = NoReplicaError(grpc.StatusCode.UNAVAILABLE, f"{message}: " + "; ".join(errors))
        if all_busy and errors:
            raise _AllBusyError(error)
        raise error
