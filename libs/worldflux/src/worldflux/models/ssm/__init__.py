"""SSM world model (diagonal state-space dynamics, S4D): importing this package registers `ssm`.

Sizes `ci` and `base`; `ssm` alone means `ssm:base`.
"""

from worldflux.core import register_family
from worldflux.models.ssm.config import PAPER, SIZES, SSMConfig
from worldflux.models.ssm.model import SSM

register_family(
    "ssm",
    model_class=SSM,
    config_class=SSMConfig,
    sizes=SIZES,
    default_size="base",
    aliases={"ssm": "ssm:base", "s4d": "ssm:base"},
    description="diagonal state-space (S4D) latent dynamics: parallel scan to train, recurrent "
    "steps to imagine",
)

__all__ = ["PAPER", "SIZES", "SSM", "SSMConfig"]
