"""The DreamerV3 recurrent state-space model (dreamerv3/rssm.py, 2024).

State: a deterministic `deter` vector updated by a block-diagonal GRU (8 blocks) and a
stochastic `stoch` of `stoch` one-hot categoricals with `classes` classes each (unimix 1%,
straight-through samples). The posterior reads the encoder tokens, the prior does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from worldflux.models.dreamerv3.config import DreamerV3Config
from worldflux.models.dreamerv3.dists import (
    categorical_entropy,
    categorical_kl,
    straight_through_sample,
    unimix_logits,
)
from worldflux.models.dreamerv3.nets import BlockLinear, Linear, NormAct, RMSNorm


@dataclass
class RSSMSequence:
    """Posterior states over a sequence: deter [B, T, D], stoch [B, T, S*C], logits [B, T, S, C]."""

    deter: torch.Tensor
    stoch: torch.Tensor
    post: torch.Tensor  # unimix log-probabilities of the posterior

    def feat(self) -> torch.Tensor:
        return torch.cat([self.deter, self.stoch], -1)


class RSSM(nn.Module):
    def __init__(self, config: DreamerV3Config, action_dim: int, token_dim: int) -> None:
        super().__init__()
        c = config
        self.config = c
        self.deter_dim, self.hidden, self.blocks = c.deter, c.hidden, c.blocks
        self.stoch, self.classes = c.stoch, c.classes
        eps = c.norm_eps
        # _core inputs, each Linear -> RMSNorm -> SiLU
        self.dynin_deter = NormAct(c.deter, c.hidden, eps)
        self.dynin_stoch = NormAct(c.stoch_dim, c.hidden, eps)
        self.dynin_action = NormAct(action_dim, c.hidden, eps)
        # Every GRU block sees its own slice of deter plus all three embeddings.
        block_in = c.deter + 3 * c.hidden * c.blocks
        dynhid: list[nn.Module] = []
        width = block_in
        for _ in range(c.dynlayers):
            dynhid += [BlockLinear(width, c.deter, c.blocks), RMSNorm(c.deter, eps), nn.SiLU()]
            width = c.deter
        self.dynhid = nn.Sequential(*dynhid)
        self.gru = BlockLinear(width, 3 * c.deter, c.blocks)
        # Posterior: [deter, tokens] -> logits
        obs_layers: list[nn.Module] = []
        width = c.deter + token_dim
        for _ in range(c.obslayers):
            obs_layers.append(NormAct(width, c.hidden, eps))
            width = c.hidden
        self.obs_net = nn.Sequential(*obs_layers)
        self.obs_logits = Linear(width, c.stoch_dim)
        # Prior: deter -> logits
        prior_layers: list[nn.Module] = []
        width = c.deter
        for _ in range(c.imglayers):
            prior_layers.append(NormAct(width, c.hidden, eps))
            width = c.hidden
        self.prior_net = nn.Sequential(*prior_layers)
        self.prior_logits = Linear(width, c.stoch_dim)

    # -- pieces ----------------------------------------------------------------------------
    def initial(self, batch: int, device: torch.device | None = None) -> tuple[torch.Tensor, ...]:
        deter = torch.zeros(batch, self.deter_dim, device=device)
        return deter, torch.zeros(batch, self.stoch * self.classes, device=device)

    def core(self, deter: torch.Tensor, stoch: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """One block-diagonal GRU step: (deter, stoch, action) -> next deter."""
        g = self.blocks
        action = action / action.abs().clamp(min=1.0).detach()
        x = torch.cat(
            [self.dynin_deter(deter), self.dynin_stoch(stoch), self.dynin_action(action)], -1
        )
        lead = deter.shape[:-1]
        x = x.unsqueeze(-2).expand(*lead, g, x.shape[-1])
        x = torch.cat([deter.reshape(*lead, g, -1), x], -1).reshape(*lead, -1)
        x = self.dynhid(x)
        x = self.gru(x).reshape(*lead, g, -1)
        reset, cand, update = (part.reshape(*lead, -1) for part in x.chunk(3, -1))
        reset = torch.sigmoid(reset)
        cand = torch.tanh(reset * cand)
        update = torch.sigmoid(update - 1.0)
        return update * cand + (1.0 - update) * deter

    def _logprobs(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.reshape(*logits.shape[:-1], self.stoch, self.classes)
        return unimix_logits(logits, self.config.unimix)

    def posterior(self, deter: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self._logprobs(self.obs_logits(self.obs_net(torch.cat([deter, tokens], -1))))

    def prior(self, deter: torch.Tensor) -> torch.Tensor:
        return self._logprobs(self.prior_logits(self.prior_net(deter)))

    @staticmethod
    def sample(logprobs: torch.Tensor) -> torch.Tensor:
        """Straight-through one-hot sample, flattened to [..., stoch * classes]."""
        return straight_through_sample(logprobs).flatten(-2)

    # -- steps -----------------------------------------------------------------------------
    def obs_step(
        self,
        deter: torch.Tensor,
        stoch: torch.Tensor,
        action: torch.Tensor,
        tokens: torch.Tensor,
        reset: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Posterior step; where `reset` is set the previous state and action are zeroed."""
        if reset is not None:
            keep = (~reset).to(deter.dtype).unsqueeze(-1)
            deter, stoch, action = deter * keep, stoch * keep, action * keep
        deter = self.core(deter, stoch, action)
        post = self.posterior(deter, tokens)
        return deter, self.sample(post), post

    def img_step(
        self, deter: torch.Tensor, stoch: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        deter = self.core(deter, stoch, action)
        return deter, self.sample(self.prior(deter))

    def observe(
        self,
        tokens: torch.Tensor,
        actions: torch.Tensor,
        reset: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> RSSMSequence:
        """Posterior over a sequence. tokens [B, T, E], actions [B, T, A] (the action *before*
        each observation), reset [B, T] bool."""
        batch, length = tokens.shape[:2]
        deter, stoch = state if state is not None else self.initial(batch, tokens.device)
        deters, stochs, posts = [], [], []
        for t in range(length):
            deter, stoch, post = self.obs_step(
                deter, stoch, actions[:, t], tokens[:, t], reset[:, t]
            )
            deters.append(deter)
            stochs.append(stoch)
            posts.append(post)
        return RSSMSequence(torch.stack(deters, 1), torch.stack(stochs, 1), torch.stack(posts, 1))

    def kl_losses(
        self, seq: RSSMSequence
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """KL balancing with free nats: dyn trains the prior, rep trains the posterior.

        Both are summed over the stochastic variables and clipped below at `free_nats`, so
        below the threshold neither term has any gradient.
        """
        prior = self.prior(seq.deter)
        post = seq.post
        dyn = categorical_kl(post.detach(), prior).sum(-1)
        rep = categorical_kl(post, prior.detach()).sum(-1)
        free = self.config.free_nats
        stats = {
            "kl": dyn.detach(),
            "prior_entropy": categorical_entropy(prior.detach()).sum(-1),
            "post_entropy": categorical_entropy(post.detach()).sum(-1),
        }
        if free:
            dyn = dyn.clamp(min=free)
            rep = rep.clamp(min=free)
        return dyn, rep, stats
