"""The token world model's loss: tokenizer (L1 reconstruction + commitment) and world model
(next observation token cross-entropy, reward, episode end), in one step.

IRIS trains its tokenizer and world model as separate stages; here both train on every batch
(the world model reads the tokenizer's current ids, which carry no gradient), so one optimizer
and the generic Trainer suffice. Token observations skip the tokenizer.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from worldflux.core import Batch, LossOutput
from worldflux.models.token.tokenizer import usage_metrics

if TYPE_CHECKING:
    from worldflux.models.token.model import Token


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def _windows(x: torch.Tensor, length: int) -> torch.Tensor:
    """[B, T, ...] -> [B * (T // length), length, ...] when T > length (the tail is dropped)."""
    t = x.shape[1]
    if t <= length:
        return x
    n = t // length
    return x[:, : n * length].reshape(x.shape[0] * n, length, *x.shape[2:])


def token_loss(model: Token, batch: Batch) -> LossOutput:
    c = model.config
    obs = model.check_obs(batch.obs, leading=2, name="batch.obs").to(model.device)
    actions = model.action_input(batch.actions)
    components: dict[str, torch.Tensor] = {}
    metrics: dict[str, float] = {}
    tokenizer = model.tokenizer
    total = obs.new_zeros(())
    if tokenizer.quantizer is None:
        tokens = model.tokenize(obs)
    else:
        quantized = tokenizer.encode(obs)
        recon = tokenizer.decode_vectors(quantized.z_st)
        components["recon"] = (recon - obs).abs().mean()
        components["commitment"] = quantized.commitment
        total = total + c.recon_coef * components["recon"] + c.commit_coef * quantized.commitment
        tokens = quantized.tokens
        metrics.update(usage_metrics(tokens, c.vocab_size))
        if model.training:
            tokenizer.quantizer.track_usage(tokens)
            model.remember_codes(quantized.z)
        metrics["dead_codes"] = float(tokenizer.quantizer.dead_codes().sum())

    tokens, actions = _windows(tokens, c.max_frames), _windows(actions, c.max_frames)
    rewards = _windows(batch.rewards.float().to(model.device), c.max_frames)
    continues = _windows(batch.continues.float().to(model.device), c.max_frames)
    is_last = batch.extras.get("is_last")
    valid = (
        torch.ones_like(rewards)
        if is_last is None
        else 1.0 - _windows(is_last.float().to(model.device), c.max_frames)
    )
    h = model.hidden(tokens, actions)  # [B, T, K + 1, W]
    k = c.num_tokens
    if tokens.shape[1] > 1:
        pred = torch.cat([h[:, :-1, k:], h[:, 1:, : k - 1]], 2)
        logits = model.transformer.obs_head(pred)
        token_ce = F.cross_entropy(logits.flatten(0, -2), tokens[:, 1:].flatten())
    else:
        token_ce = h.new_zeros(())
    act_h = h[:, :, k]
    head = model.transformer.reward_head(act_h)
    if c.reward_mode == "sign":
        target = (torch.sign(rewards) + 1).long()
        reward = _masked_mean(
            F.cross_entropy(head.transpose(1, 2), target, reduction="none"), valid
        )
    else:
        reward = _masked_mean((head.squeeze(-1) - symlog(rewards)).square(), valid)
    end_logit = model.transformer.end_head(act_h).squeeze(-1)
    end = _masked_mean(
        F.binary_cross_entropy_with_logits(end_logit, 1.0 - continues, reduction="none"), valid
    )
    components.update(token_ce=token_ce, reward=reward, end=end)
    total = total + c.obs_coef * token_ce + c.reward_coef * reward + c.end_coef * end
    metrics["perplexity"] = math.exp(min(float(token_ce.detach()), 50.0))
    return LossOutput(total, components, metrics)
