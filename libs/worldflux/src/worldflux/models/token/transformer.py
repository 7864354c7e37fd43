"""A causal GPT over observation and action tokens, with a key/value cache for imagination.

As the IRIS world model (eloialonso/iris, src/models/transformer.py, world_model.py): pre-norm
blocks (LayerNorm, causal self-attention, 4x GELU MLP), learned token and position embeddings,
dropout on embeddings, residuals and attention. Each step t is K observation tokens followed by
one action token; the output at a position predicts the token after it, and the outputs at
action tokens also predict the reward and the episode end of that transition.

Positions that are not real frames (the empty slots of a latent state that has seen fewer
frames than it can hold) are masked out as keys, and frame positions are counted over the real
frames only, so a state that has seen m frames is processed exactly as a training window of m
frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class KVCache:
    """Keys and values per layer [B, heads, L, dh], and which of the L positions are real."""

    keys: list[torch.Tensor] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)
    key_valid: torch.Tensor | None = None  # [B, L] bool

    @property
    def length(self) -> int:
        return 0 if self.key_valid is None else self.key_valid.shape[1]


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor:
        b, length, width = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        if cache is not None:
            if layer < len(cache.keys):
                k = torch.cat([cache.keys[layer], k], 2)
                v = torch.cat([cache.values[layer], v], 2)
                cache.keys[layer], cache.values[layer] = k, v
            else:
                cache.keys.append(k)
                cache.values.append(v)
        p = self.dropout if self.training else 0.0
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.proj(y.transpose(1, 2).reshape(b, length, width))


class Block(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads, dropout)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout)
        )
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None, layer: int
    ) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x), mask, cache, layer))
        return x + self.mlp(self.ln2(x))


def _head(width: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, out))


class TokenTransformer(nn.Module):
    """Embeddings, blocks and the three heads (next observation token, reward, episode end)."""

    def __init__(
        self,
        vocab: int,
        tokens_per_obs: int,
        action_width: int,
        width: int,
        layers: int,
        heads: int,
        max_frames: int,
        dropout: float,
        reward_outputs: int,
    ) -> None:
        super().__init__()
        self.vocab, self.k, self.max_frames = vocab, tokens_per_obs, max_frames
        self.obs_embed = nn.Embedding(vocab, width)
        self.act_embed = nn.Linear(action_width, width)
        self.pos_embed = nn.Embedding(max_frames * (tokens_per_obs + 1), width)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(width, heads, dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.obs_head = _head(width, vocab)
        self.reward_head = _head(width, reward_outputs)
        self.end_head = _head(width, 1)
        self.apply(_init)

    @property
    def frame_len(self) -> int:
        return self.k + 1

    def embed_frames(self, tokens: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """tokens [B, F, K] and actions [B, F, A] -> [B, F * (K + 1), W] (no positions)."""
        obs = self.obs_embed(tokens)
        act = self.act_embed(actions).unsqueeze(2)
        return torch.cat([obs, act], 2).flatten(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Embedded tokens [B, L, W] at positions [B, L] -> hidden states [B, L, W].

        mask [B, 1, L, L_total] (True: may attend) or None for a plain causal mask."""
        h = self.drop(x + self.pos_embed(positions))
        for i, block in enumerate(self.blocks):
            h = block(h, mask, cache, i)
        return self.ln(h)

    def frame_positions(self, valid: torch.Tensor) -> torch.Tensor:
        """[B, F] frame index counted over real frames only (empty slots get 0)."""
        return (valid.long().cumsum(1) - 1).clamp(min=0)

    def token_positions(self, frame_pos: torch.Tensor) -> torch.Tensor:
        """[B, F] frame positions -> [B, F * (K + 1)] token positions."""
        offsets = torch.arange(self.frame_len, device=frame_pos.device)
        return (frame_pos.unsqueeze(2) * self.frame_len + offsets).flatten(1)

    @staticmethod
    def padded_mask(key_valid: torch.Tensor, queries: int, past: int = 0) -> torch.Tensor:
        """[B, 1, Q, past + Q]: causal over the new queries, real keys only, and every query
        may see itself (so an empty slot's query is never fully masked; its output is unused)."""
        total = past + queries
        device = key_valid.device
        q_index = torch.arange(past, total, device=device)[:, None]
        k_index = torch.arange(total, device=device)[None, :]
        causal = k_index <= q_index
        mask = causal[None] & key_valid[:, None, :]
        mask = mask | (k_index == q_index)[None]
        return mask[:, None]


def _init(module: nn.Module) -> None:
    """GPT initialisation (IRIS init_weights): normal(0, 0.02) weights, zero biases."""
    if isinstance(module, nn.Linear | nn.Embedding):
        module.weight.data.normal_(0.0, 0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()
    elif isinstance(module, nn.LayerNorm):
        module.bias.data.zero_()
        module.weight.data.fill_(1.0)
