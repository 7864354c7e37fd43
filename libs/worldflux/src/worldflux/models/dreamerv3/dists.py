"""The output distributions of DreamerV3 (embodied/jax/outs.py), written for torch.

- symlog / symexp squashing;
- two-hot regression over bins spaced uniformly in symlog space on [-20, 20] (reward, value);
- categoricals mixed with 1% uniform ("unimix") with straight-through one-hot samples
  (latents and the discrete actor);
- the bounded normal of the continuous actor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(torch.abs(x))


def symexp_bins(num_bins: int, low: float = -20.0, high: float = 20.0) -> torch.Tensor:
    """Bin centres in value space: symexp of a uniform grid in symlog space.

    Built from one half and its mirror (as the official code does) so the bins are exactly
    symmetric and a uniform distribution decodes to exactly 0.
    """
    if low != -high:
        raise ValueError("two-hot bins must be symmetric around 0")
    if num_bins % 2 == 1:
        half = symexp(
            torch.linspace(low, 0.0, (num_bins - 1) // 2 + 1, dtype=torch.float64, device="cpu")
        )
        bins = torch.cat([half, -half[:-1].flip(0)])
    else:
        half = symexp(torch.linspace(low, 0.0, num_bins // 2, dtype=torch.float64, device="cpu"))
        bins = torch.cat([half, -half.flip(0)])
    return bins.float()


class TwoHot(nn.Module):
    """Two-hot encoding over fixed bins and the matching decode (expected bin value).

    As in the 2024 official code the target is split between its two neighbouring bins by
    linear interpolation in value space, so decode(encode(y)) == y for y inside the bin range;
    the bins themselves are spaced uniformly in symlog space.
    """

    bins: torch.Tensor

    def __init__(self, num_bins: int = 255, low: float = -20.0, high: float = 20.0) -> None:
        super().__init__()
        self.register_buffer("bins", symexp_bins(num_bins, low, high), persistent=False)

    @property
    def num_bins(self) -> int:
        return self.bins.shape[0]

    def _neighbours(
        self, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Indices of the bins just below/above each target and their interpolation weights."""
        bins = self.bins
        n = self.num_bins
        target = target.detach().float().contiguous()
        # count(bins <= target): the official `below + 1` and `above`, before clipping.
        upper = torch.bucketize(target, bins, right=True)
        below = (upper - 1).clamp(0, n - 1)
        above = upper.clamp(0, n - 1)
        equal = below == above
        dist_below = torch.where(equal, 1.0, (bins[below] - target).abs())
        dist_above = torch.where(equal, 1.0, (bins[above] - target).abs())
        total = dist_below + dist_above
        return below, above, dist_above / total, dist_below / total

    def encode(self, target: torch.Tensor) -> torch.Tensor:
        """Targets [...] -> two-hot weights [..., bins] (values outside the range clip)."""
        below, above, weight_below, weight_above = self._neighbours(target)
        out = torch.zeros(*target.shape, self.num_bins, device=target.device)
        out.scatter_add_(-1, below.unsqueeze(-1), weight_below.unsqueeze(-1))
        out.scatter_add_(-1, above.unsqueeze(-1), weight_above.unsqueeze(-1))
        return out

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """Expected value under softmax(logits), summed symmetrically from the outside in.

        A left-to-right sum over bins as large as 5e8 leaves rounding residue; pairing each
        bin with its mirror keeps the prediction of a uniform distribution exactly 0.
        """
        probs = logits.float().softmax(-1)
        n = self.num_bins
        bins = self.bins
        if n % 2 == 1:
            m = (n - 1) // 2
            left = (probs[..., :m] * bins[:m]).flip(-1)
            right = probs[..., m + 1 :] * bins[m + 1 :]
            return (probs[..., m] * bins[m]) + (left + right).sum(-1)
        m = n // 2
        left = (probs[..., :m] * bins[:m]).flip(-1)
        right = probs[..., m:] * bins[m:]
        return (left + right).sum(-1)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy between softmax(logits) and the two-hot target; shape of target."""
        below, above, weight_below, weight_above = self._neighbours(target)
        logp = logits.float().log_softmax(-1)
        return -(
            weight_below * logp.gather(-1, below.unsqueeze(-1)).squeeze(-1)
            + weight_above * logp.gather(-1, above.unsqueeze(-1)).squeeze(-1)
        )


def unimix_logits(logits: torch.Tensor, unimix: float) -> torch.Tensor:
    """Log-probabilities of (1 - unimix) * softmax(logits) + unimix * uniform."""
    if not unimix:
        return logits.float().log_softmax(-1)
    probs = logits.float().softmax(-1)
    probs = (1.0 - unimix) * probs + unimix / probs.shape[-1]
    return torch.log(probs)


def straight_through_sample(logprobs: torch.Tensor) -> torch.Tensor:
    """A one-hot sample whose gradient is that of the probabilities (straight-through)."""
    probs = logprobs.exp()
    flat = probs.reshape(-1, probs.shape[-1])
    index = torch.multinomial(flat, 1).reshape(probs.shape[:-1])
    onehot = F.one_hot(index, probs.shape[-1]).to(probs.dtype)
    return onehot + (probs - probs.detach())


def straight_through_mode(logprobs: torch.Tensor) -> torch.Tensor:
    probs = logprobs.exp()
    onehot = F.one_hot(probs.argmax(-1), probs.shape[-1]).to(probs.dtype)
    return onehot + (probs - probs.detach())


def categorical_kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """KL(p || q) over the last dim, from log-probabilities."""
    return (logp.exp() * (logp - logq)).sum(-1)


def categorical_entropy(logp: torch.Tensor) -> torch.Tensor:
    return -(logp.exp() * logp).sum(-1)


class BoundedNormal:
    """Normal(tanh(mean), std in [minstd, maxstd]) per action dim, summed over dims."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean = mean
        self.std = std

    @classmethod
    def from_raw(
        cls, mean: torch.Tensor, std: torch.Tensor, minstd: float, maxstd: float
    ) -> BoundedNormal:
        std = (maxstd - minstd) * torch.sigmoid(std + 2.0) + minstd
        return cls(torch.tanh(mean), std)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        if generator is None:
            return self.mean + self.std * torch.randn_like(self.mean)
        noise = torch.randn(
            self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype
        )
        return self.mean + self.std * noise

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        var = self.std.square()
        logp = (
            -((value - self.mean) ** 2) / (2 * var) - self.std.log() - 0.5 * math.log(2 * math.pi)
        )
        return logp.sum(-1)

    def entropy(self) -> torch.Tensor:
        return (0.5 * torch.log(2 * math.pi * self.std.square()) + 0.5).sum(-1)
