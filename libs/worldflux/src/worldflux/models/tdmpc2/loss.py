"""The TD-MPC2 objective on a batch of sequences (official tdmpc2.py `_update` / `update_pi`).

The latent rollout has horizon H = config.horizon (official 3). Sequences of T > H + 1 steps are
cut into windows of H + 1 observations starting every H steps (so a Trainer with any seq_len
trains the official objective on all of its data); shorter ones use H = T - 1. Per window, z_0
is encoded from the first observation and rolled forward with the window's first H actions;
every step t is weighted rho^t:

- consistency (x20): MSE between z_{t+1} and the encoded next observation (no gradient);
- reward (x0.1): soft cross-entropy of the reward head at (z_t, a_t) against two-hot(r_t);
- value (x0.1): soft cross-entropy of every Q member at (z_t, a_t) against the TD target
  r_t + discount * continue_t * min of two random target Qs at (z'_{t+1}, pi(z'_{t+1}));
- termination (x1, episodic configs only): BCE of the termination head at z_{t+1};
- policy (`tdmpc2_policy_loss`): -(entropy_coef * scaled entropy + Q / running scale) at the
  detached latents, with Q from detached online weights, so no Q parameter receives a gradient.

As in the official `update`, the policy is a second optimizer stepped *after* the world model:
`tdmpc2_loss` returns the world-model objective as `total` and the detached latent rollout in
`aux["policy.latents"]`; the Trainer steps the world model, then asks the model for
`optimizer_loss("policy", ...)`, which evaluates the policy loss on those latents with the
freshly updated Q weights. `total` is thus the quantity expected to fall on held-out data; the
policy objective is -Q, which grows as values are learnt. Outside training (evaluation, no
gradient) the `pi` component is reported alongside, with the current weights.

Steps after an episode boundary inside a sequence (is_first at t+1, or a terminal before t) are
masked out of the world-model terms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from worldflux.core import Batch, ContractError, LossOutput
from worldflux.core.capture import capturing, scalar

if TYPE_CHECKING:  # model.py imports this module; the model class only for type hints
    from worldflux.models.tdmpc2.model import TDMPC2

POLICY_LATENTS = "policy.latents"  # LossOutput.aux: the detached rollout the policy trains on


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def _valid_transitions(batch: Batch, horizon: int) -> torch.Tensor:
    """[B, H] float: 1 while transition t stays inside the episode that obs[:, 0] starts."""
    starts = batch.is_first[:, 1 : horizon + 1].bool()
    ended = batch.continues[:, :horizon].float() <= 0
    # Transition t is invalid if obs t+1 begins a new episode or an earlier step was terminal.
    after_terminal = torch.cat([torch.zeros_like(ended[:, :1]), ended[:, :-1]], dim=1).cumsum(1) > 0
    broken = (starts.cumsum(1) > 0) | after_terminal
    return (~broken).float()


def split_windows(batch: Batch, horizon: int) -> Batch:
    """[B, T] sequences -> [B * W, horizon + 1] windows starting every `horizon` steps.

    Consecutive windows share their boundary observation, as consecutive official samples of
    horizon + 1 steps would; a sequence no longer than horizon + 1 is returned unchanged.
    """
    size = horizon + 1
    if batch.seq_len <= size:
        return batch

    def cut(x: torch.Tensor) -> torch.Tensor:
        windows = x.unfold(1, size, horizon).movedim(-1, 2)  # [B, W, size, ...]
        return windows.reshape(-1, size, *x.shape[2:])

    return Batch(
        cut(batch.obs),
        cut(batch.actions),
        cut(batch.rewards),
        cut(batch.continues),
        cut(batch.is_first),
    )


def tdmpc2_loss(model: TDMPC2, batch: Batch) -> LossOutput:
    cfg = model.config
    device = model.device
    obs = model.check_obs(batch.obs, leading=2, name="batch.obs")
    actions = model.check_actions(batch.actions)
    if batch.seq_len < 2:
        raise ContractError(
            f"TD-MPC2 needs sequences of at least 2 steps (horizon + 1 = {cfg.horizon + 1} "
            f"is the official length), got {batch.seq_len}"
        )
    batch = split_windows(
        Batch(obs, actions, batch.rewards, batch.continues, batch.is_first), cfg.horizon
    )
    obs = batch.obs.to(device)
    horizon = batch.seq_len - 1
    actions = model.normalize_action(batch.actions.to(device))[:, :horizon]
    rewards = batch.rewards[:, :horizon].to(device, torch.float32)
    continues = batch.continues[:, :horizon].to(device, torch.float32)
    finite = capturing() or bool(torch.isfinite(rewards).all() & torch.isfinite(continues).all())
    if not finite:
        raise ContractError("batch.rewards / batch.continues contain NaN or infinite values")
    valid = _valid_transitions(batch, horizon).to(device)
    rho = cfg.rho ** torch.arange(horizon + 1, device=device, dtype=torch.float32)

    # Targets: encoded next observations and TD targets from the target Qs.
    with torch.no_grad():
        next_z = model.encode_obs(obs[:, 1:])  # [B, H, L]
        next_q = model.q_value(next_z, model.pi(next_z).action, reduce="min", source="target")
        td_targets = rewards + cfg.discount * continues * next_q

    # Latent rollout from the first observation.
    z = model.encode_obs(obs[:, 0])
    zs = [z]
    consistency = obs.new_zeros(())
    for t in range(horizon):
        z = model.next(z, actions[:, t])
        step_mse = F.mse_loss(z, next_z[:, t], reduction="none").mean(-1)
        consistency = consistency + rho[t] * _masked_mean(step_mse, valid[:, t])
        zs.append(z)
    latents = torch.stack(zs, 1)  # [B, H+1, L]

    # Reward and value predictions at (z_t, a_t).
    reward_logits = model.reward_logits(latents[:, :-1], actions)  # [B, H, bins]
    q_logits = model.q_logits(latents[:, :-1], actions)  # [E, B, H, bins]
    reward_ce = model.twohot.soft_ce(reward_logits, rewards)  # [B, H]
    value_ce = model.twohot.soft_ce(q_logits, td_targets.unsqueeze(0).expand_as(q_logits[..., 0]))
    reward_loss = obs.new_zeros(())
    value_loss = obs.new_zeros(())
    for t in range(horizon):
        reward_loss = reward_loss + rho[t] * _masked_mean(reward_ce[:, t], valid[:, t])
        value_loss = value_loss + rho[t] * _masked_mean(value_ce[:, :, t].sum(0), valid[:, t])
    consistency = consistency / horizon
    reward_loss = reward_loss / horizon
    value_loss = value_loss / (horizon * cfg.num_q)
    components = {"consistency": consistency, "reward": reward_loss, "value": value_loss}
    world_model = (
        cfg.consistency_coef * consistency
        + cfg.reward_coef * reward_loss
        + cfg.value_coef * value_loss
    )
    if model.termination_head is not None:
        term_logits = model.termination_logit(latents[:, 1:])
        term_bce = F.binary_cross_entropy_with_logits(
            term_logits, 1.0 - continues, reduction="none"
        )
        components["termination"] = _masked_mean(term_bce, valid)
        world_model = world_model + cfg.termination_coef * components["termination"]

    with torch.no_grad():
        reward_pred = model.twohot.decode(reward_logits)
        metrics = {
            "td_target_mean": scalar(td_targets.mean()),
            "q_mean": scalar(model.twohot.decode(q_logits).mean()),
            "reward_mae": scalar(_masked_mean((reward_pred - rewards).abs(), valid)),
            "valid_fraction": scalar(valid.mean()),
        }
    aux = {POLICY_LATENTS: latents.detach()}
    if not (model.training and torch.is_grad_enabled()):
        # Not a training step, so no second optimizer follows: report the policy term here.
        policy = tdmpc2_policy_loss(model, latents.detach())
        components["pi"] = policy.total.detach()
        metrics.update(policy.metrics)
    return LossOutput(world_model, components, metrics, aux)


def tdmpc2_policy_loss(model: TDMPC2, latents: torch.Tensor) -> LossOutput:
    """The policy prior's loss on a detached latent rollout [B, H+1, L] (official update_pi).

    Q comes from detached online weights, so the gradient reaches only the policy; the running
    Q scale moves in training only.
    """
    cfg = model.config
    rho = cfg.rho ** torch.arange(latents.shape[1], device=latents.device, dtype=torch.float32)
    latents = latents.detach()
    sample = model.pi(latents)
    qs = model.q_value(latents, sample.action, reduce="avg", source="detached")  # [B, H+1]
    if model.training and torch.is_grad_enabled():
        model.scale.update(qs[:, 0])
    qs = model.scale(qs)
    objective = cfg.entropy_coef * sample.scaled_entropy.squeeze(-1) + qs  # [B, H+1]
    pi_loss = (-objective.mean(0) * rho).mean()
    metrics = {
        "q_scale": scalar(model.scale.value[0]),
        "pi_entropy": scalar(sample.entropy.detach().mean()),
        "pi_log_std": scalar(sample.log_std.detach().mean()),
    }
    return LossOutput(pi_loss, {"pi": pi_loss}, metrics)
