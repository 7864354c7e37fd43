"""The GAN world model's two networks."""

from __future__ import annotations

import torch
from torch import nn


def mlp(inputs: int, hidden: int, outputs: int, act: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), act(), nn.Linear(hidden, hidden), act(),
        nn.Linear(hidden, outputs),
    )  # fmt: skip


class Generator(nn.Module):
    """History h (a GRU over [embed(o_t), a_t]) + noise -> o_{t+1} = o_t + delta; reward r_t."""

    def __init__(
        self, obs_dim: int, action_dim: int, hidden: int, embed_dim: int, noise_dim: int
    ) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.embed = mlp(obs_dim, hidden, embed_dim)
        self.cell = nn.GRUCell(embed_dim + action_dim, hidden)
        self.delta = mlp(hidden + noise_dim, hidden, obs_dim)
        self.reward = mlp(hidden, hidden, 1)

    def history(self, h: torch.Tensor, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.cell(torch.cat([self.embed(obs), action], -1), h)

    def next_obs(
        self, h: torch.Tensor, obs: torch.Tensor, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        if noise is None:
            noise = torch.randn(*h.shape[:-1], self.noise_dim, device=h.device)
        return obs + self.delta(torch.cat([h, noise], -1))


class Discriminator(nn.Module):
    """Logit that (o_t, a_t, o_{t+1}) is a real transition."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = mlp(2 * obs_dim + action_dim, hidden, 1, nn.LeakyReLU)

    def forward(self, obs: torch.Tensor, action: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, action, nxt - obs], -1)).squeeze(-1)
