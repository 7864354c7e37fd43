"""V-JEPA 2 (Assran et al., 2025): importing this package registers the `vjepa2` family.

Sizes `ci`, `tiny` and `base`; `vjepa2` alone means `vjepa2:base`.
"""

from worldflux.core import register_family
from worldflux.models.vjepa2.config import PAPER, SIZES, VJEPA2Config
from worldflux.models.vjepa2.model import VJEPA2

register_family(
    "vjepa2",
    model_class=VJEPA2,
    config_class=VJEPA2Config,
    sizes=SIZES,
    default_size="base",
    aliases={"vjepa2": "vjepa2:base"},
    description="V-JEPA 2: masked spatio-temporal prediction of EMA-target video features",
)

__all__ = ["PAPER", "SIZES", "VJEPA2", "VJEPA2Config"]
