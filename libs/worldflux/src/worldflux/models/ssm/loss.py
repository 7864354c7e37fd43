"""The SSM world model's loss, on a whole sequence through the parallel scan.

Components: `recon` (decoder(encoder(o_t)) vs o_t), `next_obs` (the decoded predicted
embedding vs o_{t+1}), `latent` (the predicted embedding vs the stop-gradient encoding of
o_{t+1}) and `reward`. The SSM state is reset where an episode starts (is_first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn.functional as F

from worldflux.core import Batch, LossOutput

if TYPE_CHECKING:
    from worldflux.models.ssm.model import SSM


def ssm_loss(model: SSM, batch: Batch) -> LossOutput:
    c = model.config
    obs = model.check_obs(batch.obs, leading=2, name="batch.obs").to(model.device)
    actions = model.check_actions(batch.actions).to(model.device)
    rewards = batch.rewards.float().to(model.device)
    keep = 1.0 - batch.is_first.float().to(model.device)
    e = model.encoder(obs)
    _, e_next, reward = model.sequence(model.zero_state(obs.shape[0]), e, actions, keep)
    # the prediction after step t is valid unless step t + 1 starts a new episode
    valid = keep[:, 1:]
    denom = valid.sum().clamp(min=1.0)
    recon = F.mse_loss(model.decoder(e), obs)
    next_obs = ((model.decoder(e_next[:, :-1]) - obs[:, 1:]).square().mean(-1) * valid).sum()
    next_obs = next_obs / denom
    latent = ((e_next[:, :-1] - e[:, 1:].detach()).square().mean(-1) * valid).sum() / denom
    reward_loss = F.mse_loss(reward, rewards)
    total = (
        c.recon_coef * recon
        + c.next_obs_coef * next_obs
        + c.latent_coef * latent
        + c.reward_coef * reward_loss
    )
    return LossOutput(
        total, {"recon": recon, "next_obs": next_obs, "latent": latent, "reward": reward_loss}
    )
