"""The SSM world model's loss, on a whole sequence through the parallel scan.

Components: `next_obs` (the predicted o_{t+1} = o_t + delta vs the real o_{t+1}, teacher
forced) and `reward`. The SSM state is reset where an episode starts (is_first), and a
prediction across an episode boundary is not scored.
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
    _, predicted, reward = model.sequence(model.zero_state(obs.shape[0]), obs, actions, keep)
    # the prediction after step t is valid unless step t + 1 starts a new episode
    valid = keep[:, 1:]
    denom = valid.sum().clamp(min=1.0)
    next_obs = ((predicted[:, :-1] - obs[:, 1:]).square().mean(-1) * valid).sum() / denom
    reward_loss = F.mse_loss(reward, rewards)
    total = c.next_obs_coef * next_obs + c.reward_coef * reward_loss
    return LossOutput(total, {"next_obs": next_obs, "reward": reward_loss})
