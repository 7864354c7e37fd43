"""I-JEPA (Assran et al., 2023): importing this package registers the `jepa` family.

Sizes `ci` and `base` (ViT-B/16 encoder); `jepa` alone means `jepa:base`.
"""

from worldflux.core import register_family
from worldflux.models.jepa.config import PAPER, SIZES, JEPAConfig
from worldflux.models.jepa.model import JEPA

register_family(
    "jepa",
    model_class=JEPA,
    config_class=JEPAConfig,
    sizes=SIZES,
    default_size="base",
    aliases={"jepa": "jepa:base"},
    description="I-JEPA: masked-block prediction of EMA-target features (no decoder, no reward)",
)

__all__ = ["JEPA", "PAPER", "SIZES", "JEPAConfig"]
