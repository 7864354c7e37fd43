"""Physics world model (Hamiltonian dynamics, leapfrog): importing this package registers
`physics`. Sizes `ci` and `base`; `physics` alone means `physics:base`.
"""

from worldflux.core import register_family
from worldflux.models.physics.config import PAPER, SIZES, PhysicsConfig
from worldflux.models.physics.model import Physics

register_family(
    "physics",
    model_class=Physics,
    config_class=PhysicsConfig,
    sizes=SIZES,
    default_size="base",
    aliases={"physics": "physics:base", "hnn": "physics:base"},
    description="learned Hamiltonian dynamics with a symplectic (leapfrog) integrator on states",
)

__all__ = ["PAPER", "SIZES", "Physics", "PhysicsConfig"]
