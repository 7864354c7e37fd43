"""Renderer3D world model configuration and its named sizes.

The latent scene is a set of coloured, isotropic 3D Gaussians in world coordinates, inferred
from one frame of known camera pose by a fully convolutional encoder that predicts one Gaussian
per cell of a `stride`-times coarser grid, placed along that cell's camera ray at a predicted
depth (Splatter Image, Szymanowicz et al. 2024). A differentiable renderer (perspective
projection, depth-sorted alpha compositing as in 3D Gaussian splatting, Kerbl et al. 2023)
decodes the frame seen from any camera pose. The camera model matches the bundled `scene3d`
data (a circle of radius 4 at elevation 0.35 rad, looking at the origin; pose = azimuth; the
action sets the next frame's azimuth to pi * a).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worldflux.core import ContractError, WorldModelConfig

SIZES: dict[str, dict[str, Any]] = {
    # 32x32 frames: ci infers 8x8 = 64 Gaussians per view, base 16x16 = 256.
    "ci": {"stride": 4, "channels": 32},
    "base": {"stride": 2, "channels": 64},
}

# What the family follows from its papers (alignment.py builds the docs' table from these).
PAPER: dict[str, Any] = {
    "primitive": "3D Gaussian (anisotropic, spherical-harmonic colour)",
    "gaussians_per_pixel": 1,  # Splatter Image: one Gaussian per output pixel
    "placement": "depth along the pixel's ray + 3D offset",
    "parameters": "depth, offset, opacity, scale (3), rotation (4), colour (SH)",
    "compositing": "depth-sorted alpha blending",
    "supervision": "the input view and other views of the same object",
    "camera": "pinhole, known pose",
}


@dataclass
class Renderer3DConfig(WorldModelConfig):
    size: str = "ci"
    stride: int = 4  # one Gaussian per stride x stride cell of the input frame
    channels: int = 32  # encoder width
    reward_hidden: int = 16  # per-pixel reward head width
    camera_distance: float = 4.0
    elevation: float = 0.35
    focal: float = 1.6  # image-plane half-width 1 at this focal length
    depth_range: float = 2.75  # depths camera_distance +- depth_range
    background: float = 0.5  # grey level behind the scene (scene3d's)
    azimuth_scale: float = 3.141592653589793  # next pose = azimuth_scale * action
    reward_coef: float = 1.0
    lr: float = 2e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("stride", "channels", "reward_hidden"):
            if getattr(self, name) < 1:
                raise ContractError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.stride & (self.stride - 1):
            raise ContractError(f"stride must be a power of two, got {self.stride}")
        shape = tuple(self.obs_shape)
        if len(shape) != 3 or shape[1] % self.stride or shape[2] % self.stride:
            raise ContractError(
                f"renderer3d takes images [C, H, W] with H and W multiples of stride "
                f"{self.stride}, got {list(shape)}"
            )
        if self.action_kind != "continuous" or self.action_dim != 1:
            raise ContractError(
                "renderer3d's action is the next camera azimuth: one continuous value, got "
                f"{self.action_kind} with dim {self.action_dim}"
            )
        if not 0.0 < self.depth_range < self.camera_distance:
            raise ContractError(
                f"depth_range must be in (0, camera_distance = {self.camera_distance}), "
                f"got {self.depth_range}"
            )

    @property
    def grid(self) -> tuple[int, int]:
        """The encoder's output grid: one Gaussian per cell."""
        return self.obs_shape[1] // self.stride, self.obs_shape[2] // self.stride

    @property
    def gaussians(self) -> int:
        rows, cols = self.grid
        return rows * cols
