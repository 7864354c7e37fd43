"""The DiT world model's loss: EDM denoising of the next frame given the last `context_frames`
observed frames and the action, plus a reward head on the observed frames and the action.

A step's context is the frames t - K + 1 .. t of its window; where those reach before the
window or the step's episode start, the earliest frame available is repeated, as `encode`
does for a fresh state, so training and imagination see alike contexts.

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


def context_windows(frames: torch.Tensor, is_first: torch.Tensor, k: int) -> torch.Tensor:
    """[B, T, K, ...]: frames t - k + 1 .. t for every step t, oldest first, repeating the
    earliest frame of t's episode (or of the window) where the context reaches past it."""
    b, steps = frames.shape[:2]
    index = torch.arange(steps, device=frames.device)
    starts = torch.where(is_first.bool(), index, torch.zeros_like(index)).cummax(1).values
    offsets = torch.arange(k - 1, -1, -1, device=frames.device)
    picks = torch.maximum(index[None, :, None] - offsets, starts[:, :, None])  # [B, T, K]
    rows = torch.arange(b, device=frames.device)[:, None, None]
    return frames[rows, picks]


def dit_loss(model: DiT, batch: Batch) -> LossOutput:
    c = model.config
    obs = model.check_obs(batch.obs, leading=2, name="batch.obs").to(model.device).float()
    actions = model.check_actions(batch.actions).to(model.device)
    is_first = batch.is_first.to(model.device)
    keep = (1.0 - is_first.float())[:, 1:].flatten()
    stacks = context_windows(obs, is_first, c.context_frames)  # [B, T, K, C, H, W] in [0, 1]
    frames = obs * 2.0 - 1.0
    context = (stacks[:, :-1] * 2.0 - 1.0).flatten(0, 1).flatten(1, 2)
    target = frames[:, 1:].flatten(0, 1)
    if c.residual:  # denoise the change from the current frame
        target = target - frames[:, :-1].flatten(0, 1)
    act = actions[:, :-1].flatten(0, 1)
    n = target.shape[0]
    sigma = (torch.randn(n, device=obs.device) * c.p_std + c.p_mean).exp()
    noisy = target + sigma[:, None, None, None] * torch.randn_like(target)
    denoised = model.denoise(noisy, context, sigma, act)
    weight = (sigma.square() + c.sigma_data**2) / (sigma * c.sigma_data).square()
    per_sample = (denoised - target).square().mean((1, 2, 3))
    denoise = (weight * per_sample * keep).sum() / keep.sum().clamp(min=1.0)
    reward_pred = model.reward(stacks.flatten(0, 1), actions.flatten(0, 1))
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
