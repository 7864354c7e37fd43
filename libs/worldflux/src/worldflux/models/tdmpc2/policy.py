"""The policy prior's squashed Gaussian and the running Q scale that normalises its objective."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class PolicySample:
    """One reparameterised draw from the squashed Gaussian, with the quantities the loss uses.

    All actions are in the model's normalised space [-1, 1]. `log_prob` is the log-density of
    `action` after the tanh squash ([..., 1]); `scaled_entropy` is the entropy estimate that the
    official update weights by the action dimension, so the entropy bonus does not vanish
    relative to Q as the action space grows.
    """

    action: torch.Tensor
    mean: torch.Tensor
    log_std: torch.Tensor
    log_prob: torch.Tensor
    scaled_entropy: torch.Tensor

    @property
    def entropy(self) -> torch.Tensor:
        return -self.log_prob


def bounded_log_std(raw: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Map an unbounded network output smoothly into [low, high] (tanh, as the official code)."""
    return low + 0.5 * (high - low) * (torch.tanh(raw) + 1)


def gaussian_log_prob(eps: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(mean + std*eps | mean, std), summed over the action dim -> [..., 1]."""
    return (-0.5 * eps.pow(2) - log_std - _HALF_LOG_2PI).sum(-1, keepdim=True)


def sample_squashed_gaussian(
    mean: torch.Tensor, log_std: torch.Tensor, eps: torch.Tensor | None = None
) -> PolicySample:
    """Reparameterised tanh-Gaussian sample with the change-of-variables correction."""
    if eps is None:
        eps = torch.randn_like(mean)
    log_prob = gaussian_log_prob(eps, log_std)
    # The official "scaled" log-prob: the unsquashed density times the action dimension.
    scaled_log_prob = log_prob * eps.shape[-1]
    pre_tanh = mean + eps * log_std.exp()
    action = torch.tanh(pre_tanh)
    squash_correction = torch.log(torch.relu(1 - action.pow(2)) + 1e-6).sum(-1, keepdim=True)
    log_prob = log_prob - squash_correction
    entropy_scale = scaled_log_prob / (log_prob + 1e-8)
    return PolicySample(
        action=action,
        mean=torch.tanh(mean),
        log_std=log_std,
        log_prob=log_prob,
        scaled_entropy=-log_prob * entropy_scale,
    )


class RunningScale(nn.Module):
    """Running estimate of the 5-95 percentile range of Q, at least 1.

    Dividing Q by it makes the policy objective roughly scale-free across tasks, so one
    entropy coefficient (1e-4) works everywhere. Kept as a buffer so checkpoints restore it.
    """

    def __init__(self, tau: float, low: float = 5.0, high: float = 95.0) -> None:
        super().__init__()
        self.tau = tau
        self.register_buffer("value", torch.ones(1))
        self.register_buffer("percentiles", torch.tensor([low, high]) / 100.0)

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """x: a batch of Q values (any shape); 5-95 range clamped to >= 1, Polyak-averaged."""
        flat = x.detach().reshape(-1).float()
        low, high = torch.quantile(flat, self.percentiles.float())
        spread = (high - low).clamp(min=1.0)
        self.value.lerp_(spread.reshape(1).to(self.value.dtype), self.tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.value
