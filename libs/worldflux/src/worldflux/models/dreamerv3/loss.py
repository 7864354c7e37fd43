"""The DreamerV3 objective on a batch of sequences: world model plus actor-critic in imagination.

Time alignment. A core Batch pairs obs[t] with the action taken *after* it; Dreamer pairs each
observation with the action *before* it and the reward received on arriving at it. The loss
therefore shifts: prev_action[t] = actions[t-1], reward[t] = rewards[t-1],
terminal[t] = 1 - continues[t-1].

Replay context (official `replay_context: 1`). A batch from a ReplayBuffer that holds this
model's posteriors carries, per sequence, the latent of the step before its first one and that
step's action, reward and continue flag (`extras["context.*"]`). Such a sequence starts the
RSSM from the stored latent instead of zeros, and its first step has a predecessor, so its
reward/continue targets count. Without context (a dataset, evaluation, an episode start), a
sequence starts from zeros and the first step's reward/continue targets are masked, as are
those of every step whose predecessor is not in the batch. The posteriors of every step are
returned in `aux["posterior.deter" / "posterior.stoch"]` for the buffer to keep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from worldflux.core import Batch, ContractError, LossOutput
from worldflux.models.dreamerv3.behavior import imagination_losses, replay_value_loss
from worldflux.models.dreamerv3.dists import symlog
from worldflux.models.dreamerv3.encoder import encode_sequence

if TYPE_CHECKING:  # model.py imports this module; the model class only for type hints
    from worldflux.models.dreamerv3.model import DreamerV3

LOSS_NAMES = ("rec", "rew", "con", "dyn", "rep", "policy", "value", "repval")
CONTEXT = "context."  # Batch.extras prefix of the replay context (training.replay)
POSTERIOR = "posterior."  # LossOutput.aux prefix of the posteriors the buffer keeps


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def _context(
    model: DreamerV3, batch: Batch, bsz: int, device: torch.device
) -> tuple[
    torch.Tensor, tuple[torch.Tensor, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor
]:
    """(has_context [B] bool, RSSM start state, previous action, reward, continue) of each
    sequence; zeros where a sequence has no context."""
    c = model.config
    deter, stoch = model.rssm.initial(bsz, device)
    action = torch.zeros(bsz, model.act_dim, device=device)
    reward = torch.zeros(bsz, device=device)
    cont = torch.ones(bsz, device=device)
    valid = batch.extras.get(CONTEXT + "valid")
    if valid is None or not model.keeps_replay_context:
        return (
            torch.zeros(bsz, dtype=torch.bool, device=device),
            (deter, stoch),
            action,
            reward,
            cont,
        )
    has = valid.to(device).bool()
    ctx_deter = batch.extras[CONTEXT + "deter"].to(device).float()
    ctx_stoch = batch.extras[CONTEXT + "stoch"].to(device).float()
    if ctx_deter.shape != (bsz, c.deter) or ctx_stoch.shape != (bsz, c.stoch_dim):
        raise ContractError(
            f"replay context latents {list(ctx_deter.shape)} / {list(ctx_stoch.shape)} do not "
            f"fit this model ([B, {c.deter}] / [B, {c.stoch_dim}]): was the buffer filled by "
            "another model?"
        )
    keep = has.float().unsqueeze(-1)
    deter, stoch = ctx_deter * keep, ctx_stoch * keep
    action = model.model_actions(batch.extras[CONTEXT + "action"].to(device), leading=1) * keep
    reward = batch.extras[CONTEXT + "reward"].to(device).float() * has.float()
    cont = torch.where(has, batch.extras[CONTEXT + "continue"].to(device).float(), cont)
    return has, (deter, stoch), action, reward, cont


def dreamerv3_loss(model: DreamerV3, batch: Batch) -> LossOutput:
    c = model.config
    obs = model.prep_obs(batch.obs, 2, "batch.obs")
    bsz, length = obs.shape[:2]
    if length < 2:
        raise ContractError(f"DreamerV3 needs sequences of at least 2 steps, got {length}")
    acts = model.model_actions(batch.actions, leading=2)
    rewards = batch.rewards.float()
    continues = batch.continues.float()
    for name, value in (("rewards", rewards), ("continues", continues)):
        if not bool(torch.isfinite(value).all()):
            raise ContractError(f"batch.{name} contains NaN or infinite values")
    device = obs.device
    rewards, continues = rewards.to(device), continues.to(device)

    # Dreamer alignment (see module docstring); the context supplies step 0's predecessor.
    has_context, start, ctx_act, ctx_rew, ctx_con = _context(model, batch, bsz, device)
    reset = batch.is_first.to(device).bool().clone()
    reset[:, 0] = ~has_context
    valid = (~reset).float()
    zeros = torch.zeros(bsz, 1, device=device)
    prev_act = torch.cat([ctx_act[:, None], acts[:, :-1]], 1)
    reward_t = torch.cat([ctx_rew[:, None], rewards[:, :-1]], 1) * valid
    prev_con = torch.cat([ctx_con[:, None], continues[:, :-1]], 1)
    term_t = (1.0 - prev_con).clamp(0.0, 1.0) * valid
    last_t = torch.cat([reset[:, 1:].float(), zeros], 1).clamp(max=1.0)
    last_t = torch.maximum(last_t, term_t)
    if "is_last" in batch.extras:  # truncated episodes end without a terminal flag
        last_t = torch.maximum(last_t, batch.extras["is_last"].to(device).float())

    # World model
    tokens = encode_sequence(model.encoder, obs, len(c.obs_shape))
    seq = model.rssm.observe(tokens, prev_act, reset, start)
    dyn, rep, kl_stats = model.rssm.kl_losses(seq)
    feat = seq.feat()
    flat_obs = obs.flatten(0, 1)
    recon = model.decoder(seq.deter.flatten(0, 1), seq.stoch.flatten(0, 1))
    rec = model.decoder.loss(recon, flat_obs)
    rew_logits = model.reward_head(feat)
    rew = _masked_mean(model.reward_head.twohot.loss(rew_logits, reward_t), valid)
    con_target = (1.0 - term_t) * (1.0 - 1.0 / c.horizon)
    con_logit = model.continue_head(feat)
    con = _masked_mean(
        nn.functional.binary_cross_entropy_with_logits(con_logit, con_target, reduction="none"),
        valid,
    )

    # Imagination from every (or the last imag_last) posterior state.
    starts = min(c.imag_last or length, length)
    img_feat, img_act = model.imagine_for_training(
        seq.deter[:, -starts:].reshape(bsz * starts, -1).detach(),
        seq.stoch[:, -starts:].reshape(bsz * starts, -1).detach(),
        c.imag_horizon,
    )
    update = model.training and torch.is_grad_enabled()
    critics = model.critics()
    img_losses, ret, img_metrics = imagination_losses(
        c,
        img_feat,
        img_act,
        model.reward_head,
        model.continue_head,
        model.actor,
        critics,
        model.retnorm,
        update,
    )
    boot = ret[:, 0].reshape(bsz, starts).detach()
    repval = replay_value_loss(
        c,
        feat[:, -starts:],
        last_t[:, -starts:],
        term_t[:, -starts:],
        reward_t[:, -starts:],
        boot,
        critics,
    )

    components = {
        "rec": rec.mean(),
        "rew": rew,
        "con": con,
        "dyn": dyn.mean(),
        "rep": rep.mean(),
        "policy": img_losses["policy"].mean(),
        "value": img_losses["value"].mean(),
        "repval": repval.mean(),
    }
    scales = {name: getattr(c, f"scale_{name}") for name in LOSS_NAMES}
    total = sum(scales[k] * v for k, v in components.items())
    assert isinstance(total, torch.Tensor)

    with torch.no_grad():
        metrics = {k: float(v.mean()) for k, v in kl_stats.items()}
        if c.is_image:
            metrics["recon_mse"] = float((recon - flat_obs).square().mean())
        else:
            target = symlog(flat_obs)
            metrics["recon_mse"] = float((recon - target).square().mean())
        rew_pred = model.reward_head.twohot.decode(rew_logits)
        metrics["reward_mae"] = float(_masked_mean((rew_pred - reward_t).abs(), valid))
        con_pred = (con_logit > 0).float()
        metrics["continue_acc"] = float(_masked_mean((con_pred == (1.0 - term_t)).float(), valid))
        metrics["context_fraction"] = float(has_context.float().mean())
        metrics.update(img_metrics)
    aux = {POSTERIOR + "deter": seq.deter.detach(), POSTERIOR + "stoch": seq.stoch.detach()}
    return LossOutput(total, components, metrics, aux)
