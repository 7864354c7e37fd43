"""TD-MPC2's building blocks: SimNorm, NormedLinear MLPs and the pixel encoder."""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn


class SimNorm(nn.Module):
    """Simplicial normalisation: softmax over consecutive groups of `group` latent dims.

    Each group lies on a simplex, which bounds the latent and keeps multi-step latent rollouts
    from drifting or collapsing (why TD-MPC2 puts it on the encoder and the dynamics output).
    """

    def __init__(self, group: int = 8) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        groups = x.reshape(*shape[:-1], -1, self.group)
        if x.device.type == "cpu":
            # The CPU softmax kernel is slow on many short rows (8 values each): over the
            # group axis of the transposed view it vectorises across groups instead, 8x faster
            # for a [536, 512] planning batch (benchmarks/tdmpc2_bench.py --modes plan).
            return F.softmax(groups.transpose(-1, -2), dim=-2).transpose(-1, -2).reshape(shape)
        return F.softmax(groups, dim=-1).reshape(shape)

    def extra_repr(self) -> str:
        return f"group={self.group}"


class NormedLinear(nn.Linear):
    """Linear -> (dropout) -> LayerNorm -> activation (Mish unless told otherwise)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        dropout: float = 0.0,
        act: nn.Module | None = None,
    ) -> None:
        super().__init__(in_features, out_features)
        self.ln = nn.LayerNorm(out_features)
        self.act = act if act is not None else nn.Mish()
        self.dropout = nn.Dropout(dropout) if dropout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.act(self.ln(x))


def mlp(
    in_dim: int, hidden: list[int], out_dim: int, act: nn.Module | None = None
) -> nn.Sequential:
    """NormedLinear hidden layers, then a plain Linear head (or a NormedLinear with `act`)."""
    dims = [in_dim, *hidden]
    layers: list[nn.Module] = [NormedLinear(a, b) for a, b in pairwise(dims)]
    head = (
        NormedLinear(dims[-1], out_dim, act=act)
        if act is not None
        else nn.Linear(dims[-1], out_dim)
    )
    return nn.Sequential(*layers, head)


def init_weights(module: nn.Module) -> None:
    """The official init: truncated normal (std 0.02) weights and zero biases for Linear."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class ShiftAug(nn.Module):
    """Random shift by up to `pad` pixels (DrQ-v2), applied in training only.

    The official code also shifts at acting time; we keep inference deterministic so that
    planning and checkpoint parity do not depend on augmentation noise.
    """

    def __init__(self, pad: int = 3) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.pad == 0:
            return x
        n, _, h, w = x.shape
        padded = F.pad(x, (self.pad,) * 4, mode="replicate")
        eps = 1.0 / (h + 2 * self.pad)
        arange = torch.linspace(
            -1.0 + eps, 1.0 - eps, h + 2 * self.pad, device=x.device, dtype=x.dtype
        )[:h]
        arange = arange.unsqueeze(0).repeat(h, 1).unsqueeze(2)
        base = torch.cat([arange, arange.transpose(1, 0)], dim=2).unsqueeze(0).repeat(n, 1, 1, 1)
        shift = torch.randint(0, 2 * self.pad + 1, (n, 1, 1, 2), device=x.device).to(x.dtype)
        grid = base + shift * (2.0 / (h + 2 * self.pad))
        return F.grid_sample(padded, grid, padding_mode="zeros", align_corners=False)


def conv_out_size(size: int) -> int:
    """Spatial size after the encoder's four convolutions (7/2, 5/2, 3/2, 3/1, no padding)."""
    for kernel, stride in ((7, 2), (5, 2), (3, 2), (3, 1)):
        size = (size - kernel) // stride + 1
    return size


class PixelEncoder(nn.Module):
    """The official conv encoder for image observations in [0, 1], ending in SimNorm.

    Official TD-MPC2 feeds the flattened conv features (32 channels x 4 x 4 = 512 for 64x64)
    straight into SimNorm, which only fits latent_dim 512; a linear projection is added when the
    flattened size differs from latent_dim, so every named size accepts images.
    """

    def __init__(self, obs_shape: tuple[int, ...], channels: int, latent_dim: int, group: int):
        super().__init__()
        in_channels, size, _ = obs_shape
        self.aug = ShiftAug()
        self.convs = nn.Sequential(
            nn.Conv2d(in_channels, channels, 7, stride=2),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 5, stride=2),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=1),
            nn.Flatten(),
        )
        flat = channels * conv_out_size(size) ** 2
        self.proj = nn.Linear(flat, latent_dim) if flat != latent_dim else nn.Identity()
        self.simnorm = SimNorm(group)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.aug(obs) - 0.5  # official PixelPreprocess: [0, 1] -> [-0.5, 0.5]
        return self.simnorm(self.proj(self.convs(x)))
