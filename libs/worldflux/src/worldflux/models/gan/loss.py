"""The GAN world model's two losses, for alternating updates by the Trainer's two optimizers.

`gan_loss` (the generator's optimizer, first): the next-observation regression (MSE, weighted
as pix2pix weights its L1), the non-saturating adversarial term -log D(G) and the reward. It
hands the generated transitions to `discriminator_loss` (the discriminator's optimizer, second,
after the generator step), which scores real transitions against them, detached.

Stability metrics (every evaluation): `d_real`, `d_fake` (mean D probabilities on real and
generated transitions), `d_margin` = d_real - d_fake (near 1: the discriminator wins and the
generator's gradient vanishes; near 0: balance) and `spread_ratio` (std of the generated steps
o_{t+1} - o_t over the real ones: far below 1 signals mode collapse).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from worldflux.core import Batch, LossOutput

if TYPE_CHECKING:
    from worldflux.models.gan.model import GAN

FAKE, REAL, OBS, ACTION = "gan.fake", "gan.real", "gan.obs", "gan.action"


def gan_loss(model: GAN, batch: Batch) -> LossOutput:
    c = model.config
    obs = model.check_obs(batch.obs, leading=2, name="batch.obs").to(model.device)
    actions = model.check_actions(batch.actions).to(model.device)
    rewards = batch.rewards.float().to(model.device)
    keep = 1.0 - batch.is_first.float().to(model.device)
    g = model.generator
    h = obs.new_zeros(obs.shape[0], c.hidden)
    hs = []
    for t in range(obs.shape[1]):
        h = g.history(h * keep[:, t, None], obs[:, t], actions[:, t])
        hs.append(h)
    hidden = torch.stack(hs, 1)
    reward = F.mse_loss(g.reward(hidden).squeeze(-1), rewards)
    fake = g.next_obs(hidden[:, :-1], obs[:, :-1])
    real, prev, act = obs[:, 1:], obs[:, :-1], actions[:, :-1]
    valid = keep[:, 1:]
    denom = valid.sum().clamp(min=1.0)
    regression = ((fake - real).square().mean(-1) * valid).sum() / denom
    d_fake = model.discriminator(prev, act, fake)
    adversarial = (F.softplus(-d_fake) * valid).sum() / denom  # -log sigmoid(D(fake))
    total = c.regression_coef * regression + c.adv_coef * adversarial + c.reward_coef * reward
    mask = valid.bool()
    with torch.no_grad():
        d_real = model.discriminator(prev, act, real)
        p_real, p_fake = torch.sigmoid(d_real[mask]), torch.sigmoid(d_fake[mask])
        real_step, fake_step = (real - prev)[mask], (fake - prev)[mask]
        spread = fake_step.std(0).mean() / real_step.std(0).mean().clamp(min=1e-8)
    metrics = {
        "d_real": float(p_real.mean()),
        "d_fake": float(p_fake.mean()),
        "d_margin": float(p_real.mean() - p_fake.mean()),
        "spread_ratio": float(spread),
    }
    aux = {FAKE: fake[mask].detach(), REAL: real[mask], OBS: prev[mask], ACTION: act[mask]}
    return LossOutput(
        total,
        {"next_obs": regression, "adversarial": adversarial, "reward": reward},
        metrics,
        aux,
    )


def discriminator_loss(model: GAN, first: LossOutput) -> LossOutput:
    d = model.discriminator
    obs, action = first.aux[OBS], first.aux[ACTION]
    real = d(obs, action, first.aux[REAL])
    fake = d(obs, action, first.aux[FAKE])
    loss = F.softplus(-real).mean() + F.softplus(fake).mean()  # BCE: real 1, generated 0
    return LossOutput(loss, {"discriminator": loss})
