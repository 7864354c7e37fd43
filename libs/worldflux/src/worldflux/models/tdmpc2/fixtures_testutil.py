"""Small TD-MPC2 models and batches for the tests: pendulum-shaped unless told otherwise."""

from __future__ import annotations

from typing import Any

import torch

from worldflux.core import Batch
from worldflux.models.tdmpc2 import SIZES, TDMPC2, TDMPC2Config


def small_model(seed: int = 0, **overrides: Any) -> TDMPC2:
    """A ci-sized model on 3-D observations and 1-D actions (Pendulum's shapes)."""
    torch.manual_seed(seed)
    settings: dict[str, Any] = {
        **SIZES["ci"],
        "size": "ci",
        "obs_shape": (3,),
        "action_dim": 1,
        **overrides,
    }
    return TDMPC2(TDMPC2Config(**settings))


def random_batch(model: TDMPC2, batch_size: int = 8, seq_len: int = 4, seed: int = 0) -> Batch:
    """A batch with the model's shapes: actions inside its bounds, rewards in [-10, 0]."""
    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    obs = torch.randn(batch_size, seq_len, *cfg.obs_shape, generator=g)
    if len(cfg.obs_shape) == 3:
        obs = obs.sigmoid()
    unit = torch.rand(batch_size, seq_len, cfg.action_dim, generator=g)
    actions = cfg.action_low + (cfg.action_high - cfg.action_low) * unit
    rewards = -10 * torch.rand(batch_size, seq_len, generator=g)
    continues = torch.ones(batch_size, seq_len)
    is_first = torch.zeros(batch_size, seq_len, dtype=torch.bool)
    return Batch(obs, actions, rewards, continues, is_first)


def train_steps(model: TDMPC2, steps: int, seed: int = 0) -> None:
    """A few Adam steps on random batches, so targets and the Q scale move off their init:
    the world model first, then the policy on the detached latents (the Trainer's order)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(steps):
        batch = random_batch(model, seed=seed + step)
        out = model.loss(batch)
        opt.zero_grad()
        out.total.backward()
        opt.step()
        policy = model.optimizer_loss("policy", batch, out)
        opt.zero_grad()
        policy.total.backward()
        opt.step()
        model.after_optimizer_step(step)
