"""Token world model (IRIS-style) configuration and its named sizes.

`base` is the paper's model (eloialonso/iris, config/tokenizer/default.yaml and
config/world_model/default.yaml): codebook 512 x 512, a 64x64 frame as 4x4 = 16 tokens, a causal
GPT of 10 layers, 4 heads, width 256 over a context of 20 steps of 17 tokens (16 observation
tokens + 1 action token). `ci` is a toy width for tests and quick gates.

Observations are tokenised three ways: token observations (modality "tokens", integer ids in
[0, obs_vocab_size)) are used as they are; vector observations get an MLP encoder whose output is
cut into `tokens_per_obs` vectors quantised against the codebook; 64x64 images get IRIS's
convolutional encoder down to a 4x4 grid (16 tokens) quantised the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worldflux.core import ContractError, ObservationSpec, WorldModelConfig

SIZES: dict[str, dict[str, Any]] = {
    "ci": {
        "vocab_size": 64,
        "embed_dim": 32,
        "tokens_per_obs": 4,
        "enc_channels": 16,
        "num_layers": 2,
        "num_heads": 2,
        "width": 64,
        "max_frames": 20,
        "context_frames": 8,
    },
    "base": {
        "vocab_size": 512,
        "embed_dim": 512,
        "tokens_per_obs": 16,
        "enc_channels": 64,
        "num_layers": 10,
        "num_heads": 4,
        "width": 256,
        "max_frames": 20,
        "context_frames": 8,
    },
}

# The paper's figures (IRIS, Micheli et al. 2023, and the official configs), for the docs
# table; a test checks them against SIZES["base"] and the model built from it.
PAPER_BASE: dict[str, Any] = {
    "vocab_size": 512,
    "embed_dim": 512,
    "tokens_per_obs": 16,
    "num_layers": 10,
    "num_heads": 4,
    "width": 256,
    "max_frames": 20,
    "commitment_beta": 1.0,
}


@dataclass
class TokenConfig(WorldModelConfig):
    """Constructor arguments of a token world model (tokenizer, transformer, losses)."""

    size: str = "base"
    # tokenizer
    vocab_size: int = 512  # codebook entries (vector and image observations)
    obs_vocab_size: int = 0  # token observations: ids lie in [0, obs_vocab_size)
    embed_dim: int = 512  # codebook vector width
    tokens_per_obs: int = 16  # vector observations; images always give a 4x4 grid
    enc_channels: int = 64  # conv channels (images) / hidden width / 4 (vectors)
    commitment_beta: float = 1.0  # IRIS: beta on ||z - sg(q)||^2, 1 on ||sg(z) - q||^2
    dead_code_threshold: float = 0.03  # a code is dead below this fraction of uniform usage
    usage_decay: float = 0.99  # EMA of code usage
    reinit_every: int = 50  # optimizer steps between dead-code re-initialisations
    # transformer
    num_layers: int = 10
    num_heads: int = 4
    width: int = 256
    dropout: float = 0.1  # embedding, residual and attention dropout (IRIS: 0.1 each)
    max_frames: int = 20  # positions: max_frames x (tokens + 1)
    context_frames: int = 8  # observed frames a latent state carries into imagination
    # heads and sampling
    reward_mode: str = "regression"  # "regression" (symlog MSE) | "sign" (IRIS, 3 classes)
    temperature: float = 1.0
    # losses and optimizer
    recon_coef: float = 1.0
    commit_coef: float = 1.0
    obs_coef: float = 1.0
    reward_coef: float = 1.0
    end_coef: float = 1.0
    lr: float = 1e-4
    grad_clip_norm: float = 10.0
    weight_decay: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        positive = (
            "vocab_size",
            "embed_dim",
            "tokens_per_obs",
            "enc_channels",
            "num_layers",
            "num_heads",
            "width",
            "max_frames",
            "context_frames",
            "reinit_every",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ContractError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.width % self.num_heads:
            raise ContractError(
                f"width {self.width} must be a multiple of num_heads {self.num_heads}"
            )
        if self.context_frames >= self.max_frames:
            raise ContractError(
                f"context_frames {self.context_frames} must be < max_frames {self.max_frames} "
                "(imagination needs room for at least one new frame)"
            )
        if self.reward_mode not in ("regression", "sign"):
            raise ContractError(f"reward_mode must be regression or sign, got {self.reward_mode!r}")
        if not self.temperature > 0:
            raise ContractError(f"temperature must be positive, got {self.temperature}")
        if not 0.0 <= self.dropout < 1.0:
            raise ContractError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.is_tokens:
            if len(self.obs_shape) != 1 or self.obs_vocab_size < 1:
                raise ContractError(
                    "token observations must be [K] ids with obs_vocab_size >= 1 (the dataset's "
                    f"vocab_size), got shape {list(self.obs_shape)}, "
                    f"obs_vocab_size {self.obs_vocab_size}"
                )
        elif self.is_image:
            channels, height, width = self.obs_shape
            if height != width or height < 8 or height & (height - 1):
                raise ContractError(
                    "the token model's image encoder takes square power-of-two frames of at "
                    f"least 8x8 ([C, H, W]), got {list(self.obs_shape)}"
                )
        elif len(self.obs_shape) != 1:
            raise ContractError(
                "the token model takes vectors [D], token ids [K] or images [C, H, W], "
                f"got {list(self.obs_shape)}"
            )

    @classmethod
    def dataset_defaults(cls, data_spec: Any) -> dict[str, Any]:
        """Token datasets bring their vocabulary (DatasetSpec.vocab_size)."""
        vocab = int(getattr(data_spec, "vocab_size", 0) or 0)
        if getattr(data_spec, "modality", "") == "tokens" and vocab > 0:
            return {"obs_vocab_size": vocab}
        return {}

    def observation_spec(self) -> ObservationSpec:
        """Token observations are int64 ids (as the `tokens` dataset stores them)."""
        spec = super().observation_spec()
        return ObservationSpec(spec.shape, "int64", spec.modality) if self.is_tokens else spec

    @property
    def is_tokens(self) -> bool:
        return self.obs_modality == "tokens"

    @property
    def is_image(self) -> bool:
        return len(self.obs_shape) == 3 and not self.is_tokens

    @property
    def num_tokens(self) -> int:
        """K: tokens per observation."""
        if self.is_tokens:
            return self.obs_shape[0]
        if self.is_image:
            return IMAGE_GRID * IMAGE_GRID
        return self.tokens_per_obs

    @property
    def token_vocab(self) -> int:
        """V: the observation-token vocabulary the transformer predicts."""
        return self.obs_vocab_size if self.is_tokens else self.vocab_size


IMAGE_GRID = 4  # IRIS: a 64x64 frame becomes 4x4 tokens
