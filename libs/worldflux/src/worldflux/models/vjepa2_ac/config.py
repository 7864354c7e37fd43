"""V-JEPA 2-AC configuration and its named sizes.

The encoder fields are V-JEPA 2's (same sizes); the encoder is frozen (load a trained V-JEPA 2
encoder with `VJEPA2AC.load_encoder`). The action-conditioned predictor follows the official
DROID post-training config (facebookresearch/vjepa2, configs/train/vitg16/droid-256px-8f.yaml):
frame-causal attention, 8-frame clips, teacher forcing plus a 2-step auto-regressive rollout
(auto_steps 2), L1 (loss_exp 1) on layer-normalised features, AdamW with weight decay 0.04.
The paper's predictor is 24 blocks of width 1024 (~300M parameters): our `base`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worldflux.core import ActionKind, ContractError, WorldModelConfig
from worldflux.models.vjepa2.config import SIZES as ENCODER_SIZES

_PREDICTORS: dict[str, dict[str, Any]] = {
    # ci: lr 1e-3, not the paper's 4.25e-4 (a 0.1M-parameter predictor trained for ~1600 steps;
    # at 4.25e-4 the 300-step gate runs showed no action gain at all)
    "ci": {"pred_dim": 64, "pred_depth": 2, "pred_heads": 4, "lr": 1e-3},
    "tiny": {"pred_dim": 384, "pred_depth": 6, "pred_heads": 6},
    "base": {"pred_dim": 1024, "pred_depth": 24, "pred_heads": 16},
}
_ENCODER_FIELDS = ("embed_dim", "depth", "num_heads", "patch_size")
SIZES: dict[str, dict[str, Any]] = {
    size: {
        **{k: ENCODER_SIZES[size][k] for k in _ENCODER_FIELDS if k in ENCODER_SIZES[size]},
        **_PREDICTORS[size],
    }
    for size in _PREDICTORS
}

PAPER: dict[str, Any] = {
    "pred_dim": 1024,
    "pred_depth": 24,
    "pred_heads": 16,
    "predictor_params": 300e6,
    "frames": 8,
    "auto_steps": 2,
    "loss": "L1 (teacher forcing + 2-step rollout), layer-normalised features",
    "planner": "CEM, L1 distance to the goal embedding",
}


@dataclass
class VJEPA2ACConfig(WorldModelConfig):
    size: str = "base"
    # frozen encoder (V-JEPA 2 architecture)
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    patch_size: int = 16
    group_size: int = 1
    tubelet_size: int = 2
    # action-conditioned predictor
    pred_dim: int = 1024
    pred_depth: int = 24
    pred_heads: int = 16
    mlp_ratio: float = 4.0
    frames: int = 8  # frames per training clip (and the longest context the predictor sees)
    auto_steps: int = 2
    # Predict frame t + 1 as a change of frame t's features (LN(h_t + predictor output), the
    # output projection starting at zero, so an untrained model copies the last frame); False:
    # the official direct regression of frame t + 1's features.
    residual: bool = True
    # Add each frame's action embedding to that frame's patch tokens as well as giving it its
    # own token (a deviation; DINO-WM conditions every patch token on the action this way). With
    # the token alone a patch must first learn to attend to 1 of 37 * (t + 1) keys: on `push`
    # the open-loop error rose by 4.6% / 7.9% with shuffled actions after 800 / 1200 steps, with
    # both 6.3% / 12.7% (seed 0, lr 1e-3, ci). False: the official action token only.
    action_to_patches: bool = True
    lr: float = 4.25e-4
    weight_decay: float = 0.04
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if ActionKind.parse(self.action_kind) is not ActionKind.CONTINUOUS:
            raise ContractError("V-JEPA 2-AC conditions on continuous actions")
        if self.embed_dim % self.num_heads or self.pred_dim % self.pred_heads:
            raise ContractError("embed_dim / pred_dim must be divisible by their head counts")
        if self.frames < 2 or not 1 <= self.auto_steps < self.frames:
            raise ContractError(
                f"need frames >= 2 and 1 <= auto_steps < frames, got {self.frames} / "
                f"{self.auto_steps}"
            )
        if len(self.obs_shape) == 3:
            _, height, width = self.obs_shape
            if height % self.patch_size or width % self.patch_size:
                raise ContractError(
                    f"frames {height}x{width} do not split into {self.patch_size}px patches"
                )
        elif len(self.obs_shape) != 1:
            raise ContractError(
                f"V-JEPA 2-AC takes frames [C, H, W] or vectors [D], got {list(self.obs_shape)}"
            )
