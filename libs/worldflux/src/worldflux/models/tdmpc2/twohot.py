"""Discrete regression in symlog space: rewards and values as two-hot vectors over fixed bins.

A scalar is squashed with symlog, clamped to [vmin, vmax] and spread over the two nearest of
`num_bins` evenly spaced bins; the network predicts logits over the bins and is trained with a
soft cross-entropy, which is insensitive to the scale of the target (why TD-MPC2 uses it for
rewards and values across tasks whose returns differ by orders of magnitude).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(torch.abs(x))


@dataclass(frozen=True)
class TwoHot:
    """Bins spaced uniformly in symlog space on [vmin, vmax]."""

    num_bins: int = 101
    vmin: float = -10.0
    vmax: float = 10.0

    @property
    def bin_size(self) -> float:
        return (self.vmax - self.vmin) / (self.num_bins - 1)

    def bins(self, like: torch.Tensor) -> torch.Tensor:
        return torch.linspace(
            self.vmin, self.vmax, self.num_bins, device=like.device, dtype=like.dtype
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Scalars [...] -> soft two-hot targets [..., num_bins] (each row sums to 1)."""
        pos = (symlog(x).clamp(self.vmin, self.vmax) - self.vmin) / self.bin_size
        # The clamp keeps vmax in the last bin instead of spilling into a non-existent one.
        low = pos.floor().clamp(max=self.num_bins - 1)
        frac = (pos - low).unsqueeze(-1)
        # A NaN target keeps its NaN weights (the loss stays NaN and is caught), but indexes a
        # real bin: NaN.long() is out of range, which on a GPU is a device-side assert.
        low_idx = torch.nan_to_num(low, nan=0.0).long().unsqueeze(-1)
        high_idx = (low_idx + 1).clamp(max=self.num_bins - 1)
        out = torch.zeros(*x.shape, self.num_bins, device=x.device, dtype=x.dtype)
        out = out.scatter(-1, low_idx, 1 - frac)
        return out.scatter_add(-1, high_idx, frac)

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits [..., num_bins] -> scalars [...]: expected bin under softmax, then symexp."""
        probs = F.softmax(logits, dim=-1)
        return symexp((probs * self.bins(logits)).sum(-1))

    def decode_probs(self, probs: torch.Tensor) -> torch.Tensor:
        """Exact inverse of `encode` for targets already in probability form."""
        return symexp((probs * self.bins(probs)).sum(-1))

    def soft_ce(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of logits [..., num_bins] against two-hot(target [...]) -> [...]."""
        return -(self.encode(target) * F.log_softmax(logits, dim=-1)).sum(-1)
