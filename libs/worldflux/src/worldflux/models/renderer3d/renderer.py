"""A differentiable renderer of a blob scene from a camera pose (torch, any device).

Isotropic Gaussians (centre [3], colour [3], radius, opacity) are projected through a pinhole
camera on a circle around the origin (pose = azimuth); each covers its pixels with a Gaussian
footprint (alpha a = min(0.99, opacity exp(-d^2 / 2 s^2)), s the projected radius) and they are
alpha-blended front to back after sorting by depth, as in 3D Gaussian splatting:
C = sum_i c_i a_i prod_{j<i} (1 - a_j) + background prod_i (1 - a_i). The sort is a permutation,
so gradients reach every Gaussian's centre, colour, radius and opacity.
"""

from __future__ import annotations

import torch


def camera(
    azimuth: torch.Tensor, distance: float, elevation: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Centres [B, 3] and rotations [B, 3, 3] (rows right, up, forward) for azimuths [B]."""
    ce, se = torch.cos(torch.tensor(elevation)), torch.sin(torch.tensor(elevation))
    centre = distance * torch.stack(
        [ce * torch.sin(azimuth), se.expand_as(azimuth), ce * torch.cos(azimuth)], -1
    )
    forward = -centre / centre.norm(dim=-1, keepdim=True)
    up_world = torch.zeros_like(forward)
    up_world[:, 1] = 1.0
    right = torch.linalg.cross(forward, up_world)
    right = right / right.norm(dim=-1, keepdim=True)
    up = torch.linalg.cross(right, forward)
    return centre, torch.stack([right, up, forward], 1)


def render(
    centres: torch.Tensor,
    colours: torch.Tensor,
    radii: torch.Tensor,
    opacity: torch.Tensor,
    background: torch.Tensor,
    azimuth: torch.Tensor,
    size: tuple[int, int],
    distance: float,
    elevation: float,
    focal: float,
) -> torch.Tensor:
    """Gaussians [B, K, 3], [B, K, 3], [B, K], [B, K] seen from azimuths [B] -> images
    [B, 3, H, W]."""
    origin, rot = camera(azimuth, distance, elevation)
    cam = torch.einsum("bij,bkj->bki", rot, centres - origin[:, None])  # [B, K, 3]
    # Sort the (small) per-Gaussian parameters front to back, not the per-pixel alphas.
    order = cam[..., 2].argsort(-1)
    cam = cam.gather(1, order[..., None].expand_as(cam))
    colours = colours.gather(1, order[..., None].expand_as(colours))
    radii, opacity = radii.gather(1, order), opacity.gather(1, order)
    depth = cam[..., 2].clamp(min=0.1)
    u, v = focal * cam[..., 0] / depth, focal * cam[..., 1] / depth
    inv = 1.0 / (2.0 * (focal * radii / depth).square())  # 1 / (2 s^2), s the projected radius
    height, width = size
    ys = 1.0 - (torch.arange(height, device=centres.device) + 0.5) / height * 2.0
    xs = (torch.arange(width, device=centres.device) + 0.5) / width * 2.0 - 1.0
    # The isotropic footprint is separable: exp(-(dx^2 + dy^2) / 2s^2) = gx(x) gy(y). Per-pixel
    # tensors are [B, H, W, K]: the compositing runs over the last, contiguous, dimension.
    gx = torch.exp(-(xs[None, :, None] - u[:, None]).square() * inv[:, None])  # [B, W, K]
    gy = torch.exp(-(ys[None, :, None] - v[:, None]).square() * inv[:, None])  # [B, H, K]
    alpha = (opacity[:, None, None] * gy[:, :, None] * gx[:, None]).clamp(max=0.99)
    # Transmittance prod_{j<i} (1 - a_j) as exp(cumsum(log(1 - a))): cheaper to differentiate
    # than cumprod, and exact since a <= 0.99.
    through = torch.exp(torch.cumsum(torch.log1p(-alpha), -1))  # prod_{j<=i}
    weights = alpha * torch.cat([torch.ones_like(through[..., :1]), through[..., :-1]], -1)
    image = torch.einsum("bhwk,bkc->bchw", weights, colours)
    return image + through[None, ..., -1].movedim(0, 1) * background[None, :, None, None]
