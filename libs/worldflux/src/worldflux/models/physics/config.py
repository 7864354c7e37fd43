"""Physics world model configuration and its named sizes.

Hamiltonian neural network dynamics (Greydanus, Dzamba & Yosinski, 2019) integrated with the
leapfrog (Stormer-Verlet) scheme, which is symplectic: energy errors stay bounded over long
rollouts instead of drifting. `dynamics="mlp"` swaps in the unconstrained baseline (a residual
MLP step in the same coordinates), the comparison the docs' energy-drift figure shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worldflux.core import ContractError, WorldModelConfig

# The gate's recipe, measured on `ci` (docs/content/families/physics.md): one angle coordinate
# with a signed inverse mass (the pendulum's own configuration space; every seed learns the
# dynamics), the reward head reads the decoded observation with standardised rewards through
# ReLU layers (the reward's kink at theta = +-pi), SiLU networks around the tanh potential,
# width 128, Adam at 5e-3 with beta2 0.99, and evaluation with averaged weights. The gate trains
# it for 2000 steps with cosine decay. `base` keeps the plain settings until it is measured.
CI_RECIPE: dict[str, Any] = {
    "angle_coords": True,
    "signed_mass": True,
    "reward_input": "obs",
    "reward_norm": True,
    "reward_activation": "relu",
    "activation": "silu",
    "lr": 5e-3,
    "adam_beta2": 0.99,
    "ema_decay": 0.99,
}

SIZES: dict[str, dict[str, Any]] = {
    "ci": {"coords": 1, "hidden": 128, "potential_layers": 2, "substeps": 2, **CI_RECIPE},
    "base": {"coords": 8, "hidden": 200, "potential_layers": 2, "substeps": 4},
}

# The paper's figures (HNN, Greydanus et al., NeurIPS 2019), for the docs table.
PAPER: dict[str, Any] = {
    "hidden": 200,
    "potential_layers": 2,
    "activation": "tanh",
    "integrator": "RK45 (scipy) at test time",
    "lr": 1e-3,
}

ENERGIES = ("auto", "pendulum", "none")
REWARD_INPUTS = ("latent", "obs")
ACTIVATIONS = ("tanh", "silu", "relu")


@dataclass
class PhysicsConfig(WorldModelConfig):
    """Constructor arguments of a physics (Hamiltonian) world model."""

    size: str = "ci"
    coords: int = 2  # d: generalised coordinates q and momenta p, d each
    hidden: int = 64  # width of the potential network and the encoder/decoder/heads
    potential_layers: int = 2  # tanh layers of V(q)
    substeps: int = 2  # leapfrog substeps per environment step
    dt: float = 0.05  # environment step (the bundled pendulum's)
    dynamics: str = "hamiltonian"  # "hamiltonian" (leapfrog) | "mlp" (unconstrained baseline)
    # which known energy the eval metric `energy_drift` uses ("auto": pendulum for [3] obs)
    energy: str = "auto"
    drift_steps: int = 50  # zero-action imagined steps of the eval metric
    prediction_steps: int = 4  # open-loop steps of the training loss
    recon_coef: float = 1.0
    predict_coef: float = 1.0
    reward_coef: float = 0.1
    # also fit the reward head on the integrator's predicted latents (detached; loss.py)
    reward_on_predicted: bool = True
    # Angle coordinates: each q is an angle (the encoder gives a point (x, y) per coordinate and
    # q = atan2(y, x)); V(q), the force and everything that reads a latent see (cos q, sin q),
    # so the learned coordinates live on circles, as a pendulum's configuration does.
    angle_coords: bool = False
    # The inverse mass M^-1 is the parameter itself, starting at 0, instead of exp(parameter):
    # it may take either sign. An encoder can give q and p opposite orientations (q = -theta
    # with p ~ +theta'; with angle coordinates the orientation is the winding of atan2 at
    # initialisation, which training cannot flip); then q' = M^-1 p needs M^-1 < 0, which
    # exp() only approaches (it shrank to ~0.1 and the run stuck at a loss 10x higher).
    # H = -(energy) is still a Hamiltonian: leapfrog stays symplectic and reversible.
    signed_mass: bool = False
    # The reward head predicts rewards standardised by the mean and standard deviation of the
    # first training batch (buffers, saved with the model): pendulum rewards reach -16, and a
    # head must otherwise first grow its output layer to that scale. On in CI_RECIPE; alone,
    # on the plain settings, it raised reward skill but not the seed variance
    # (docs/content/families/physics.md).
    reward_norm: bool = False
    # What the reward head reads besides the action: "latent" (z, or its angle features) or
    # "obs", the decoded observation, detached. A reward is a function of the state; read in
    # the observation space it is the same function for every seed, while each seed's encoder
    # settles in its own coordinates, and the reward's gradient never reaches the encoder,
    # decoder or dynamics.
    reward_input: str = "latent"
    # Evaluation (eval mode: held-out loss, imagination, planning, serving) uses an exponential
    # moving average of the trained weights, decay ramped up as
    # (1 + step) / (ema_warmup + step) to ema_decay; 0 evaluates the online weights. The
    # ramp (polynomial-decay averaging) averages roughly the last (ema_warmup - 1) / step of
    # the run: it smooths the optimizer's noise at a constant learning rate, which differs
    # from seed to seed, without being dominated by the initial weights.
    ema_decay: float = 0.0
    ema_warmup: float = 10.0
    # Activation of the encoder, decoder, reward head and MLP baseline (V(q) is always tanh:
    # its gradient is written out for tanh).
    activation: str = "tanh"
    # Activation of the reward head alone ("": the same as `activation`). The pendulum reward
    # -(theta^2 + ...) with theta = atan2(sin, cos) has a kink at theta = +-pi, which a smooth
    # head can only round off (51-65% of a SiLU head's held-out reward error came from the 2% of
    # states with |theta| > 2.8); a ReLU head is piecewise linear and can bend there. The
    # head's gradient reaches nothing but the head (the reward is never differentiated by the
    # dynamics or the planners).
    reward_activation: str = ""
    lr: float = 1e-3
    # Adam's second-moment decay: 0.99 forgets a small gradient scale in ~100 steps, so that a
    # sudden large gradient does not make one oversized step (a loss spike).
    adam_beta2: float = 0.999

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("coords", "hidden", "potential_layers", "substeps", "prediction_steps"):
            if getattr(self, name) < 1:
                raise ContractError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.activation not in ACTIVATIONS:
            raise ContractError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.reward_activation not in ("", *ACTIVATIONS):
            raise ContractError(
                f"reward_activation must be '' or one of {ACTIVATIONS}, "
                f"got {self.reward_activation!r}"
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise ContractError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not self.ema_warmup > 1.0:
            raise ContractError(f"ema_warmup must be > 1, got {self.ema_warmup}")
        if not 0.0 < self.adam_beta2 < 1.0:
            raise ContractError(f"adam_beta2 must be in (0, 1), got {self.adam_beta2}")
        if not self.dt > 0:
            raise ContractError(f"dt must be positive, got {self.dt}")
        if self.dynamics not in ("hamiltonian", "mlp"):
            raise ContractError(f"dynamics must be hamiltonian or mlp, got {self.dynamics!r}")
        if self.energy not in ENERGIES:
            raise ContractError(f"energy must be one of {ENERGIES}, got {self.energy!r}")
        if self.reward_input not in REWARD_INPUTS:
            raise ContractError(
                f"reward_input must be one of {REWARD_INPUTS}, got {self.reward_input!r}"
            )
        if len(self.obs_shape) != 1:
            raise ContractError(
                f"the physics family takes state vectors [D], got {list(self.obs_shape)}"
            )
        if self.energy == "pendulum" and self.obs_shape != (3,):
            raise ContractError("the pendulum energy needs [cos, sin, velocity] observations")

    @property
    def reward_head_activation(self) -> str:
        """The reward head's activation: `reward_activation`, or `activation` when unset."""
        return self.reward_activation or self.activation

    @property
    def energy_name(self) -> str:
        if self.energy == "auto":
            return "pendulum" if self.obs_shape == (3,) else "none"
        return self.energy
