"""Renderer3D world model (a latent scene of 3D Gaussians inferred from a view of known pose, and
a differentiable splatting renderer decoding the frame for a camera pose): importing this package
registers `renderer3d`. Sizes `ci` and `base`;
`renderer3d` alone means `renderer3d:base`.
"""

from worldflux.core import register_family
from worldflux.models.renderer3d.config import PAPER, SIZES, Renderer3DConfig
from worldflux.models.renderer3d.model import Renderer3D

register_family(
    "renderer3d",
    model_class=Renderer3D,
    config_class=Renderer3DConfig,
    sizes=SIZES,
    default_size="base",
    aliases={"renderer3d": "renderer3d:base"},
    description="3D Gaussian scene from a posed view + splatting renderer for any camera pose",
)

__all__ = ["PAPER", "SIZES", "Renderer3D", "Renderer3DConfig"]
