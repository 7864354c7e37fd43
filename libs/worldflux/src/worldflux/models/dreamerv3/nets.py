"""Layers shared by every DreamerV3 module: RMSNorm, block-diagonal linear, norm-act MLPs.

Initialisation follows the official `trunc_normal` fan-in initialiser (std 1.1368 / sqrt(fan_in),
truncated at two standard deviations, zero biases) with a per-layer `outscale`: output layers
of the reward and value heads start at zero so their first predictions are exactly 0.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn


def trunc_normal_init_(weight: torch.Tensor, fan_in: int, outscale: float = 1.0) -> None:
    """The official fan-in truncated normal; outscale 0 gives a zero-initialised layer."""
    with torch.no_grad():
        if outscale == 0.0:
            weight.zero_()
            return
        std = 1.1368 * math.sqrt(1.0 / fan_in) * outscale
        nn.init.trunc_normal_(weight, std=std, a=-2.0 * std, b=2.0 * std)


class Linear(nn.Linear):
    """nn.Linear with the official initialiser."""

    def __init__(self, in_features: int, out_features: int, outscale: float = 1.0) -> None:
        super().__init__(in_features, out_features)
        trunc_normal_init_(self.weight, in_features, outscale)
        nn.init.zeros_(self.bias)


class Conv2d(nn.Conv2d):
    """'same'-padded stride-1 convolution with the official initialiser."""

    def __init__(self, cin: int, cout: int, kernel: int, outscale: float = 1.0) -> None:
        super().__init__(cin, cout, kernel, padding=kernel // 2)
        trunc_normal_init_(self.weight, cin * kernel * kernel, outscale)
        nn.init.zeros_(self.bias)


class RMSNorm(nn.Module):
    """Scale-only RMS normalisation over the last dim (or dim 1 for NCHW feature maps)."""

    def __init__(self, dim: int, eps: float = 1e-4, channel_dim: int = -1) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))
        self.eps = eps
        self.channel_dim = channel_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channel_dim == -1:
            return F.rms_norm(x, (x.shape[-1],), self.scale, self.eps)
        x = x.movedim(self.channel_dim, -1)
        x = F.rms_norm(x, (x.shape[-1],), self.scale, self.eps)
        return x.movedim(-1, self.channel_dim)


class BlockLinear(nn.Module):
    """A linear map whose weight is block diagonal: `blocks` independent [in/g, out/g] maps.

    The input is read as `blocks` contiguous groups and output group k depends only on input
    group k, which is what lets the DreamerV3 GRU scale its deterministic state cheaply.
    """

    def __init__(
        self, in_features: int, out_features: int, blocks: int, outscale: float = 1.0
    ) -> None:
        super().__init__()
        if in_features % blocks or out_features % blocks:
            raise ValueError(
                f"BlockLinear sizes {in_features}->{out_features} must divide by {blocks} blocks"
            )
        self.blocks = blocks
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(
            torch.empty(blocks, in_features // blocks, out_features // blocks)
        )
        self.bias = nn.Parameter(torch.zeros(out_features))
        # Official fans for a [g, i, o] kernel: fan_in = g * i, the full input width.
        trunc_normal_init_(self.weight, in_features, outscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x = x.reshape(*lead, self.blocks, self.in_features // self.blocks)
        x = torch.einsum("...ki,kio->...ko", x, self.weight)
        return x.reshape(*lead, self.out_features) + self.bias

    def dense_weight(self) -> torch.Tensor:
        """The equivalent [in, out] dense matrix (zero off the diagonal blocks)."""
        return torch.block_diag(*self.weight.unbind(0))


class NormAct(nn.Sequential):
    """Linear -> RMSNorm -> SiLU, the unit every DreamerV3 MLP is built from."""

    def __init__(self, in_features: int, out_features: int, eps: float = 1e-4) -> None:
        super().__init__(Linear(in_features, out_features), RMSNorm(out_features, eps), nn.SiLU())


class MLP(nn.Sequential):
    """`layers` NormAct blocks of width `units` (no output layer)."""

    def __init__(self, in_features: int, layers: int, units: int, eps: float = 1e-4) -> None:
        dims = [in_features] + [units] * layers
        super().__init__(*(NormAct(a, b, eps) for a, b in itertools.pairwise(dims)))
        self.out_features = dims[-1]
