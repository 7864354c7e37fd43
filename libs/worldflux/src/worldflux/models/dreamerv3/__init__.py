"""DreamerV3 (Hafner et al., 2023; official code danijar/dreamerv3, 2024 config).

Importing this package registers the `dreamerv3` family (`dreamerv3:size1m` ... `size400m`,
`dreamerv3:ci`) and the alias `dreamer` -> `dreamerv3:size12m`.

Family layout (shared by every family): config.py (`DreamerV3Config`, SIZES, the paper's
table), model.py (`DreamerV3`), loss.py (`dreamerv3_loss(model, batch)`), parts in their own
modules (rssm, encoder, decoder, heads, behavior, dists, nets).
"""

from worldflux.core import register_family
from worldflux.models.dreamerv3.config import PAPER_PARAMS, SIZES, DreamerV3Config
from worldflux.models.dreamerv3.loss import LOSS_NAMES, dreamerv3_loss
from worldflux.models.dreamerv3.model import DreamerV3, DreamerV3WorldModel, count_parameters

register_family(
    "dreamerv3",
    model_class=DreamerV3,
    config_class=DreamerV3Config,
    sizes=SIZES,
    default_size="size12m",
    aliases={"dreamer": "dreamerv3:size12m"},
    description="DreamerV3: RSSM world model with actor-critic learning in imagination",
)

__all__ = [
    "LOSS_NAMES",
    "PAPER_PARAMS",
    "SIZES",
    "DreamerV3",
    "DreamerV3Config",
    "DreamerV3WorldModel",
    "count_parameters",
    "dreamerv3_loss",
]
