"""GAN world model configuration and its named sizes.

A recurrent generator predicts the next observation from the history and the action (plus a
noise vector); a separate discriminator judges the next observation given the history, the
observation and the action, and has its own optimizer. The adversarial part follows SAGAN
(Zhang et al. 2019): spectral normalisation in the discriminator, hinge loss, two time-scale
update rule (generator lr 1e-4, discriminator 4e-4, Adam betas (0, 0.9)); the conditional
setup and the regression term follow pix2pix (Isola et al. 2017: L1 weighted 100); an R1
penalty (Mescheder et al. 2018) keeps the discriminator's gradient at real data small.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worldflux.core import ContractError, WorldModelConfig

SIZES: dict[str, dict[str, Any]] = {
    "ci": {"hidden": 64, "embed_dim": 32, "noise_dim": 4, "disc_hidden": 64},
    "base": {"hidden": 512, "embed_dim": 256, "noise_dim": 32, "disc_hidden": 512},
}

# Reference figures (SAGAN, Zhang et al. 2019; pix2pix, Isola et al. 2017), for the docs table.
PAPER: dict[str, Any] = {
    "lr": 1e-4,
    "disc_lr": 4e-4,
    "betas": (0.0, 0.9),
    "regression_coef": 100.0,  # pix2pix: lambda = 100 on L1
    "adversarial": "hinge (SAGAN)",
    "discriminator": "spectral norm on every layer (SAGAN)",
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
    lr: float = 1e-4
    disc_lr: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.9
    adv_coef: float = 1.0
    regression_coef: float = 100.0  # on the next-observation L1 (pix2pix's lambda)
    reward_coef: float = 1.0
    r1_coef: float = 1.0  # gamma of the R1 penalty, 0 to switch it off

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("hidden", "embed_dim", "noise_dim", "disc_hidden"):
            if getattr(self, name) < 1:
                raise ContractError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and self.disc_lr > 0 and 0.0 <= self.beta1 < 1.0):
            raise ContractError("need lr > 0, disc_lr > 0 and 0 <= beta1 < 1")
        if not (0.0 <= self.beta2 < 1.0 and self.r1_coef >= 0.0):
            raise ContractError("need 0 <= beta2 < 1 and r1_coef >= 0")
        if len(self.obs_shape) != 1:
            raise ContractError(
                f"the gan family takes vector observations [D], got {list(self.obs_shape)}"
            )
