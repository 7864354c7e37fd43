"""The diffusion world model's loss: EDM denoising of each next observation given the previous
frames and actions (DIAMOND's target (x - c_skip y) / c_out with MSE), and the reward /
episode-end head on real transitions.

All next observations of a window train at once, each with its own noise level, from the real
previous frames (windows start padded by repeating their first frame with no actions). The
official loop instead walks the window in order and conditions later steps on its own denoised
predictions; this batched form is one network call per batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from worldflux.core import Batch, LossOutput
from worldflux.models.diffusion.edm import conditioners, sample_sigma

if TYPE_CHECKING:
    from worldflux.models.diffusion.model import Diffusion

# Noise levels (normalised units) at which held-out evaluations report the denoising error.
REPORT_SIGMAS = (0.1, 0.5, 2.0)


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def diffusion_loss(model: Diffusion, batch: Batch) -> LossOutput:
    c = model.config
    obs = model.check_obs(batch.obs, leading=2, name="batch.obs").to(model.device)
    if model.training:
        model.fit_normalization(obs)
    x = model.normalize(obs)
    acts = model.action_input(batch.actions)
    b, t = obs.shape[:2]
    n = c.cond_frames
    # Context of target i (1 <= i < T): frames i-n .. i-1, clamped at the window's start.
    index = torch.arange(1, t, device=x.device)[:, None] + torch.arange(-n, 0, device=x.device)
    pad = (index < 0).to(x.dtype)
    index = index.clamp(min=0)
    frames = x[:, index].flatten(0, 1)  # [B * (T - 1), n, ...]
    cond = (acts[:, index] * (1 - pad)[None, :, :, None]).flatten(0, 1)
    target = x[:, 1:].flatten(0, 1)
    m = target.shape[0]
    sigma = sample_sigma(
        m, c.sigma_loc, c.sigma_scale, c.sigma_min_train, c.sigma_max_train, x.device
    )
    noise = torch.randn_like(target) * model._bcast(sigma)
    if model.offset_noise():
        noise = noise + model.offset_noise() * torch.randn(
            *target.shape[:2], *([1] * (target.dim() - 2)), device=x.device
        )
    noisy = target + noise
    cs = conditioners(sigma, c.sigma_data, model.offset_noise())
    out = model.raw_output(noisy, sigma, frames, cond)
    train_target = (target - model._bcast(cs.c_skip) * noisy) / model._bcast(cs.c_out)
    denoise = F.mse_loss(out, train_target)
    denoised = model._bcast(cs.c_skip) * noisy + model._bcast(cs.c_out) * out
    metrics = {"denoise_error": float(F.mse_loss(denoised.detach(), target))}
    if not model.training:
        with torch.no_grad():
            g = torch.Generator(device="cpu").manual_seed(0)
            eps = torch.randn(target.shape, generator=g).to(x.device)
            for level in REPORT_SIGMAS:
                s = torch.full((m,), level, device=x.device)
                den = model.denoise(target + level * eps, s, frames, cond)
                metrics[f"denoise_error_sigma{level:g}"] = float(F.mse_loss(den, target))

    valid = torch.ones(b, t - 1, device=x.device)
    is_last = batch.extras.get("is_last")
    if is_last is not None:
        valid = 1.0 - is_last[:, :-1].float().to(x.device)
    head = model.head(
        x[:, :-1].flatten(0, 1), acts[:, :-1].flatten(0, 1), x[:, 1:].flatten(0, 1)
    ).view(b, t - 1, 2)
    rewards = batch.rewards[:, :-1].float().to(x.device)
    reward = _masked_mean((head[..., 0] - symlog(rewards)).square(), valid)
    ends = 1.0 - batch.continues[:, :-1].float().to(x.device)
    end = _masked_mean(
        F.binary_cross_entropy_with_logits(head[..., 1], ends, reduction="none"), valid
    )
    total = denoise + c.reward_coef * reward + c.end_coef * end
    return LossOutput(total, {"denoise": denoise, "reward": reward, "end": end}, metrics)
