"""The GAN world model's two losses, for alternating updates by the Trainer's two optimizers.

`gan_loss` (the generator's optimizer, first): the next-observation regression (L1, weighted
by pix2pix's lambda), the hinge generator term -D(G) (SAGAN) and the reward MSE. It hands the
generated transitions (detached) to `discriminator_loss` (the discriminator's optimizer, second,
after the generator step), which scores real next observations against generated ones with the
hinge loss, plus an R1 penalty (Mescheder et al. 2018) on the gradient at real inputs.

Stability metrics (every evaluation, held-out): `d_real`, `d_fake` (mean discriminator scores
on real and generated transitions), `d_margin` = d_real - d_fake (2 or more: every real and
generated transition is outside the hinge margin, the discriminator has won), `d_accuracy`
(how often the real next observation scores above the generated one for the same history and
action, a two-alternative choice: 0.5 is chance, near 1 the generator is easy to tell apart;
paired rather than thresholded at 0, since the hinge loss leaves the scores' common offset
free: a run measured both at -0.36, which a threshold counted as exactly 0.5) and
`spread_ratio` (std of the generated steps o_{t+1} - o_t over the real ones: far below 1
signals mode collapse).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from worldflux.core import Batch, LossOutput

if TYPE_CHECKING:
    from worldflux.models.gan.model import GAN

FAKE, REAL, OBS, ACTION, HISTORY = "gan.fake", "gan.real", "gan.obs", "gan.action", "gan.history"


def gan_loss(model: GAN, batch: Batch) -> LossOutput:
    c = model.config
    obs = model.check_obs(batch.obs, leading=2, name="batch.obs").to(model.device)
    actions = model.check_actions(batch.actions).to(model.device)
    rewards = batch.rewards.float().to(model.device)
    keep = 1.0 - batch.is_first.float().to(model.device)
    g, d = model.generator, model.discriminator
    h = obs.new_zeros(obs.shape[0], c.hidden)
    hs = []
    for t in range(obs.shape[1]):
        h = g.history(h * keep[:, t, None], obs[:, t], actions[:, t])
        hs.append(h)
    hidden = torch.stack(hs, 1)
    reward = F.mse_loss(g.reward(hidden).squeeze(-1), rewards)
    fake = g.next_obs(hidden[:, :-1], obs[:, :-1])
    real, prev, act = obs[:, 1:], obs[:, :-1], actions[:, :-1]
    mask = keep[:, 1:].bool()  # a prediction across an episode start is not scored
    if model.training:
        d.update_scale((real - prev)[mask])
    history = hidden[:, :-1].detach()
    valid = mask.float()
    denom = valid.sum().clamp(min=1.0)
    regression = ((fake - real).abs().mean(-1) * valid).sum() / denom
    d_fake = d(history, prev, act, fake)
    adversarial = -(d_fake * valid).sum() / denom  # hinge generator loss
    total = c.regression_coef * regression + c.adv_coef * adversarial + c.reward_coef * reward
    with torch.no_grad():
        d_real = d(history, prev, act, real)[mask]
        fake_scores = d_fake.detach()[mask]
        real_step, fake_step = (real - prev)[mask], (fake - prev)[mask]
        spread = fake_step.std(0).mean() / real_step.std(0).mean().clamp(min=1e-8)
        accuracy = (d_real > fake_scores).float().mean()
    metrics = {
        "d_real": float(d_real.mean()),
        "d_fake": float(fake_scores.mean()),
        "d_margin": float(d_real.mean() - fake_scores.mean()),
        "d_accuracy": float(accuracy),
        "spread_ratio": float(spread),
    }
    aux = {
        FAKE: fake[mask].detach(),
        REAL: real[mask],
        OBS: prev[mask],
        ACTION: act[mask],
        HISTORY: history[mask],
    }
    return LossOutput(
        total,
        {"next_obs": regression, "adversarial": adversarial, "reward": reward},
        metrics,
        aux,
    )


def discriminator_loss(model: GAN, first: LossOutput) -> LossOutput:
    """Hinge loss (real scores pushed above 1, generated below -1) + R1 on real inputs."""
    d = model.discriminator
    history, obs, action = first.aux[HISTORY], first.aux[OBS], first.aux[ACTION]
    real_next = first.aux[REAL].detach().requires_grad_(model.config.r1_coef > 0)
    real = d(history, obs, action, real_next)
    fake = d(history, obs, action, first.aux[FAKE])
    hinge = F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    components = {"discriminator": hinge}
    loss = hinge
    if model.config.r1_coef > 0:
        (grad,) = torch.autograd.grad(real.sum(), real_next, create_graph=True)
        # the gradient at the discriminator's own input, the normalised step
        r1 = (grad * d.scale()).square().sum(-1).mean()
        components["r1"] = r1
        loss = hinge + 0.5 * model.config.r1_coef * r1
    return LossOutput(loss, components)
