"""EDM (Karras et al., 2022) as DIAMOND uses it: preconditioning, training noise levels, and the
Euler sampler (eloialonso/diamond, src/models/diffusion/denoiser.py, diffusion_sampler.py).

All in the denoiser's normalised space, where the data has standard deviation sigma_data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Conditioners:
    """Per-sample scalings [B] of D(x, sigma) = c_skip x + c_out F(c_in x, c_noise)."""

    c_in: torch.Tensor
    c_out: torch.Tensor
    c_skip: torch.Tensor
    c_noise: torch.Tensor


def conditioners(sigma: torch.Tensor, sigma_data: float, offset_noise: float = 0.0) -> Conditioners:
    """Karras preconditioning; offset noise (DIAMOND) adds its variance to sigma's first."""
    sigma = (sigma**2 + offset_noise**2).sqrt()
    total = sigma**2 + sigma_data**2
    c_skip = sigma_data**2 / total
    return Conditioners(
        c_in=1 / total.sqrt(),
        c_out=sigma * sigma_data / total.sqrt(),
        c_skip=c_skip,
        c_noise=sigma.log() / 4,
    )


def sample_sigma(
    n: int,
    loc: float,
    scale: float,
    low: float,
    high: float,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Training noise levels: exp(N(loc, scale^2)) clipped to [low, high]."""
    normal = torch.randn(n, generator=generator, device=device)
    return (normal * scale + loc).exp().clip(low, high)


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float) -> torch.Tensor:
    """steps levels from sigma_max down to sigma_min spaced in sigma^(1/rho), then 0."""
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)]).float()


Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def euler_sample(denoise: Denoise, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """First-order (Euler) probability-flow ODE from x = noise at sigmas[0] to sigmas[-1] = 0.

    As the official sampler, the start is unit Gaussian noise (not scaled by sigma_max) and no
    churn is added; `denoise(x, sigma [B])` is D(x, sigma)."""
    x = noise
    ones = torch.ones(x.shape[0], device=x.device)
    for sigma, nxt in zip(sigmas[:-1].tolist(), sigmas[1:].tolist(), strict=True):
        denoised = denoise(x, ones * sigma)
        x = x + (x - denoised) / sigma * (nxt - sigma)
    return x


def fourier_features(c_noise: torch.Tensor, dim: int) -> torch.Tensor:
    """[B] -> [B, dim] sinusoidal embedding of the noise level."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=c_noise.device) / half)
    angles = c_noise[:, None] * freqs[None] * 100.0
    return torch.cat([angles.cos(), angles.sin()], -1)
