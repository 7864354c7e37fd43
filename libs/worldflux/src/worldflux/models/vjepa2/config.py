"""V-JEPA 2 configuration and its named sizes.

Defaults follow the official pretraining config (facebookresearch/vjepa2, configs/train/
vitl16/pretrain-256px-16f.yaml): tubelets of 2 frames x 16 x 16 pixels, multi-block masks
(8 blocks of 15% and 2 blocks of 70% of each frame, spanning the whole clip), L1 on
layer-normalised target features, EMA momentum 0.99925, a predictor 12 blocks deep and 384
wide, AdamW with weight decay 0.04. The paper's encoders are ViT-L/H/g; our named sizes are
smaller ViTs of the same design (`tiny`: ViT-Ti, `base`: ViT-B), and `ci` a toy width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worldflux.core import ActionKind, ActionSpec, ContractError, WorldModelConfig

SIZES: dict[str, dict[str, Any]] = {
    "ci": {
        "embed_dim": 64,
        "depth": 2,
        "num_heads": 4,
        "pred_dim": 32,
        "pred_depth": 2,
        "pred_heads": 4,
        "patch_size": 8,
    },
    "tiny": {
        "embed_dim": 192,
        "depth": 12,
        "num_heads": 3,
        "pred_dim": 384,
        "pred_depth": 12,
        "pred_heads": 12,
    },
    "base": {
        "embed_dim": 768,
        "depth": 12,
        "num_heads": 12,
        "pred_dim": 384,
        "pred_depth": 12,
        "pred_heads": 12,
    },
}

# The paper's figures (V-JEPA 2, Assran et al. 2025; ViT-L/16 is its smallest encoder).
PAPER: dict[str, Any] = {
    "encoder": "ViT-L/16 (300M), ViT-H (600M), ViT-g (1B)",
    "embed_dim": 1024,
    "depth": 24,
    "num_heads": 16,
    "pred_dim": 384,
    "pred_depth": 12,
    "patch_size": 16,
    "tubelet_size": 2,
    "encoder_params": 300e6,
    "mask_sets": "8 x 15% + 2 x 70%, full clip",
    "ema": 0.99925,
    "loss": "L1",
}


@dataclass
class VJEPA2Config(WorldModelConfig):
    size: str = "base"
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    pred_dim: int = 384
    pred_depth: int = 12
    pred_heads: int = 12
    mlp_ratio: float = 4.0
    patch_size: int = 16
    group_size: int = 1  # vector observations: features per token
    tubelet_size: int = 2
    frames: int = 4  # frames per clip (official 16 / 64 at 256px; short clips here)
    clips_per_sequence: int = 1
    # masks: (num_blocks, spatial_scale) per mask set, each block spanning the whole clip
    mask_sets: tuple[tuple[int, float], ...] = ((8, 0.15), (2, 0.7))
    aspect_ratio: tuple[float, float] = (0.75, 1.5)
    ema: float = 0.99925
    lr: float = 5e-4
    weight_decay: float = 0.04
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.embed_dim % self.num_heads or self.pred_dim % self.pred_heads:
            raise ContractError("embed_dim / pred_dim must be divisible by their head counts")
        if self.tubelet_size < 1 or self.frames % self.tubelet_size:
            raise ContractError(
                f"frames {self.frames} must be a multiple of tubelet_size {self.tubelet_size}"
            )
        if len(self.obs_shape) == 3:
            _, height, width = self.obs_shape
            if height % self.patch_size or width % self.patch_size:
                raise ContractError(
                    f"frames {height}x{width} do not split into {self.patch_size}px patches"
                )
        elif len(self.obs_shape) != 1:
            raise ContractError(
                f"V-JEPA 2 takes frames [C, H, W] or vectors [D], got {list(self.obs_shape)}"
            )
        if not 0.0 <= self.ema <= 1.0:
            raise ContractError(f"ema must be in [0, 1], got {self.ema}")
        if not self.mask_sets or self.clips_per_sequence < 1:
            raise ContractError("need at least one mask set and one clip per sequence")

    def action_spec(self) -> ActionSpec:
        """V-JEPA 2 takes no actions (kind `none`): the action fields a dataset passes stay in the
        config as a record of the data, but no prediction is conditioned on them, so the gates'
        action-dependence check does not apply and planners refuse the model."""
        return ActionSpec(ActionKind.NONE)
