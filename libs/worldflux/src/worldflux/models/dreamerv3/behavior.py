"""Actor-critic learning in imagination (dreamerv3/agent.py: imag_loss, repl_loss, 2024).

Returns are lambda-returns bootstrapped from the critic; the actor's advantages are scaled by
a running 5th-95th percentile range of the returns (never below 1); the critic regresses the
returns with a two-hot loss plus a regulariser towards the slow critic (an EMA of itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from worldflux.models.dreamerv3.config import DreamerV3Config
from worldflux.models.dreamerv3.heads import Actor, ContinueHead, TwoHotHead


def lambda_return(
    last: torch.Tensor,
    term: torch.Tensor,
    rew: torch.Tensor,
    val: torch.Tensor,
    boot: torch.Tensor,
    disc: float,
    lam: float,
) -> torch.Tensor:
    """TD(lambda) returns [N, T-1] from sequences [N, T] (agent.lambda_return).

    ret[t] = rew[t+1] + disc * (1 - term[t+1]) * ((1 - c) * boot[t+1] + c * ret[t+1]),
    c = lam * (1 - last[t+1]); the last return is boot[T-1].
    """
    del val  # the official signature carries it; the recursion only reads boot
    live = (1.0 - term.float())[:, 1:] * disc
    cont = (1.0 - last.float())[:, 1:] * lam
    interm = rew[:, 1:] + (1.0 - cont) * live * boot[:, 1:]
    rets = [boot[:, -1]]
    for t in reversed(range(live.shape[1])):
        rets.append(interm[:, t] + live[:, t] * cont[:, t] * rets[-1])
    return torch.stack(list(reversed(rets))[:-1], 1)


class ReturnNormalizer(nn.Module):
    """EMA of the 5th and 95th return percentiles; scale = max(limit, hi - lo)."""

    lo: torch.Tensor
    hi: torch.Tensor

    def __init__(self, rate: float, limit: float, perclo: float, perchi: float) -> None:
        super().__init__()
        self.rate, self.limit = rate, limit
        self.perclo, self.perchi = perclo / 100.0, perchi / 100.0
        self.register_buffer("lo", torch.zeros(()))
        self.register_buffer("hi", torch.zeros(()))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.detach().float().flatten()
        q = torch.quantile(x, torch.tensor([self.perclo, self.perchi], device=x.device))
        self.lo.mul_(1 - self.rate).add_(self.rate * q[0])
        self.hi.mul_(1 - self.rate).add_(self.rate * q[1])

    def stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lo.clone(), torch.clamp(self.hi - self.lo, min=self.limit)


@dataclass
class Critics:
    critic: TwoHotHead
    slow: TwoHotHead


def imagination_losses(
    config: DreamerV3Config,
    feat: torch.Tensor,
    actions: torch.Tensor,
    reward_head: TwoHotHead,
    continue_head: ContinueHead,
    actor: Actor,
    critics: Critics,
    retnorm: ReturnNormalizer,
    update: bool,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, float]]:
    """Policy and value losses on imagined trajectories.

    feat [N, H+1, F] (detached; index 0 is the posterior start state) and the actions taken
    from each of them [N, H+1, A]. Returns per-start losses [N] (mean over the horizon), the
    lambda-returns [N, H] and metrics.
    """
    c = config
    with torch.no_grad():
        rew = reward_head.predict(feat)
        # contdisc: the continue head already predicts (1 - 1/horizon) * not-terminal.
        con = continue_head.prob(feat)
        slowval = critics.slow.predict(feat)
    value_logits = critics.critic(feat)
    val = critics.critic.twohot.decode(value_logits)
    tarval = val.detach()  # slowtar: False in the 2024 config
    weight = torch.cumprod(con, 1)  # disc = 1 with contdisc
    last = torch.zeros_like(con)
    term = 1.0 - con
    ret = lambda_return(last, term, rew, tarval, tarval, 1.0, c.lam)
    if update:
        retnorm.update(ret)
    roffset, rscale = retnorm.stats()
    adv = (ret - tarval[:, :-1]) / rscale

    policy = actor.dist(feat)
    logpi = policy.log_prob(actions.detach())[:, :-1]
    ent = policy.entropy()[:, :-1]
    w = weight[:, :-1].detach()
    policy_loss = w * -(logpi * adv.detach() + c.actent * ent)

    twohot = critics.critic.twohot
    value_loss = w * (
        twohot.loss(value_logits[:, :-1], ret.detach())
        + c.slowreg * twohot.loss(value_logits[:, :-1], slowval[:, :-1])
    )
    ret_normed = (ret - roffset) / rscale
    ent, val = ent.detach(), val.detach()
    metrics = {
        "imag_return": float(ret.mean()),
        "imag_return_normed": float(ret_normed.mean()),
        "return_scale": float(rscale),
        "adv_mag": float(adv.abs().mean()),
        "policy_entropy": float(ent.mean()),
        "value_mean": float(val.mean()),
        "slow_value_mean": float(slowval.mean()),
        "imag_reward": float(rew.mean()),
        "imag_continue": float(con.mean()),
    }
    losses = {"policy": policy_loss.mean(1), "value": value_loss.mean(1)}
    return losses, ret, metrics


def replay_value_loss(
    config: DreamerV3Config,
    feat: torch.Tensor,
    last: torch.Tensor,
    term: torch.Tensor,
    rew: torch.Tensor,
    boot: torch.Tensor,
    critics: Critics,
) -> torch.Tensor:
    """The critic on replayed posterior states ("repval"), bootstrapped from imagination
    returns; gradients flow into the world model through `feat`. Returns [B, T-1]."""
    c = config
    value_logits = critics.critic(feat)
    with torch.no_grad():
        tarval = critics.critic.twohot.decode(value_logits)
        slowval = critics.slow.predict(feat)
        ret = lambda_return(last, term, rew, tarval, boot, 1.0 - 1.0 / c.horizon, c.lam)
    weight = 1.0 - last.float()[:, :-1]
    twohot = critics.critic.twohot
    return weight * (
        twohot.loss(value_logits[:, :-1], ret)
        + c.slowreg * twohot.loss(value_logits[:, :-1], slowval[:, :-1])
    )
