"""The V-JEPA 2 loss: L1 from predicted to layer-normalised EMA-target features of the masked
spatio-temporal blocks, averaged over the mask sets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from worldflux.core import Batch, LossOutput
from worldflux.models.jepa.loss import embedding_std

if TYPE_CHECKING:
    from worldflux.models.vjepa2.model import VJEPA2


def vjepa2_loss(model: VJEPA2, batch: Batch) -> LossOutput:
    obs = model.check_obs(batch.obs, leading=2, name="batch.obs")
    clips = model.training_clips(obs)
    mask_sets = model.sample_masks(clips.shape[0])
    with torch.no_grad():
        target = model.target_features(clips)
    losses = []
    for masks in mask_sets:
        predicted, wanted = model.predict_masked(clips, masks, target)
        losses.append((predicted - wanted).abs().mean())
    loss = torch.stack(losses).mean()
    ratio = sum(m.ratio for m in mask_sets) / len(mask_sets)
    return LossOutput(
        loss,
        {"representation_loss": loss},
        metrics={"embedding_std": float(embedding_std(target)), "mask_ratio": ratio},
    )
