"""V-JEPA 2-AC (Assran et al., 2025): importing this package registers the `vjepa2-ac` family.

Sizes `ci`, `tiny` and `base`; `vjepa2-ac` alone means `vjepa2-ac:base`.
"""

from worldflux.core import register_family
from worldflux.models.vjepa2_ac.config import PAPER, SIZES, VJEPA2ACConfig
from worldflux.models.vjepa2_ac.model import VJEPA2AC
from worldflux.models.vjepa2_ac.predictor import frame_causal_mask

register_family(
    "vjepa2-ac",
    model_class=VJEPA2AC,
    config_class=VJEPA2ACConfig,
    sizes=SIZES,
    default_size="base",
    aliases={"vjepa2-ac": "vjepa2-ac:base"},
    description="V-JEPA 2-AC: frame-causal action-conditioned predictor on frozen V-JEPA 2 "
    "features, planned by goal-embedding distance",
)

__all__ = ["PAPER", "SIZES", "VJEPA2AC", "VJEPA2ACConfig", "frame_causal_mask"]
