"""The V-JEPA 2-AC loss: teacher-forced L1 plus the L1 of a short auto-regressive rollout, both
on layer-normalised features of the frozen encoder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from worldflux.core import Batch, LossOutput
from worldflux.models.jepa.loss import embedding_std

if TYPE_CHECKING:
    from worldflux.models.vjepa2_ac.model import VJEPA2AC


def vjepa2_ac_loss(model: VJEPA2AC, batch: Batch) -> LossOutput:
    obs = model.check_obs(batch.obs, leading=2, name="batch.obs")
    actions = model.check_actions(batch.actions)
    t = min(obs.shape[1], model.config.frames)
    if t < model.config.auto_steps + 1:
        raise ValueError(f"sequences of {t} frames are too short for {model.config.auto_steps}")
    h = model.frame_features(obs[:, :t])  # [B, T, S, D], no gradient (frozen encoder)
    a = actions[:, : t - 1]
    # Teacher forcing: every frame predicted from the true frames before it.
    z_tf = model.step(h[:, :-1], a)
    teacher = (z_tf - h[:, 1:]).abs().mean()
    # Auto-regressive: frame 1 from the teacher-forced step, then the model's own predictions.
    context = torch.cat([h[:, :1], z_tf[:, :1]], dim=1)
    for n in range(1, model.config.auto_steps):
        nxt = model.step(context, a[:, : n + 1])[:, -1:]
        context = torch.cat([context, nxt], dim=1)
    steps = model.config.auto_steps
    rollout = (context[:, 1:] - h[:, 1 : steps + 1]).abs().mean()
    total = teacher + rollout
    return LossOutput(
        total,
        {"representation_loss": total, "teacher_forcing": teacher, "rollout": rollout},
        metrics={"embedding_std": float(embedding_std(z_tf.detach().flatten(1, 2)))},
    )
