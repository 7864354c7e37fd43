"""The DiT world model's loss: EDM denoising of the next frame given the current frame and the
action, plus a reward head.

Frames are mapped to [-1, 1]. Training draws log sigma ~ N(p_mean, p_std^2) and weights the
error of the denoised frame by EDM's lambda(sigma) (so the network's own target has unit
weight). `denoise_error` (the diffusion gate's trend metric) is the MSE of the denoised frame at
fixed noise levels 0.1, 0.5 and 2 with noise from a fixed seed, so evaluations compare alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from worldflux.core import Batch, LossOutput

if TYPE_CHECKING:
    from worldflux.models.dit.model import DiT

EVAL_SIGMAS = (0.1, 0.5, 2.0)
EVAL_SEED = 20_230_302


def dit_loss(model: DiT, batch: Batch) -> LossOutput:
    c = model.config
    obs = model.check_obs(batch.obs, leading=2, name="batch.obs").to(model.device)
    actions = model.check_actions(batch.actions).to(model.device)
    keep = (1.0 - batch.is_first.float().to(model.device))[:, 1:].flatten()
    frames = obs * 2.0 - 1.0
    context, target = frames[:, :-1].flatten(0, 1), frames[:, 1:].flatten(0, 1)
    act = actions[:, :-1].flatten(0, 1)
    n = target.shape[0]
    sigma = (torch.randn(n, device=obs.device) * c.p_std + c.p_mean).exp()
    noisy = target + sigma[:, None, None, None] * torch.randn_like(target)
    denoised = model.denoise(noisy, context, sigma, act)
    weight = (sigma.square() + c.sigma_data**2) / (sigma * c.sigma_data).square()
    per_sample = (denoised - target).square().mean((1, 2, 3))
    denoise = (weight * per_sample * keep).sum() / keep.sum().clamp(min=1.0)
    reward_pred = model.reward(obs.flatten(0, 1), actions.flatten(0, 1))
    reward = F.mse_loss(reward_pred, batch.rewards.float().to(model.device).flatten())
    total = denoise + c.reward_coef * reward
    metrics: dict[str, float] = {}
    if not model.training:
        generator = torch.Generator().manual_seed(EVAL_SEED)
        errors = []
        with torch.no_grad():
            for level in EVAL_SIGMAS:
                noise = torch.randn(target.shape, generator=generator).to(obs.device)
                s = torch.full((n,), level, device=obs.device)
                den = model.denoise(target + level * noise, context, s, act)
                errors.append(float((den - target).square().mean()))
                metrics[f"denoise_error_sigma{level:g}"] = errors[-1]
        metrics["denoise_error"] = sum(errors) / len(errors)
    return LossOutput(total, {"denoise": denoise, "reward": reward}, metrics)
