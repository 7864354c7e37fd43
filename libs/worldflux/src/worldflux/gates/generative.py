"""Prediction metrics of generative families, each asked of a model capability, never a family.

- `token_ce`: held-out next-observation-token cross-entropy (nats per token), teacher-forced over
  the H future frames, for models with `tokenize(obs) -> ids [..., K]` and
  `next_token_logits(state, actions, future_obs) -> (logits [B, H, K, V], ids [B, H, K])`.
  Baselines in the model's own vocabulary, fitted on the training split: `unigram` (token
  frequencies per position k), `frame` (token k given the tokens before it in the same frame,
  counted over training frames and backed off to the unigram: everything about one frame and
  nothing about dynamics; tokens of a quantised vector are strongly dependent within a frame, so
  without it a model would earn skill on i.i.d. noise) and `bigram` (the token at position k
  given the token at the same position one frame earlier, backed off to the unigram). exp of the
  error is the perplexity.
- `denoise_sigma<s>`: squared error of the model's denoised next observation at noise level s,
  for models with `denoise_next(state, action, noisy_obs, sigma) -> obs`. Baselines: the mean
  observation, copy-last (o_c) and `shrink`, the noisy input shrunk towards the training mean
  per dimension by var / (var + s^2) (the best denoiser that knows no dynamics, for Gaussian
  data), so that denoising well without any dynamics is never skill.

Both use the true future observations as targets and the window's (true or shuffled) actions.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from worldflux.gates.evaluation import heldout_batches
from worldflux.gates.skill import (
    BASELINE_SEED,
    Baselines,
    ErrorSums,
    Predictions,
    Window,
    _sse,
    register_metric,
)

DENOISE_SIGMAS = (0.1, 0.5, 2.0)
NOISE_SEED = 20_240_604


def _training_batches(baselines: Baselines) -> Any:
    if baselines.source is None:
        raise ValueError("these baselines were not fitted from a dataset (Baselines.fit)")
    data, batches, batch_size, seq_len = baselines.source
    return heldout_batches(data, batches, batch_size, seq_len, BASELINE_SEED)


def _token_stats(model: Any, baselines: Baselines, vocab: int) -> tuple[Any, ...]:
    """log unigram [K, V], log bigram [K, V, V] (prev, next) and the frame prefix counts
    {prefix tuple: {next token: count}} from the training tokens."""
    key = ("token_stats", id(model), vocab)
    if key not in baselines.fitted:
        uni: torch.Tensor | None = None
        bi: torch.Tensor | None = None
        prefixes: dict[tuple[int, ...], dict[int, int]] = {}
        for batch in _training_batches(baselines):
            tokens = model.tokenize(batch.obs).cpu()  # [B, T, K]
            for frame in tokens.flatten(0, 1).tolist():
                for k, token in enumerate(frame):
                    counts = prefixes.setdefault(tuple(frame[:k]), {})
                    counts[token] = counts.get(token, 0) + 1
            k = tokens.shape[-1]
            if uni is None:
                uni, bi = torch.zeros(k, vocab), torch.zeros(k, vocab, vocab)
            assert bi is not None
            pos = torch.arange(k).expand_as(tokens)
            uni.index_put_((pos.flatten(), tokens.flatten()), torch.ones(tokens.numel()), True)
            prev, nxt = tokens[:, :-1], tokens[:, 1:]
            pos = pos[:, 1:]
            bi.index_put_(
                (pos.flatten(), prev.flatten(), nxt.flatten()), torch.ones(nxt.numel()), True
            )
        assert uni is not None and bi is not None
        p_uni = (uni + 1) / (uni.sum(-1, keepdim=True) + vocab)  # Laplace
        p_bi = (bi + p_uni[:, None, :]) / (bi.sum(-1, keepdim=True) + 1)  # back-off weight 1
        baselines.fitted[key] = (p_uni.log(), p_bi.log(), prefixes)
    return baselines.fitted[key]


def _frame_nll(frames: torch.Tensor, log_uni: torch.Tensor, prefixes: dict) -> torch.Tensor:
    """-log P(z_k | z_<k of the same frame) [..., K]: prefix counts backed off to the unigram
    with weight 1."""
    uni = log_uni.exp()
    flat = frames.reshape(-1, frames.shape[-1]).tolist()
    out = torch.empty(len(flat), frames.shape[-1])
    for row, frame in enumerate(flat):
        for k, token in enumerate(frame):
            counts = prefixes.get(tuple(frame[:k]), {})
            p = (counts.get(token, 0) + float(uni[k, token])) / (sum(counts.values()) + 1.0)
            out[row, k] = -math.log(p)
    return out.reshape(frames.shape)


def _nll_sums(nll: torch.Tensor, mask: torch.Tensor) -> tuple[float, int]:
    """Negative log-likelihoods [B, H, K] summed over the real steps, and the token count."""
    mask = mask.to(nll.device)
    return float(nll.sum(-1)[mask].sum()), int(mask.sum()) * nll.shape[-1]


def token_ce_metric(window: Window, pred: Predictions, baselines: Baselines) -> ErrorSums | None:
    model = pred.model
    logits_fn = getattr(model, "next_token_logits", None)
    tokenize = getattr(model, "tokenize", None)
    if logits_fn is None or tokenize is None or pred.state is None or pred.actions is None:
        return None
    batch, c, h = window.batch, window.context_end, window.horizon
    logits, targets = logits_fn(pred.state, pred.actions, batch.obs[:, c + 1 : c + 1 + h])
    log_uni, log_bi, prefixes = _token_stats(model, baselines, logits.shape[-1])
    targets = targets.cpu()
    prev = torch.cat([tokenize(batch.obs[:, c : c + 1]).cpu(), targets[:, :-1]], 1)
    pos = torch.arange(targets.shape[-1]).expand_as(targets)
    model_nll = -logits.float().log_softmax(-1).gather(-1, targets.to(logits.device)[..., None])
    return {
        "model": _nll_sums(model_nll.squeeze(-1).cpu(), window.valid),
        "unigram": _nll_sums(-log_uni[pos, targets], window.valid),
        "frame": _nll_sums(_frame_nll(targets, log_uni, prefixes), window.valid),
        "bigram": _nll_sums(-log_bi[pos, prev, targets], window.valid),
    }


def _obs_variance(baselines: Baselines) -> torch.Tensor:
    if "obs_var" not in baselines.fitted:
        total, count = None, 0
        for batch in _training_batches(baselines):
            obs = batch.obs.float().flatten(0, 1)
            sq = (obs - baselines.obs_mean).square().sum(0)
            total = sq if total is None else total + sq
            count += obs.shape[0]
        assert total is not None
        baselines.fitted["obs_var"] = total / max(count, 1)
    return baselines.fitted["obs_var"]


def denoise_metric(sigma: float) -> Any:
    def measure(window: Window, pred: Predictions, baselines: Baselines) -> ErrorSums | None:
        denoise = getattr(pred.model, "denoise_next", None)
        if denoise is None or pred.state is None or pred.actions is None:
            return None
        batch, c = window.batch, window.context_end
        target = batch.obs[:, c + 1].float()
        generator = torch.Generator().manual_seed(NOISE_SEED)
        noisy = target + sigma * torch.randn(target.shape, generator=generator).to(target.device)
        denoised = denoise(pred.state, pred.actions[:, 0], noisy, sigma).to(target.device)
        mean = baselines.obs_mean.to(target.device)
        var = _obs_variance(baselines).to(target.device)
        shrink = mean + var / (var + sigma**2) * (noisy - mean)
        mask = window.valid[:, :1]

        def err(x: torch.Tensor) -> tuple[float, int]:
            return _sse(x[:, None], target[:, None], mask)

        return {
            "model": err(denoised),
            "mean": err(mean.expand_as(target)),
            "copy_last": err(batch.obs[:, c].float()),
            "shrink": err(shrink),
        }

    return measure


METRIC_FNS = {"token_ce": token_ce_metric}
METRIC_FNS.update({f"denoise_sigma{s:g}": denoise_metric(s) for s in DENOISE_SIGMAS})
for _name, _fn in METRIC_FNS.items():
    register_metric(_name, _fn)
