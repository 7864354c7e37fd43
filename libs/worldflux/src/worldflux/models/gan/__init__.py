"""GAN world model (generator of next observations, separate discriminator with its own
optimizer): importing this package registers `gan`. Sizes `ci` and `base`; `gan` alone means
`gan:base`.
"""

from worldflux.core import register_family
from worldflux.models.gan.config import PAPER, SIZES, GANConfig
from worldflux.models.gan.model import GAN

register_family(
    "gan",
    model_class=GAN,
    config_class=GANConfig,
    sizes=SIZES,
    default_size="base",
    aliases={"gan": "gan:base"},
    description="GAN world model: recurrent generator of next observations, discriminator with "
    "its own optimizer, alternating updates",
)

__all__ = ["PAPER", "SIZES", "GAN", "GANConfig"]
