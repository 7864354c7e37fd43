"""The physics world model's loss: reconstruction, open-loop multi-step prediction of the
observations through the integrator (k = 1 .. prediction_steps, never across an episode start)
and reward. In eval mode it also reports `energy_drift` (energy.py) where the observations have
a known energy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn.functional as F

from worldflux.core import Batch, LossOutput
from worldflux.models.physics.energy import energy_drift

if TYPE_CHECKING:
    from worldflux.models.physics.model import Physics


def physics_loss(model: Physics, batch: Batch) -> LossOutput:
    c = model.config
    obs = model.check_obs(batch.obs, leading=2, name="batch.obs").to(model.device)
    actions = model.check_actions(batch.actions).to(model.device)
    starts = batch.is_first.float().to(model.device).cumsum(1)
    length = obs.shape[1]
    z = model.encoder(obs)
    recon = F.mse_loss(model.decoder(z), obs)
    reward = F.mse_loss(model.reward(z, actions), batch.rewards.float().to(model.device))
    predict = obs.new_zeros(())
    cur = z
    horizon = min(c.prediction_steps, length - 1)
    for k in range(1, horizon + 1):
        cur = model.step(cur[:, : length - k], actions[:, k - 1 : length - 1])
        valid = (starts[:, k:] == starts[:, : length - k]).float()
        err = (model.decoder(cur) - obs[:, k:]).square().mean(-1)
        predict = predict + (err * valid).sum() / valid.sum().clamp(min=1.0)
    predict = predict / max(horizon, 1)
    total = c.recon_coef * recon + c.predict_coef * predict + c.reward_coef * reward
    metrics: dict[str, float] = {}
    if not model.training and c.energy_name != "none":
        metrics["energy_drift"] = energy_drift(model, obs[:, 0], c.drift_steps, c.energy_name)
    return LossOutput(total, {"recon": recon, "predict": predict, "reward": reward}, metrics)
