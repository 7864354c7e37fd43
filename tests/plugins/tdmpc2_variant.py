"""A variant of a built-in family, added from outside the library: TD-MPC2 with a wider latent
and a deeper encoder, as a user would register their own ablation. No file under core/,
planners/, rpc/, gates/ or services/ changes for it (the extensibility check)."""

from worldflux.core import register_family
from worldflux.models.tdmpc2 import TDMPC2, TDMPC2Config


class WideTDMPC2(TDMPC2):
    """Same architecture, another size table: nothing to override."""


register_family(
    "tdmpc2-wide",
    model_class=WideTDMPC2,
    config_class=TDMPC2Config,
    sizes={"ci": {"enc_dim": 96, "mlp_dim": 96, "latent_dim": 64, "num_enc_layers": 3, "num_q": 2}},
    default_size="ci",
    description="TD-MPC2 with a wider latent (an out-of-tree variant)",
)
