"""The narrow JEPA predictor: context features in, target-position features out.

As the official `VisionTransformerPredictor`: context features are projected to the
predictor's width and given their fixed positions; one learned mask token, plus the position
of each target token, stands for every target; a transformer mixes them and the outputs at the
target positions are projected back to the encoder's width.
"""

from __future__ import annotations

import torch
from torch import nn

from worldflux.models.jepa.vit import Transformer, gather_tokens, init_vit, sincos_embedding


class Predictor(nn.Module):
    def __init__(
        self,
        grid: tuple[int, ...],
        embed_dim: int,
        width: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(embed_dim, width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        self.register_buffer("pos", sincos_embedding(grid, width)[None], persistent=False)
        self.transformer = Transformer(width, depth, heads, mlp_ratio)
        self.proj = nn.Linear(width, embed_dim)
        init_vit(self)
        init_vit(self.transformer)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(
        self, context: torch.Tensor, context_index: torch.Tensor, target_index: torch.Tensor
    ) -> torch.Tensor:
        """context [B, Nc, E] at context_index [B, Nc]; predictions [B, Nt, E] at target_index."""
        pos = self.pos.expand(context.shape[0], -1, -1)
        x = self.embed(context) + gather_tokens(pos, context_index)
        queries = self.mask_token + gather_tokens(pos, target_index)
        out = self.transformer(torch.cat([x, queries], dim=1))
        return self.proj(out[:, context.shape[1] :])
