"""The denoisers (a U-Net for images, an MLP for vectors) and the reward / episode-end head.

The U-Net follows DIAMOND's inner model in shape (eloialonso/diamond, src/models/diffusion/
inner_model.py, blocks.py): the noisy next frame and the conditioning frames are stacked on
channels, the noise level and the actions become one embedding that modulates every residual
block (adaptive group norm), levels of `blocks_per_level` residual blocks joined by strided
down- and up-sampling with skip connections, self-attention only in the middle block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worldflux.models.diffusion.edm import fourier_features


def _groups(channels: int) -> int:
    return 8 if channels % 8 == 0 else 1


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cond: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.GroupNorm(_groups(cin), cin), nn.GroupNorm(_groups(cout), cout)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.film = nn.Linear(cond, 2 * cout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(cond)[:, :, None, None].chunk(2, 1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class Attention(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, -1)
        y = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.out(y.transpose(1, 2).reshape(b, c, h, w))


class UNet(nn.Module):
    """F(c_in x, c_noise | frames, actions) for images [B, C, H, W]."""

    def __init__(
        self, channels: int, cond_frames: int, action_dim: int, widths: tuple[int, ...],
        blocks: int, cond_dim: int,
    ) -> None:  # fmt: skip
        super().__init__()
        self.cond_dim = cond_dim
        self.noise_mlp = nn.Sequential(nn.Linear(cond_dim, cond_dim), nn.SiLU(),
                                       nn.Linear(cond_dim, cond_dim))  # fmt: skip
        self.act_proj = nn.Linear(cond_frames * action_dim, cond_dim)
        self.stem = nn.Conv2d(channels * (cond_frames + 1), widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips, cin = [], widths[0]
        for i, width in enumerate(widths):
            level = nn.ModuleList()
            for _ in range(blocks):
                level.append(ResBlock(cin, width, cond_dim))
                cin = width
                skips.append(width)
            self.down.append(level)
            last = i == len(widths) - 1
            self.downsample.append(
                nn.Identity() if last else nn.Conv2d(width, width, 3, stride=2, padding=1)
            )
        self.mid1 = ResBlock(cin, cin, cond_dim)
        self.mid_attn = Attention(cin)
        self.mid2 = ResBlock(cin, cin, cond_dim)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, width in reversed(list(enumerate(widths))):
            level = nn.ModuleList()
            for _ in range(blocks):
                level.append(ResBlock(cin + skips.pop(), width, cond_dim))
                cin = width
            self.up.append(level)
            self.upsample.append(nn.Upsample(scale_factor=2) if i > 0 else nn.Identity())
        self.head = nn.Sequential(nn.GroupNorm(_groups(cin), cin), nn.SiLU(),
                                  nn.Conv2d(cin, channels, 3, padding=1))  # fmt: skip
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(
        self, x: torch.Tensor, c_noise: torch.Tensor, frames: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """x [B, C, H, W]; c_noise [B]; frames [B, n, C, H, W]; actions [B, n, A]."""
        cond = self.noise_mlp(fourier_features(c_noise, self.cond_dim))
        cond = cond + self.act_proj(actions.flatten(1))
        h = self.stem(torch.cat([x, frames.flatten(1, 2)], 1))
        skips = []
        for level, down in zip(self.down, self.downsample, strict=True):
            for block in level:
                h = block(h, cond)
                skips.append(h)
            h = down(h)
        h = self.mid2(self.mid_attn(self.mid1(h, cond)), cond)
        for level, up in zip(self.up, self.upsample, strict=True):
            for block in level:
                h = block(torch.cat([h, skips.pop()], 1), cond)
            h = up(h)
        return self.head(h)


class MLPDenoiser(nn.Module):
    """F(c_in x, c_noise | frames, actions) for vectors [B, D]: residual SiLU MLP with the
    noise/action embedding added at every layer."""

    def __init__(
        self, dim: int, cond_frames: int, action_dim: int, width: int, layers: int, cond_dim: int
    ) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        self.noise_mlp = nn.Sequential(nn.Linear(cond_dim, cond_dim), nn.SiLU(),
                                       nn.Linear(cond_dim, width))  # fmt: skip
        self.inp = nn.Linear(dim * (cond_frames + 1) + cond_frames * action_dim, width)
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(layers))
        self.out = nn.Linear(width, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(
        self, x: torch.Tensor, c_noise: torch.Tensor, frames: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        emb = self.noise_mlp(fourier_features(c_noise, self.cond_dim))
        h = self.inp(torch.cat([x, frames.flatten(1), actions.flatten(1)], 1))
        for layer, norm in zip(self.layers, self.norms, strict=True):
            h = h + layer(F.silu(norm(h + emb)))
        return self.out(F.silu(h))


class RewardEndHead(nn.Module):
    """(o_t, a_t, o_{t+1}) in normalised units -> (symlog reward, end logit)."""

    def __init__(self, obs_shape: tuple[int, ...], action_dim: int, width: int) -> None:
        super().__init__()
        self.image = len(obs_shape) == 3
        if self.image:
            c = obs_shape[0]
            self.features: nn.Module = nn.Sequential(
                nn.Conv2d(2 * c, 32, 4, stride=2, padding=1), nn.SiLU(),
                nn.Conv2d(32, 32, 4, stride=2, padding=1), nn.SiLU(),
                nn.Conv2d(32, 32, 4, stride=2, padding=1), nn.SiLU(),
                nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            )  # fmt: skip
            feat = 32 * 16
        else:
            self.features = nn.Identity()
            feat = 2 * obs_shape[0]
        self.mlp = nn.Sequential(
            nn.Linear(feat + action_dim, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
            nn.Linear(width, 2),
        )  # fmt: skip

    def forward(self, obs: torch.Tensor, action: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
        dim = 1 if self.image else -1
        feat = self.features(torch.cat([obs, nxt], dim))
        return self.mlp(torch.cat([feat, action], -1))
