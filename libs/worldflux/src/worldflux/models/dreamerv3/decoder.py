"""Observation decoders (rssm.Decoder, 2024): images through a spatial block-linear bottleneck
and upsampling convolutions with a sigmoid output, vectors through an MLP in symlog space."""

from __future__ import annotations

import math

import torch
from torch import nn

from worldflux.models.dreamerv3.config import DreamerV3Config
from worldflux.models.dreamerv3.dists import symexp, symlog
from worldflux.models.dreamerv3.nets import MLP, BlockLinear, Conv2d, Linear, NormAct, RMSNorm


class ConvDecoder(nn.Module):
    """deter -> BlockLinear(bspace groups) and stoch -> MLP give a 4x4 map; then per stage
    nearest 2x upsample -> conv 5x5 -> RMSNorm -> SiLU; a last upsample + conv to C channels."""

    def __init__(self, config: DreamerV3Config) -> None:
        super().__init__()
        c = config
        self.res = c.min_resolution
        depths = c.cnn_depths
        self.top = depths[-1]
        space = math.prod(self.res) * self.top
        self.bspace = c.bspace
        if c.bspace:
            self.sp0 = BlockLinear(c.deter, space, c.bspace)
            self.sp1 = NormAct(c.stoch_dim, 2 * c.units, c.norm_eps)
            self.sp2 = Linear(2 * c.units, space)
        else:
            self.space = Linear(c.feat_dim, space)
        self.spnorm = RMSNorm(self.top, c.norm_eps, channel_dim=1)
        stages: list[nn.Module] = []
        channels = self.top
        for depth in reversed(depths[:-1]):
            stages += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                Conv2d(channels, depth, c.kernel),
                RMSNorm(depth, c.norm_eps, channel_dim=1),
                nn.SiLU(),
            ]
            channels = depth
        stages += [
            nn.Upsample(scale_factor=2, mode="nearest"),
            Conv2d(channels, c.obs_shape[0], c.kernel),
        ]
        self.net = nn.Sequential(*stages)

    def forward(self, deter: torch.Tensor, stoch: torch.Tensor) -> torch.Tensor:
        """deter [N, D], stoch [N, S*C] -> images [N, C, H, W] in (0, 1)."""
        h, w = self.res
        n = deter.shape[0]
        if self.bspace:
            g = self.bspace
            # Block k of sp0 fills channels [k*c', (k+1)*c') of every pixel
            # (official: '(g h w c) -> h w (g c)').
            x0 = self.sp0(deter).reshape(n, g, h, w, self.top // g)
            x0 = x0.permute(0, 2, 3, 1, 4).reshape(n, h, w, self.top)
            x1 = self.sp2(self.sp1(stoch)).reshape(n, h, w, self.top)
            x = x0 + x1
        else:
            x = self.space(torch.cat([deter, stoch], -1)).reshape(n, h, w, self.top)
        x = torch.nn.functional.silu(self.spnorm(x.permute(0, 3, 1, 2)))
        return torch.sigmoid(self.net(x))

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Squared error summed over pixels and channels; shape of the leading dims."""
        return (pred - target).square().flatten(-3).sum(-1)


class MLPDecoder(nn.Module):
    """[stoch, deter] -> MLP -> symlog prediction of the observation vector."""

    def __init__(self, config: DreamerV3Config) -> None:
        super().__init__()
        self.obs_shape = tuple(config.obs_shape)
        self.mlp = MLP(config.feat_dim, config.dec_layers, config.units, config.norm_eps)
        self.out = Linear(config.units, math.prod(self.obs_shape))

    def forward(self, deter: torch.Tensor, stoch: torch.Tensor) -> torch.Tensor:
        """Predictions in symlog space, [N, *obs_shape]."""
        x = self.out(self.mlp(torch.cat([stoch, deter], -1)))
        return x.reshape(x.shape[0], *self.obs_shape)

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        dims = len(self.obs_shape)
        return (pred - symlog(target)).square().flatten(-dims).sum(-1)

    @staticmethod
    def to_obs(pred: torch.Tensor) -> torch.Tensor:
        return symexp(pred)


def make_decoder(config: DreamerV3Config) -> ConvDecoder | MLPDecoder:
    return ConvDecoder(config) if config.is_image else MLPDecoder(config)
