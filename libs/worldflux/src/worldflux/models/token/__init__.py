"""Token world model (IRIS, Micheli et al., 2023): importing this package registers `token`.

Sizes `ci` and `base` (the paper's model); `token` alone means `token:base`.
"""

from worldflux.core import register_family
from worldflux.models.token.config import PAPER_BASE, SIZES, TokenConfig
from worldflux.models.token.model import Token

register_family(
    "token",
    model_class=Token,
    config_class=TokenConfig,
    sizes=SIZES,
    default_size="base",
    aliases={"token": "token:base", "iris": "token:base"},
    description="IRIS-style token world model: VQ tokenizer + causal transformer (KV cache)",
)

__all__ = ["PAPER_BASE", "SIZES", "Token", "TokenConfig"]
