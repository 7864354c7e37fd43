"""The DiT backbone: patchify, transformer blocks with adaLN-Zero conditioning, unpatchify.

adaLN-Zero (Peebles & Xie, 2023): each block regresses shift, scale and gate of both sublayers
from the conditioning vector c (noise level + action embeddings), with the regressing layer
initialised to zero, so every block starts as the identity; the final layer (adaLN + linear) is
zero-initialised as well, so an untrained model outputs zeros whatever it is conditioned on.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


class Block(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width)
        )
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(6, -1)
        h = modulate(self.norm1(x), shift1, scale1)
        x = x + gate1[:, None] * self.attn(h, h, h, need_weights=False)[0]
        h = modulate(self.norm2(x), shift2, scale2)
        return x + gate2[:, None] * self.mlp(h)


class FinalLayer(nn.Module):
    def __init__(self, width: int, outputs: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.linear = nn.Linear(width, outputs)
        for layer in (self.ada[1], self.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada(c).chunk(2, -1)
        return self.linear(modulate(self.norm(x), shift, scale))


class DiTBackbone(nn.Module):
    """(noisy next frame [B, C, H, W], observed frames [B, K * C, H, W], oldest first), noise
    input c_noise [B] and action [B, A] -> network output [B, C, H, W]."""

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        action_dim: int,
        width: int,
        depth: int,
        heads: int,
        patch: int,
        mlp_ratio: float,
        context_frames: int = 1,
        action_tokens: bool = True,
    ) -> None:
        super().__init__()
        channels, height, wide = obs_shape
        self.channels, self.patch, self.grid = channels, patch, (height // patch, wide // patch)
        self.width = width
        self.embed = nn.Conv2d((1 + context_frames) * channels, width, patch, stride=patch)
        self.pos = nn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1], width))
        nn.init.normal_(self.pos, std=0.02)
        self.noise_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.action_mlp = nn.Sequential(
            nn.Linear(action_dim, width), nn.SiLU(), nn.Linear(width, width)
        )
        # The action also enters every patch token, each with its own projection: what an action
        # changes in the next frame (the torque arrow at the pivot, the rod's swing) is
        # local, and a per-position input reaches it directly rather than only through the
        # blocks' global scale and shift.
        tokens = self.grid[0] * self.grid[1]
        self.action_in = nn.Linear(action_dim, tokens * width) if action_tokens else None
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio) for _ in range(depth))
        self.final = FinalLayer(width, patch * patch * channels)

    def condition(self, c_noise: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.noise_mlp(timestep_embedding(c_noise * 1000.0, self.width)) + self.action_mlp(
            action
        )

    def forward(
        self,
        noisy: torch.Tensor,
        context: torch.Tensor,
        c_noise: torch.Tensor,
        action: torch.Tensor,
    ) -> torch.Tensor:
        x = self.embed(torch.cat([noisy, context], 1)).flatten(2).transpose(1, 2) + self.pos
        if self.action_in is not None:
            x = x + self.action_in(action).view(x.shape)
        c = self.condition(c_noise, action)
        for block in self.blocks:
            x = block(x, c)
        out = self.final(x, c)  # [B, N, p * p * C]
        b, (gh, gw), p = out.shape[0], self.grid, self.patch
        out = out.view(b, gh, gw, p, p, self.channels).permute(0, 5, 1, 3, 2, 4)
        return out.reshape(b, self.channels, gh * p, gw * p)
