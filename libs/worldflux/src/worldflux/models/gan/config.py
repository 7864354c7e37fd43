"""GAN world model configuration and its named sizes.

A recurrent generator predicts the next observation from the history and the action (plus a
noise vector); a separate discriminator judges (observation, action, next observation)
transitions and has its own optimizer. Defaults follow the DCGAN recipe for the optimizers
(Adam, lr 2e-4, beta1 0.5) and pix2pix's mix of an adversarial and a regression term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worldflux.core import ContractError, WorldModelConfig

SIZES: dict[str, dict[str, Any]] = {
    "ci": {"hidden": 64, "embed_dim": 32, "noise_dim": 4, "disc_hidden": 64},
    "base": {"hidden": 512, "embed_dim": 256, "noise_dim": 32, "disc_hidden": 512},
}

# Reference figures (DCGAN, Radford et al. 2016; pix2pix, Isola et al. 2017), for the docs table.
PAPER: dict[str, Any] = {
    "lr": 2e-4,
    "betas": (0.5, 0.999),
    "regression_coef": 100.0,  # pix2pix: lambda = 100 on L1
    "adversarial": "non-saturating (-log D(G(z)))",
    "updates": "alternating, 1 D step : 1 G step",
}


@dataclass
class GANConfig(WorldModelConfig):
    """Constructor arguments of a GAN world model."""

    size: str = "ci"
    hidden: int = 64  # GRU history width and generator MLP width
    embed_dim: int = 32  # observation embedding
    noise_dim: int = 4
    disc_hidden: int = 64
    lr: float = 2e-4
    disc_lr: float = 2e-4
    beta1: float = 0.5
    adv_coef: float = 1.0
    regression_coef: float = 100.0  # on the next-observation MSE (pix2pix's lambda on L1)
    reward_coef: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("hidden", "embed_dim", "noise_dim", "disc_hidden"):
            if getattr(self, name) < 1:
                raise ContractError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and self.disc_lr > 0 and 0.0 <= self.beta1 < 1.0):
            raise ContractError("need lr > 0, disc_lr > 0 and 0 <= beta1 < 1")
        if len(self.obs_shape) != 1:
            raise ContractError(
                f"the gan family takes vector observations [D], got {list(self.obs_shape)}"
            )
