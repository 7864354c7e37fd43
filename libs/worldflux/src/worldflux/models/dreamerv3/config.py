"""DreamerV3 configuration: the 2024 official config (danijar/dreamerv3, configs.yaml).

The named sizes change only the RSSM widths, the CNN depth and the MLP units, exactly as the
official `size*` presets do; every other field keeps the `defaults` value of the 2024 config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from worldflux.core import ContractError, WorldModelConfig


@dataclass
class DreamerV3Config(WorldModelConfig):
    """Constructor arguments of a DreamerV3 model. Without a size it is the registry's default
    size, size12m (the paper's default); the named sizes (SIZES) override the widths."""

    size: str = "size12m"
    # RSSM (agent.dyn.rssm); size12m widths
    deter: int = 2048
    hidden: int = 256
    stoch: int = 32
    classes: int = 16
    blocks: int = 8
    unimix: float = 0.01
    free_nats: float = 1.0
    imglayers: int = 2
    obslayers: int = 1
    dynlayers: int = 1
    # Encoder / decoder (agent.enc.simple, agent.dec.simple); size12m widths
    depth: int = 16
    mults: tuple[int, ...] = (2, 3, 4, 4)
    kernel: int = 5
    units: int = 256
    enc_layers: int = 3
    dec_layers: int = 3
    bspace: int = 8
    # Heads (agent.rewhead, conhead, policy, value)
    rew_layers: int = 1
    con_layers: int = 1
    actor_layers: int = 3
    critic_layers: int = 3
    bins: int = 255
    minstd: float = 0.1
    maxstd: float = 1.0
    norm_eps: float = 1e-4
    # Loss scales (agent.loss_scales)
    scale_rec: float = 1.0
    scale_rew: float = 1.0
    scale_con: float = 1.0
    scale_dyn: float = 1.0
    scale_rep: float = 0.1
    scale_policy: float = 1.0
    scale_value: float = 1.0
    scale_repval: float = 0.3
    # Actor-critic in imagination (agent.imag_loss, repl_loss, slowvalue, retnorm)
    imag_horizon: int = 15
    imag_last: int = 0  # 0: start imagination from every posterior state of the batch
    horizon: int = 333  # continue targets are scaled by 1 - 1/horizon ("contdisc")
    lam: float = 0.95
    # Replay context (replay_context: 1): restart each training sequence from the posterior
    # stored with the replayed step before it; 0 starts every sequence from zeros. Applies
    # when training from a ReplayBuffer (a fixed dataset opts in: ReplayBuffer.from_dataset).
    replay_context: int = 1
    actent: float = 3e-4
    slowreg: float = 1.0
    slow_rate: float = 0.02
    slow_every: int = 1
    retnorm_rate: float = 0.01
    retnorm_limit: float = 1.0
    retnorm_perclo: float = 5.0
    retnorm_perchi: float = 95.0
    # Optimizer (agent.opt): LaProp-style RMS scaling then momentum, AGC, linear warmup
    lr: float = 4e-5
    opt_eps: float = 1e-20
    beta1: float = 0.9
    beta2: float = 0.999
    agc: float = 0.3
    warmup: int = 1000

    def __post_init__(self) -> None:
        self.mults = tuple(int(m) for m in self.mults)
        super().__post_init__()
        positive = (
            "deter hidden stoch classes blocks depth kernel units bins imag_horizon horizon "
            "enc_layers dec_layers actor_layers critic_layers imglayers"
        ).split()
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ContractError(
                    f"DreamerV3Config.{name} must be >= 1, got {getattr(self, name)}"
                )
        if self.deter % self.blocks:
            raise ContractError(
                f"deter ({self.deter}) must be divisible by blocks ({self.blocks}) "
                "for the block-diagonal GRU"
            )
        if self.replay_context not in (0, 1):
            raise ContractError(
                "replay_context must be 0 or 1 (steps of stored context), "
                f"got {self.replay_context}"
            )
        if not 0.0 <= self.unimix < 1.0:
            raise ContractError(f"unimix must be in [0, 1), got {self.unimix}")
        if self.bins < 2:
            raise ContractError(f"bins must be >= 2, got {self.bins}")
        if self.is_image:
            self._check_image()

    @property
    def is_image(self) -> bool:
        return self.observation_spec().modality == "image"

    @property
    def stoch_dim(self) -> int:
        return self.stoch * self.classes

    @property
    def feat_dim(self) -> int:
        return self.deter + self.stoch_dim

    @property
    def cnn_depths(self) -> tuple[int, ...]:
        return tuple(self.depth * m for m in self.mults)

    @property
    def min_resolution(self) -> tuple[int, int]:
        factor = 2 ** len(self.mults)
        return self.obs_shape[1] // factor, self.obs_shape[2] // factor

    def _check_image(self) -> None:
        if len(self.obs_shape) != 3:
            raise ContractError(f"image observations must be [C, H, W], got {list(self.obs_shape)}")
        factor = 2 ** len(self.mults)
        _, h, w = self.obs_shape
        if h % factor or w % factor or not all(3 <= r <= 16 for r in self.min_resolution):
            raise ContractError(
                f"image size {h}x{w} does not suit the DreamerV3 CNN: height and width must be "
                f"multiples of {factor} giving a 3..16 pixel bottleneck (e.g. 64x64)"
            )
        if self.bspace and (math.prod(self.min_resolution) * self.cnn_depths[-1]) % self.bspace:
            raise ContractError("decoder bottleneck size must be divisible by bspace")


def _size(deter: int, hidden: int, classes: int, depth: int, units: int) -> dict[str, Any]:
    return {
        "deter": deter,
        "hidden": hidden,
        "stoch": 32,
        "classes": classes,
        "depth": depth,
        "units": units,
    }


# configs.yaml size presets: deter = 8 x hidden, classes = hidden / 16, depth = hidden / 16.
SIZES: dict[str, dict[str, Any]] = {
    # `ci` keeps every mechanism (8 GRU blocks, unimix, two-hot, CNN/MLP) at a toy width.
    "ci": {"deter": 64, "hidden": 32, "stoch": 8, "classes": 4, "depth": 4, "units": 32},
    "size1m": _size(512, 64, 4, 4, 64),
    "size12m": _size(2048, 256, 16, 16, 256),
    "size25m": _size(3072, 384, 24, 24, 384),
    "size50m": _size(4096, 512, 32, 32, 512),
    "size100m": _size(6144, 768, 48, 48, 768),
    "size200m": _size(8192, 1024, 64, 64, 1024),
    "size400m": _size(12288, 1536, 96, 96, 1536),
}

# The paper's parameter counts (64x64x3 images, 18 discrete actions, slow critic included), for
# the size tests and the benchmark's comparison.
PAPER_PARAMS: dict[str, float] = {
    "size1m": 0.75e6,
    "size12m": 11.4e6,
    "size25m": 25.4e6,
    "size50m": 44.9e6,
    "size100m": 100.8e6,
    "size200m": 178.8e6,
    "size400m": 401.6e6,
}
