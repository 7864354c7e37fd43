"""The JEPA encoder: tokenizer, fixed sin-cos positions, ViT; optionally on a subset of tokens."""

from __future__ import annotations

import torch
from torch import nn

from worldflux.models.jepa.tokens import Tokenizer
from worldflux.models.jepa.vit import Transformer, gather_tokens, init_vit, sincos_embedding


class Encoder(nn.Module):
    """clip [B, T, *obs_shape] -> features [B, N, E] (or [B, K, E] for the tokens `keep`)."""

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        frames: int,
        dim: int,
        depth: int,
        heads: int,
        patch: int,
        group: int,
        tubelet: int = 1,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.tokenizer = Tokenizer(obs_shape, dim, patch, group, tubelet)
        self.grid = self.tokenizer.grid(frames)
        self.register_buffer("pos", sincos_embedding(self.grid, dim)[None], persistent=False)
        self.transformer = Transformer(dim, depth, heads, mlp_ratio)
        init_vit(self)
        init_vit(self.transformer)

    def tokens(self, clip: torch.Tensor) -> torch.Tensor:
        """Embedded tokens with positions, before the transformer: [B, N, E]. A clip shorter
        than the configured frames takes the positions of its first time steps."""
        x = self.tokenizer(clip)
        if x.shape[1] > self.pos.shape[1]:
            raise ValueError(f"{clip.shape[1]} frames is more than this encoder's grid {self.grid}")
        return x + self.pos[:, : x.shape[1]]

    def forward(
        self,
        clip: torch.Tensor,
        keep: torch.Tensor | None = None,
        tokens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.tokens(clip) if tokens is None else tokens
        if keep is not None:
            x = gather_tokens(x, keep)
        return self.transformer(x)
