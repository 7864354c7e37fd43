"""Errors across the wire, and the one table mapping exceptions to gRPC status codes.

Servers answer with `status_for(err)`; clients turn a status back into the matching exception
(INVALID_ARGUMENT becomes ContractError with the server's message), so a planner service relays
a dynamics service's precise message to its own caller unchanged.
"""

from __future__ import annotations

import grpc

from worldflux.core.errors import ContractError
from worldflux.rpc.codec import TensorCodecError, TensorTooLargeError


class RequestTooLargeError(ContractError):
    """A well-formed request bigger than this server accepts (RESOURCE_EXHAUSTED)."""


# Trailing metadata key marking a RESOURCE_EXHAUSTED answer as "busy now" (worth a retry after
# a pause) rather than "too large" (never worth one).
BUSY_KEY = "wf-busy"


class ServerBusyError(RuntimeError):
    """Too many calls already wait for this server's model (RESOURCE_EXHAUSTED with BUSY_KEY,
    retryable later or elsewhere): refused at once instead of queueing without bound."""


class RemoteError(RuntimeError):
    """A remote call ended with a non-OK status that is not the caller's bad input."""

    def __init__(self, code: grpc.StatusCode, message: str, target: str | None = None) -> None:
        where = f" from {target}" if target else ""
        super().__init__(f"{code.name}{where}: {message}")
        self.code = code
        self.details = message
        self.target = target


class NoReplicaError(RemoteError):
    """Every dynamics replica failed or is marked down: UNAVAILABLE."""


class ContractChangedError(NoReplicaError):
    """The replicas were redeployed with another model; the client re-pinned to it.

    Whatever was computed against the old model (latent states, warm starts) is stale: start
    the plan again. UNAVAILABLE on the wire, because retrying is the right reaction.
    """


class DeadlineError(RemoteError):
    """The caller's deadline ran out before the remote work finished."""

    def __init__(self, message: str, target: str | None = None) -> None:
        super().__init__(grpc.StatusCode.DEADLINE_EXCEEDED, message, target)


def status_for(err: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status a server answers for `err`; anything unexpected is INTERNAL."""
    if isinstance(err, RemoteError):
        return err.code, err.details
    if isinstance(err, TensorTooLargeError | RequestTooLargeError | ServerBusyError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(err)
    if isinstance(err, ContractError | TensorCodecError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(err)
    return grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}"


def error_from_status(code: grpc.StatusCode, details: str, target: str | None) -> Exception:
    """The client-side exception for a failed call."""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ContractError(details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineError(details, target)
    return RemoteError(code, details, target)
