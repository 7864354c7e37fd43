"""What a dynamics replica answers is checked like what a caller sends.

A replica with a bug, a wrong model or a corrupted answer must not reach the planner's caller as
the caller's fault, nor skew a plan (an int64 reward of 1e19, a NaN, a rollout for another N).
Each check here raises `BadReplyError` naming what was wrong; `RemoteDynamics` then treats the
replica as failed (marks it down, tries the next one) exactly as if it had not answered.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from worldflux.core.errors import ContractError
from worldflux.core.state import LatentState, Rollout
from worldflux.rpc.codec import TensorCodecError


class BadReplyError(RuntimeError):
    """A replica's answer failed validation: the replica's fault, never the caller's."""


def _finite(name: str, tensor: torch.Tensor) -> None:
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise BadReplyError(f"{name} holds NaN or infinite values")


def _float32(name: str, tensor: torch.Tensor, shape: tuple[int, ...]) -> None:
    if tensor.dtype != torch.float32:
        raise BadReplyError(f"{name} is {tensor.dtype}, expected float32")
    if tuple(tensor.shape) != shape:
        raise BadReplyError(f"{name} has shape {list(tensor.shape)}, expected {list(shape)}")
    _finite(name, tensor)


def decoded(what: str, parse: object) -> object:
    """Run `parse()` (a proto -> core conversion); a decoding error is a bad reply."""
    try:
        return parse()  # type: ignore[operator]
    except (ContractError, TensorCodecError, ValueError, KeyError) as err:
        raise BadReplyError(f"{what} cannot be decoded: {err}") from None


def check_rollout(
    rollout: Rollout,
    candidates: int,
    horizon: int,
    latents: Sequence[str],
    omit_latents: bool,
) -> Rollout:
    """The rollout answers exactly the request: N x H, the asked latents, finite float32."""
    missing = sorted(set(latents) - set(rollout.latents))
    if missing:
        raise BadReplyError(f"RolloutResponse lacks the latents {missing}")
    for name, tensor in rollout.latents.items():
        if tuple(tensor.shape[:2]) != (candidates, horizon):
            raise BadReplyError(
                f"RolloutResponse.latents[{name!r}] has shape {list(tensor.shape)}, "
                f"expected [{candidates}, {horizon}, ...]"
            )
        if omit_latents and tensor.numel():
            raise BadReplyError(f"RolloutResponse.latents[{name!r}] should be empty (omitted)")
        _finite(f"RolloutResponse.latents[{name!r}]", tensor)
    for name in ("rewards", "continues"):
        value = getattr(rollout, name)
        if value is not None:
            _float32(f"RolloutResponse.{name}", value, (candidates, horizon))
    if rollout.values is not None:
        _float32("RolloutResponse.values", rollout.values, (candidates,))
    return rollout


def check_state(state: LatentState, batch: int, what: str) -> LatentState:
    """A latent state for `batch` samples, every tensor finite."""
    for name, tensor in state.tensors.items():
        if tensor.dim() == 0 or tensor.shape[0] != batch:
            raise BadReplyError(
                f"{what}[{name!r}] has shape {list(tensor.shape)}, expected batch {batch}"
            )
        _finite(f"{what}[{name!r}]", tensor)
    return state


def check_proposal(actions: torch.Tensor, rows: int, horizon: int) -> torch.Tensor:
    """Proposed action sequences [rows, H, ...], finite."""
    if actions.dim() < 2 or tuple(actions.shape[:2]) != (rows, horizon):
        raise BadReplyError(
            f"ProposeResponse.actions has shape {list(actions.shape)}, "
            f"expected [{rows}, {horizon}, ...]"
        )
    _finite("ProposeResponse.actions", actions)
    return actions
