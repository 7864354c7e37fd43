"""Observation encoders: a CNN for images, a symlog MLP for vectors (rssm.Encoder, 2024)."""

from __future__ import annotations

import math

import torch
from torch import nn

from worldflux.models.dreamerv3.config import DreamerV3Config
from worldflux.models.dreamerv3.dists import symlog
from worldflux.models.dreamerv3.nets import MLP, Conv2d, RMSNorm


class ConvEncoder(nn.Module):
    """Conv 5x5 (stride 1) -> 2x2 max-pool -> RMSNorm -> SiLU per stage, depths depth x mults.

    A 64x64 image leaves the last stage at 4x4 and is flattened into the token.
    """

    def __init__(self, config: DreamerV3Config) -> None:
        super().__init__()
        channels = config.obs_shape[0]
        stages: list[nn.Module] = []
        for depth in config.cnn_depths:
            stages += [
                Conv2d(channels, depth, config.kernel),
                nn.MaxPool2d(2),
                RMSNorm(depth, config.norm_eps, channel_dim=1),
                nn.SiLU(),
            ]
            channels = depth
        self.net = nn.Sequential(*stages)
        self.out_dim = math.prod(config.min_resolution) * channels

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Images [N, C, H, W] in [0, 1] -> tokens [N, out_dim]."""
        # Channel-last flatten, matching the official NHWC layout.
        return self.net(obs - 0.5).permute(0, 2, 3, 1).flatten(1)


class MLPEncoder(nn.Module):
    def __init__(self, config: DreamerV3Config) -> None:
        super().__init__()
        self.net = MLP(
            math.prod(config.obs_shape), config.enc_layers, config.units, config.norm_eps
        )
        self.out_dim = config.units

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(symlog(obs.flatten(1)))


def make_encoder(config: DreamerV3Config) -> ConvEncoder | MLPEncoder:
    return ConvEncoder(config) if config.is_image else MLPEncoder(config)


def encode_sequence(encoder: nn.Module, obs: torch.Tensor, obs_dims: int) -> torch.Tensor:
    """Apply an encoder to [*lead, *obs_shape] by folding the leading dims into the batch."""
    lead = obs.shape[: obs.dim() - obs_dims]
    tokens = encoder(obs.reshape(-1, *obs.shape[obs.dim() - obs_dims :]))
    return tokens.reshape(*lead, tokens.shape[-1])
