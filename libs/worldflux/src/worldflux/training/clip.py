"""Gradient clipping: global norm, or DreamerV3's adaptive clipping per tensor."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from worldflux.core.errors import ContractError

CLIPS = ("norm", "agc", "none")
AGC_FLOOR = 1e-3  # parameter norms below this count as this (fresh zero-initialised biases)


def global_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def clip_grad_agc_(
    params: Iterable[torch.nn.Parameter], clip: float, floor: float = AGC_FLOOR
) -> torch.Tensor:
    """Scale each gradient so that ||g|| <= clip * max(floor, ||p||); return the pre-clip norm.

    Relative clipping keeps updates proportional to the weights they change, whatever the
    loss scale, which is why DreamerV3 needs no per-domain clip threshold.
    """
    pairs = [(p, p.grad) for p in params if p.grad is not None]
    if not pairs:
        return torch.zeros(())
    grads = [g for _, g in pairs]
    total = global_norm(grads)
    grad_norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])
    param_norms = torch.stack([torch.linalg.vector_norm(p.detach()) for p, _ in pairs])
    upper = clip * param_norms.clamp(min=floor)
    scales = 1.0 / torch.clamp(grad_norms / upper, min=1.0)
    for g, scale in zip(grads, scales.unbind(), strict=True):
        g.mul_(scale)
    return total


def clip_gradients(params: list[torch.nn.Parameter], kind: str, value: float) -> torch.Tensor:
    """Clip in place as OptimizerSpec.clip says; return the global gradient norm before it."""
    if kind == "norm":
        return torch.nn.utils.clip_grad_norm_(params, value)
    if kind == "agc":
        return clip_grad_agc_(params, value)
    if kind == "none":
        return global_norm([p.grad for p in params if p.grad is not None])
    raise ContractError(f"unknown gradient clipping {kind!r}; expected one of {CLIPS}")
