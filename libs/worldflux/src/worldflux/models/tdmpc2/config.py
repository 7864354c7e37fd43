"""TD-MPC2 configuration and the paper's named sizes.

Defaults are the official single-task hyperparameters (nicklashansen/tdmpc2, config.yaml) with
the architecture of the paper's default size, 5m (a config without a size is that size); the
named sizes override the five architecture fields exactly as the official MODEL_SIZE table does,
and `ci` is a toy width for tests and quick gates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from worldflux.core import ActionKind, ContractError, WorldModelConfig

# Architecture per named size (official common/__init__.py MODEL_SIZE; num_q defaults to 5).
SIZES: dict[str, dict[str, Any]] = {
    "ci": {"enc_dim": 64, "mlp_dim": 64, "latent_dim": 32, "num_enc_layers": 2, "num_q": 2},
    "1m": {"enc_dim": 256, "mlp_dim": 384, "latent_dim": 128, "num_enc_layers": 2, "num_q": 2},
    "5m": {"enc_dim": 256, "mlp_dim": 512, "latent_dim": 512, "num_enc_layers": 2, "num_q": 5},
    "19m": {"enc_dim": 1024, "mlp_dim": 1024, "latent_dim": 768, "num_enc_layers": 3, "num_q": 5},
    "48m": {"enc_dim": 1792, "mlp_dim": 1792, "latent_dim": 768, "num_enc_layers": 4, "num_q": 5},
    "317m": {
        "enc_dim": 4096,
        "mlp_dim": 4096,
        "latent_dim": 1376,
        "num_enc_layers": 5,
        "num_q": 8,
    },
}

# Single-task parameter counts from the paper (obs 24, act 6), for the size tests and docs.
PAPER_PARAMS_SINGLE_TASK: dict[str, float] = {
    "1m": 1.21e6,
    "5m": 4.96e6,
    "19m": 18.06e6,
    "48m": 47.21e6,
    "317m": 312.6e6,
}


def discount_for_episode_length(
    episode_length: int, denom: float = 5.0, low: float = 0.95, high: float = 0.995
) -> float:
    """The official heuristic: longer episodes get a longer horizon, clipped to [0.95, 0.995].

    Pendulum-v1 (200 steps) gives 0.975; DMControl (1000 steps, action repeat 2 -> 500) 0.99.
    """
    if episode_length <= 0:
        raise ContractError(f"episode_length must be positive, got {episode_length}")
    frac = episode_length / denom
    return min(max((frac - 1) / frac, low), high)


@dataclass
class TDMPC2Config(WorldModelConfig):
    """Constructor arguments of a TD-MPC2 model (architecture, loss and optimizer settings).

    `discount` is the official rule's value for 1000-step episodes with action repeat 2 (0.99);
    for other data set it with `discount_for_episode_length` (the Trainer and the gates do so
    from the dataset's episode length when it is left at the default).
    """

    size: str = "5m"
    # architecture (5m size; SIZES overrides these five)
    enc_dim: int = 256
    mlp_dim: int = 512
    latent_dim: int = 512
    num_enc_layers: int = 2
    num_q: int = 5
    simnorm_dim: int = 8
    num_channels: int = 32  # conv encoder width for 64x64 image observations
    dropout: float = 0.01  # first layer of each Q-function
    # discrete regression of rewards and values (symlog space)
    num_bins: int = 101
    vmin: float = -10.0
    vmax: float = 10.0
    # policy prior
    log_std_min: float = -10.0
    log_std_max: float = 2.0
    entropy_coef: float = 1e-4
    # losses
    horizon: int = 3  # latent rollout length in training; longer sequences are cut into windows
    consistency_coef: float = 20.0
    reward_coef: float = 0.1
    value_coef: float = 0.1
    termination_coef: float = 1.0
    rho: float = 0.5
    # targets
    tau: float = 0.01
    discount: float = 0.99
    episodic: bool = False  # adds the termination head and rollout continues
    # optimizer (read by optimizer_spec / parameter_groups)
    lr: float = 3e-4
    enc_lr_scale: float = 0.3
    grad_clip_norm: float = 20.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if ActionKind.parse(self.action_kind) is not ActionKind.CONTINUOUS:
            raise ContractError(
                "TD-MPC2 needs continuous actions (its policy prior is a squashed Gaussian and "
                "MPPI samples Gaussian actions); wrap a discrete task as continuous scores in "
                f"[-1, 1] and take the argmax, as the official code does. Got {self.action_kind!r}"
            )
        for name in (
            "enc_dim",
            "mlp_dim",
            "latent_dim",
            "num_enc_layers",
            "simnorm_dim",
            "horizon",
        ):
            if getattr(self, name) < 1:
                raise ContractError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.latent_dim % self.simnorm_dim:
            raise ContractError(
                f"latent_dim {self.latent_dim} must be a multiple of simnorm_dim "
                f"{self.simnorm_dim} (SimNorm splits the latent into groups of that size)"
            )
        if self.num_q < 2:
            raise ContractError(f"num_q must be >= 2 (targets take 2 random Qs), got {self.num_q}")
        if self.num_bins < 2:
            raise ContractError(f"num_bins must be >= 2, got {self.num_bins}")
        if not self.vmin < self.vmax:
            raise ContractError(f"need vmin < vmax, got {self.vmin} / {self.vmax}")
        if not self.log_std_min < self.log_std_max:
            raise ContractError(
                f"need log_std_min < log_std_max, got {self.log_std_min} / {self.log_std_max}"
            )
        for name in ("dropout", "rho", "tau", "enc_lr_scale"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0 or math.isnan(value):
                raise ContractError(f"{name} must be in [0, 1], got {value}")
        if not 0.0 < self.discount <= 1.0:
            raise ContractError(f"discount must be in (0, 1], got {self.discount}")
        if not self.lr > 0 or not self.grad_clip_norm > 0:
            raise ContractError(
                f"lr and grad_clip_norm must be positive, got {self.lr} / {self.grad_clip_norm}"
            )
        if len(self.obs_shape) == 3:
            channels, height, width = self.obs_shape
            if height != width or height < 32:
                raise ContractError(
                    "TD-MPC2's conv encoder takes square images of at least 32x32 "
                    f"([C, H, W]), got {list(self.obs_shape)}"
                )
        elif len(self.obs_shape) != 1:
            raise ContractError(
                "TD-MPC2 takes state vectors [D] or images [C, H, W], "
                f"got observation shape {list(self.obs_shape)}"
            )

    @classmethod
    def dataset_defaults(cls, data_spec: Any) -> dict[str, Any]:
        """Fields this family derives from the data it trains on (a DatasetSpec): the discount,
        by the official rule from the episode length (transitions per episode). Builders that
        know the dataset (the gates, the examples) apply these before the user's overrides."""
        episodes = int(getattr(data_spec, "num_episodes", 0) or 0)
        steps = int(getattr(data_spec, "num_steps", 0) or 0)
        if episodes < 1 or steps // episodes < 2:
            return {}
        return {"discount": discount_for_episode_length(steps // episodes - 1)}

    @property
    def bin_size(self) -> float:
        return (self.vmax - self.vmin) / (self.num_bins - 1)

    @property
    def is_image(self) -> bool:
        return len(self.obs_shape) == 3
