"""TD-MPC2 (Hansen et al., 2024): importing this package registers the `tdmpc2` family.

Sizes `ci`, `1m`, `5m`, `19m`, `48m`, `317m`; `tdmpc2` alone means `tdmpc2:5m`, and so does
`TDMPC2Config()` without a size.

Family layout (shared by every family): config.py (`TDMPC2Config`, SIZES, the paper's table),
model.py (`TDMPC2`), loss.py (`tdmpc2_loss(model, batch)` and the policy's own
`tdmpc2_policy_loss`), parts in their own modules (layers, ensemble, policy, twohot).
"""

from worldflux.core import register_family
from worldflux.models.tdmpc2.config import (
    PAPER_PARAMS_SINGLE_TASK,
    SIZES,
    TDMPC2Config,
    discount_for_episode_length,
)
from worldflux.models.tdmpc2.loss import tdmpc2_loss, tdmpc2_policy_loss
from worldflux.models.tdmpc2.model import TDMPC2

register_family(
    "tdmpc2",
    model_class=TDMPC2,
    config_class=TDMPC2Config,
    sizes=SIZES,
    default_size="5m",
    aliases={"tdmpc2": "tdmpc2:5m"},
    description="TD-MPC2: implicit latent world model with Q ensemble and policy prior (MPPI)",
)

__all__ = [
    "PAPER_PARAMS_SINGLE_TASK",
    "SIZES",
    "TDMPC2",
    "TDMPC2Config",
    "discount_for_episode_length",
    "tdmpc2_loss",
    "tdmpc2_policy_loss",
]
