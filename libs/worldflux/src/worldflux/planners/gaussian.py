"""Diagonal-Gaussian action sampling shared by CEM and MPPI."""

from __future__ import annotations

import torch

from worldflux.planners.base import Bounds, Search
from worldflux.planners.types import PlannerState


def initial_mean(
    search: Search, bounds: Bounds, state: PlannerState | None, planner: str
) -> torch.Tensor:
    """[B, H, A]: the action-range centre, or the previous plan's mean shifted one step."""
    dim = int(bounds.center.shape[0])
    if state is None:
        return bounds.center.expand(search.batch, search.horizon, dim).clone()
    state.check_compatible(planner, search.batch, search.horizon, dim)
    return state.shifted(bounds.center).to(search.device, torch.float32)


def sample(
    mean: torch.Tensor,
    std: torch.Tensor,
    num: int,
    bounds: Bounds,
    generator: torch.Generator,
) -> torch.Tensor:
    """num clamped samples per state: mean/std [B, H, A] -> [B, num, H, A]."""
    b, h, a = mean.shape
    noise = torch.randn((b, num, h, a), generator=generator, device=mean.device, dtype=mean.dtype)
    return bounds.clamp(mean.unsqueeze(1) + std.unsqueeze(1) * noise)


def with_prior(prior: torch.Tensor | None, sampled: torch.Tensor, bounds: Bounds) -> torch.Tensor:
    """Policy-prior candidates first (clamped to the bounds), then the sampled ones."""
    if prior is None:
        return sampled
    return torch.cat([bounds.clamp(prior.to(sampled)), sampled], dim=1)
