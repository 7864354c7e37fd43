"""Weight averaging for evaluation: an exponential moving average of a network's weights that
eval mode reads instead of the trained ones (diffusion's denoiser, physics' networks)."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def update_average(
    averaged: nn.Module, online: nn.Module, step: int, decay: float, warmup: float = 10.0
) -> None:
    """Move `averaged` towards `online` after optimizer step `step`; buffers are copied.

    The decay ramps as (1 + step) / (warmup + step) up to `decay` (polynomial-decay
    averaging): a short run's average is not dominated by the initial weights, and a long
    one's covers roughly its last (warmup - 1) / step."""
    rate = 1.0 - min(decay, (1 + step) / (warmup + step))
    for avg, cur in zip(averaged.parameters(), online.parameters(), strict=True):
        avg.lerp_(cur, rate)
    for avg, cur in zip(averaged.buffers(), online.buffers(), strict=True):
        avg.copy_(cur)
