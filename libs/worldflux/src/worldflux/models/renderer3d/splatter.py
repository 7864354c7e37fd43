"""The scene encoder: one frame of known pose -> 3D Gaussians in world coordinates.

As in Splatter Image (Szymanowicz et al. 2024), a fully convolutional network predicts one
Gaussian per cell of its output grid, in the input camera's frame: a depth along the cell's
ray, an offset of the ray within the image plane, a colour, a radius and an opacity. The
camera-frame Gaussians are then moved to world coordinates by the input view's known pose
(x_world = origin + R^T x_cam). The network never sees the pose: what it has to learn (depth
from apparent size and shading, colour, what is background) is the same from every viewpoint,
and the known pose does the rest. That is what lets training learn one world-frame scene from
views of many poses; an encoder that has to output world coordinates itself only reaches the
mean image.
"""

from __future__ import annotations

import torch
from torch import nn

from worldflux.models.renderer3d.config import Renderer3DConfig
from worldflux.models.renderer3d.renderer import camera

RAW = 9  # per cell: depth 1, offset 2, colour 3, log radius 1, opacity 1
GAUSSIAN = 8  # per Gaussian in the scene latent: centre 3, colour 3, log radius 1, opacity logit 1


class SplatterEncoder(nn.Module):
    def __init__(self, config: Renderer3DConfig) -> None:
        super().__init__()
        self.config = config
        channels, width = config.obs_shape[0], config.channels
        layers: list[nn.Module] = [nn.Conv2d(channels + 2, width, 3, padding=1), nn.SiLU()]
        for _ in range(config.stride.bit_length() - 1):  # log2(stride) halvings
            layers += [nn.Conv2d(width, width, 3, stride=2, padding=1), nn.SiLU()]
        layers += [
            nn.Conv2d(width, width, 3, padding=2, dilation=2),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(width, RAW, 1),
        ]
        self.net = nn.Sequential(*layers)
        rows, cols = config.grid
        # Image-plane centres (u right, v up, in [-1, 1]) of the grid cells, row-major.
        v = 1.0 - (torch.arange(rows) + 0.5) / rows * 2.0
        u = (torch.arange(cols) + 0.5) / cols * 2.0 - 1.0
        self.register_buffer("cells", torch.stack(torch.meshgrid(u, v, indexing="xy"), -1))
        height, width_px = config.obs_shape[1:]
        ys = 1.0 - (torch.arange(height) + 0.5) / height * 2.0
        xs = (torch.arange(width_px) + 0.5) / width_px * 2.0 - 1.0
        self.register_buffer("coords", torch.stack(torch.meshgrid(xs, ys, indexing="xy"), 0))

    def forward(self, obs: torch.Tensor, azimuth: torch.Tensor) -> torch.Tensor:
        """Frames [B, C, H, W] in [0, 1] seen from azimuths [B] -> Gaussians [B, K, 8]."""
        c = self.config
        b = obs.shape[0]
        planes = self.coords[None].expand(b, -1, -1, -1)
        raw = self.net(torch.cat([obs * 2.0 - 1.0, planes], 1))  # [B, 9, rows, cols]
        raw = raw.flatten(2).transpose(1, 2)  # [B, K, 9]
        rows, cols = c.grid
        depth = c.camera_distance + c.depth_range * torch.tanh(raw[..., 0])
        cell = torch.tensor([2.0 / cols, 2.0 / rows], device=obs.device)
        uv = self.cells.reshape(-1, 2) + cell * torch.tanh(raw[..., 1:3])  # within +-1 cell
        cam = torch.cat([uv * depth[..., None] / c.focal, depth[..., None]], -1)  # [B, K, 3]
        origin, rot = camera(azimuth, c.camera_distance, c.elevation)
        centres = origin[:, None] + torch.einsum("bki,bij->bkj", cam, rot)  # R^T x_cam
        # Colour as a correction of the cell's mean input colour (a skip connection).
        pooled = nn.functional.avg_pool2d(obs, c.stride).flatten(2).transpose(1, 2)
        colour = raw[..., 3:6] + torch.logit(pooled.clamp(0.02, 0.98))
        # Radius: the projected footprint is exp(log_scale) half cells wide.
        half_cell = 1.0 / cols
        log_radius = torch.log(half_cell * depth / c.focal) + raw[..., 6].clamp(-3.0, 2.0)
        return torch.cat([centres, colour, log_radius[..., None], raw[..., 7:8]], -1)
