"""Diffusion world model (DIAMOND, Alonso et al., 2024): importing this package registers
`diffusion`.

Sizes `ci` and `base` (the paper's Atari denoiser); `diffusion` alone means `diffusion:base`.
"""

from worldflux.core import register_family
from worldflux.models.diffusion.config import PAPER_BASE, SIZES, DiffusionConfig
from worldflux.models.diffusion.model import Diffusion

register_family(
    "diffusion",
    model_class=Diffusion,
    config_class=DiffusionConfig,
    sizes=SIZES,
    default_size="base",
    aliases={"diffusion": "diffusion:base", "diamond": "diffusion:base"},
    description="DIAMOND-style diffusion world model: EDM denoiser + few-step Euler sampler",
)

__all__ = ["PAPER_BASE", "SIZES", "Diffusion", "DiffusionConfig"]
