"""DiT world model (diffusion transformer, adaLN-Zero on noise level and action): importing this
package registers `dit`. Sizes `ci` and `base` (DiT-S/8); `dit` alone means `dit:base`.
"""

from worldflux.core import register_family
from worldflux.models.dit.config import PAPER, SIZES, DiTConfig
from worldflux.models.dit.model import DiT

register_family(
    "dit",
    model_class=DiT,
    config_class=DiTConfig,
    sizes=SIZES,
    default_size="base",
    aliases={"dit": "dit:base"},
    description="diffusion transformer over frame patches, adaLN-Zero on noise level and action",
)

__all__ = ["PAPER", "SIZES", "DiT", "DiTConfig"]
