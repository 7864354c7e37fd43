"""Heads on the model state feat = [deter, stoch]: reward, continue, actor and critic.

Output-layer scales follow configs.yaml: reward and value start at zero (predict exactly 0),
the actor at 0.01 (near-uniform / near-zero-mean start), the continue head at 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worldflux.models.dreamerv3.config import DreamerV3Config
from worldflux.models.dreamerv3.dists import (
    BoundedNormal,
    TwoHot,
    categorical_entropy,
    unimix_logits,
)
from worldflux.models.dreamerv3.nets import MLP, Linear


class TwoHotHead(nn.Module):
    """MLP -> logits over symexp-spaced bins; predicts a scalar per state (reward, value)."""

    def __init__(self, config: DreamerV3Config, layers: int) -> None:
        super().__init__()
        self.mlp = MLP(config.feat_dim, layers, config.units, config.norm_eps)
        self.out = Linear(config.units, config.bins, outscale=0.0)
        self.twohot = TwoHot(config.bins)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """Logits [..., bins]."""
        return self.out(self.mlp(feat))

    def predict(self, feat: torch.Tensor) -> torch.Tensor:
        return self.twohot.decode(self(feat))

    def loss(self, feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.twohot.loss(self(feat), target)


class ContinueHead(nn.Module):
    """Bernoulli over "the episode continues after this state"."""

    def __init__(self, config: DreamerV3Config) -> None:
        super().__init__()
        self.mlp = MLP(config.feat_dim, config.con_layers, config.units, config.norm_eps)
        self.out = Linear(config.units, 1)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.out(self.mlp(feat)).squeeze(-1)

    def prob(self, feat: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(feat))

    def loss(self, feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(self(feat), target, reduction="none")


class Actor(nn.Module):
    """Policy: a unimix categorical over one-hot actions, or a bounded normal in [-1, 1]^A."""

    def __init__(self, config: DreamerV3Config, action_dim: int, discrete: bool) -> None:
        super().__init__()
        self.discrete = discrete
        self.unimix = config.unimix
        self.minstd, self.maxstd = config.minstd, config.maxstd
        self.mlp = MLP(config.feat_dim, config.actor_layers, config.units, config.norm_eps)
        if discrete:
            self.logits = Linear(config.units, action_dim, outscale=0.01)
        else:
            self.mean = Linear(config.units, action_dim, outscale=0.01)
            self.std = Linear(config.units, action_dim, outscale=0.01)

    def dist(self, feat: torch.Tensor) -> PolicyDist:
        x = self.mlp(feat)
        if self.discrete:
            return PolicyDist(logprobs=unimix_logits(self.logits(x), self.unimix))
        return PolicyDist(
            normal=BoundedNormal.from_raw(self.mean(x), self.std(x), self.minstd, self.maxstd)
        )


class PolicyDist:
    """One interface over both action kinds: sample / log_prob / entropy on [..., A] actions
    (one-hot vectors for discrete actions)."""

    def __init__(
        self, logprobs: torch.Tensor | None = None, normal: BoundedNormal | None = None
    ) -> None:
        self.logprobs = logprobs
        self.normal = normal

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A sample drawn from `generator` (the global RNG without one)."""
        if self.logprobs is not None:
            probs = self.logprobs.exp()
            index = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
            return F.one_hot(index.reshape(probs.shape[:-1]), probs.shape[-1]).to(probs.dtype)
        assert self.normal is not None
        return self.normal.sample(generator)

    def mode(self) -> torch.Tensor:
        if self.logprobs is not None:
            return F.one_hot(self.logprobs.argmax(-1), self.logprobs.shape[-1]).float()
        assert self.normal is not None
        return self.normal.mean

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        if self.logprobs is not None:
            return (self.logprobs * action).sum(-1)
        assert self.normal is not None
        return self.normal.log_prob(action)

    def entropy(self) -> torch.Tensor:
        if self.logprobs is not None:
            return categorical_entropy(self.logprobs)
        assert self.normal is not None
        return self.normal.entropy()
