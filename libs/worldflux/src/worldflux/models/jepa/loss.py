"""The I-JEPA loss: smooth L1 from predicted to layer-normalised EMA-target features."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from worldflux.core import Batch, LossOutput

if TYPE_CHECKING:
    from worldflux.models.jepa.model import JEPA


def embedding_std(features: torch.Tensor) -> torch.Tensor:
    """Collapse check: per-dimension std over the batch of features [B, N, D] (each token
    position on its own, so fixed position embeddings cannot hide a constant encoder), mean
    over positions and dimensions. 0 when the encoder ignores its input."""
    if features.shape[0] < 2:
        return features.new_zeros(())
    return features.float().std(0).mean()


def jepa_loss(model: JEPA, batch: Batch) -> LossOutput:
    obs = model.check_obs(batch.obs, leading=2, name="batch.obs")
    frames = model.training_frames(obs)  # [B', 1, *obs_shape]
    masks = model.sample_masks(frames.shape[0])
    with torch.no_grad():
        target = model.target_features(frames)  # [B', N, D], layer-normalised
    predicted, wanted = model.predict_blocks(frames, masks, target)
    loss = F.smooth_l1_loss(predicted, wanted)
    return LossOutput(
        loss,
        {"representation_loss": loss},
        metrics={"embedding_std": float(embedding_std(target)), "mask_ratio": masks.ratio},
    )
