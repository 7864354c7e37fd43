"""Vision-transformer parts shared by the JEPA families: fixed sin-cos positions, pre-norm blocks.

As in the official I-JEPA / V-JEPA 2 code: fixed (not learned) sin-cos position embeddings, one
frequency band per grid axis, and pre-LayerNorm transformer blocks (attention, then a GELU MLP
of width mlp_ratio x dim). Attention takes an optional boolean mask (True: may attend), which
the action-conditioned predictor uses for frame causality.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sincos_embedding(grid: tuple[int, ...], dim: int) -> torch.Tensor:
    """Fixed position embeddings [prod(grid), dim] for a row-major grid of any rank.

    The width is split evenly over the axes (each axis gets sin and cos of its coordinate at
    geometrically spaced frequencies); leftover channels stay zero.
    """
    axes = len(grid)
    per_axis = (dim // axes) // 2 * 2
    if per_axis < 2:
        raise ValueError(f"embedding width {dim} is too small for a {axes}-axis grid")
    cpu = torch.device("cpu")  # a plain table, also when modules are built on the meta device
    axes_coords = [torch.arange(n, dtype=torch.float64, device=cpu) for n in grid]
    coords = torch.meshgrid(*axes_coords, indexing="ij")
    steps = torch.arange(per_axis // 2, dtype=torch.float64, device=cpu)
    freqs = 1.0 / 10000 ** (steps / (per_axis / 2))
    parts = []
    for coord in coords:
        angles = coord.reshape(-1, 1) * freqs[None]
        parts += [angles.sin(), angles.cos()]
    out = torch.cat(parts, dim=1)
    if out.shape[1] < dim:
        out = torch.cat([out, out.new_zeros(out.shape[0], dim - out.shape[1])], dim=1)
    return out.float()


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """`depth` blocks and a final LayerNorm."""

    def __init__(self, dim: int, depth: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)


def init_vit(module: nn.Module, std: float = 0.02) -> None:
    """Truncated-normal linear weights, zero biases, unit LayerNorms (official init);
    residual output projections rescaled by 1/sqrt(2 * layer) as in the official code."""
    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            nn.init.trunc_normal_(sub.weight, std=std)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.LayerNorm):
            nn.init.ones_(sub.weight)
            nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.Conv2d | nn.Conv3d):
            nn.init.trunc_normal_(sub.weight, std=std)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
    if isinstance(module, Transformer):
        for layer, block in enumerate(module.blocks, start=1):
            if block.attn.proj.weight.is_meta:  # shapes only (parameter counts): nothing to scale
                break
            block.attn.proj.weight.data.div_(math.sqrt(2.0 * layer))
            block.mlp[2].weight.data.div_(math.sqrt(2.0 * layer))


def gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x [B, N, D], index [B, K] -> [B, K, D]."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
