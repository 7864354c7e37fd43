"""SSM world model configuration and its named sizes.

A stack of diagonal state-space layers (S4D, Gu et al. 2022: "On the Parameterization and
Initialization of Diagonal State Space Models") over per-step inputs [observation embedding,
action]. `base` follows the S4D paper's standard block (state size N = 64, i.e. 32 complex
conjugate pairs, S4D-Lin initialisation, ZOH discretisation, dt log-uniform in [1e-3, 1e-1]);
`ci` is a toy width for tests and quick gates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worldflux.core import ContractError, WorldModelConfig

SIZES: dict[str, dict[str, Any]] = {
    # ci's MLPs (encoder and heads) are 128 wide: at 64 the 5-seed gate's final held-out loss
    # varied 20.5% across seeds (mostly the reward's fit where pendulum's angle wraps, in two
    # groups of seeds), at 128 5.4% (2000 steps, cosine; docs/content/families/ssm.md).
    "ci": {"d_model": 32, "state_size": 16, "num_layers": 2, "embed_dim": 32, "hidden": 128},
    "base": {"d_model": 256, "state_size": 64, "num_layers": 4, "embed_dim": 256, "hidden": 512},
}

# The paper's figures (S4D, Gu, Gupta, Goel & Re, NeurIPS 2022), for the docs table.
PAPER: dict[str, Any] = {
    "state_size": 64,
    "init": "S4D-Lin: A_n = -1/2 + i pi n",
    "discretisation": "ZOH",
    "dt_range": (1e-3, 1e-1),
    "kernel": "diagonal (Vandermonde)",
}


@dataclass
class SSMConfig(WorldModelConfig):
    """Constructor arguments of an SSM world model."""

    size: str = "ci"
    d_model: int = 32  # H: channels of every SSM layer
    state_size: int = 16  # N: real state size per channel (N / 2 complex conjugate pairs)
    num_layers: int = 2
    embed_dim: int = 32  # observation embedding width (the SSM input is [embedding, action])
    hidden: int = 128  # MLP width of the encoder and the heads
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    # losses and optimizer
    # The next-observation error is in units of one step's change (pendulum: a few hundredths,
    # its copy-last MSE 0.023) and the reward error in the reward's (pendulum: variance 10); at
    # 1:1 the reward dominated the shared layers and after 150 steps the held-out one-step error
    # was 0.012, at 10:1 0.0031 (seed 0, ssm:ci, batch 16 x 16, lr 1e-3).
    next_obs_coef: float = 10.0
    reward_coef: float = 1.0
    lr: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("d_model", "state_size", "num_layers", "embed_dim", "hidden"):
            if getattr(self, name) < 1:
                raise ContractError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.state_size % 2:
            raise ContractError(
                f"state_size must be even (complex conjugate pairs), got {self.state_size}"
            )
        if not 0.0 < self.dt_min <= self.dt_max:
            raise ContractError(f"need 0 < dt_min <= dt_max, got {self.dt_min}, {self.dt_max}")
        if len(self.obs_shape) != 1:
            raise ContractError(
                f"the ssm family takes vector observations [D], got {list(self.obs_shape)}"
            )
