"""The V-JEPA 2-AC predictor: a frame-causal transformer over action and frame tokens.

As the official `VisionTransformerPredictorAC`: each frame t contributes its encoder features
(projected to the predictor width, with fixed space-time positions) and one token for the
action taken after it (with `action_to_patches`, the action's embedding is also added to each of
that frame's patch tokens); attention is frame-causal (a token of frame t sees every token of frames
<= t and nothing later), and the outputs at frame t's patch positions predict frame t + 1.
"""

from __future__ import annotations

import torch
from torch import nn

from worldflux.models.jepa.vit import Transformer, init_vit, sincos_embedding


def frame_causal_mask(frames: int, tokens_per_frame: int, device=None) -> torch.Tensor:
    """Boolean [F * n, F * n]: True where the query's frame is at or after the key's frame."""
    frame = torch.arange(frames * tokens_per_frame, device=device) // tokens_per_frame
    return frame[:, None] >= frame[None, :]


class ACPredictor(nn.Module):
    def __init__(
        self,
        space: tuple[int, ...],
        embed_dim: int,
        action_dim: int,
        width: int,
        depth: int,
        heads: int,
        max_frames: int,
        mlp_ratio: float = 4.0,
        action_to_patches: bool = False,
    ) -> None:
        super().__init__()
        self.space = space
        self.action_to_patches = action_to_patches
        self.max_frames = max_frames
        self.embed = nn.Linear(embed_dim, width)
        self.action = nn.Linear(action_dim, width)
        tokens = sincos_embedding((max_frames, *space), width)
        self.register_buffer("pos", tokens.reshape(max_frames, -1, width), persistent=False)
        self.register_buffer("time", sincos_embedding((max_frames,), width), persistent=False)
        self.transformer = Transformer(width, depth, heads, mlp_ratio)
        self.proj = nn.Linear(width, embed_dim)
        init_vit(self)
        init_vit(self.transformer)
        # The inputs' own projections get fan-in-scaled (torch default) weights: the official
        # predictor places tokens with RoPE, but here fixed sin-cos tables (norm ~sqrt(width/2))
        # are added to them, and a std-0.02 projection of a 2-D action (or of the features)
        # would start ~100x smaller than its position: the predictor would not see the
        # action for hundreds of steps (measured on `push`: no action gain after 300 steps).
        self.embed.reset_parameters()
        self.action.reset_parameters()

    def tokens(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The input tokens [B, T, 1 + S, W]: per frame, its action token, then its patches."""
        t = features.shape[1]
        if t > self.max_frames:
            raise ValueError(f"{t} frames exceed the predictor's {self.max_frames}")
        act = self.action(actions)  # [B, T, W]
        x = self.embed(features) + self.pos[:t]
        if self.action_to_patches:
            x = x + act.unsqueeze(2)
        return torch.cat([(act + self.time[:t]).unsqueeze(2), x], dim=2)

    def forward(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """features [B, T, S, E] of frames 0..T-1, actions [B, T, A] taken after each ->
        predicted features [B, T, S, E] of frames 1..T."""
        b, t, s, _ = features.shape
        seq = self.tokens(features, actions).reshape(b, t * (s + 1), -1)
        mask = frame_causal_mask(t, s + 1, seq.device)
        out = self.transformer(seq, mask).reshape(b, t, s + 1, -1)[:, :, 1:]
        return self.proj(out)
