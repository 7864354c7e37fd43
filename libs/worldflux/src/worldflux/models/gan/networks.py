"""The GAN world model's two networks."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


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
    """Score that o_{t+1} is the real next observation, given the history h (the generator's
    summary before o_{t+1}, detached), o_t and a_t: pix2pix's conditional discriminator, for
    transitions. Every linear layer is spectrally normalised (Miyato et al. 2018), which bounds
    the score's slope; so the candidate's step o_{t+1} - o_t enters in units of the real steps'
    standard deviation (`step_scale`, an average over training batches), or the small
    differences between real and generated steps (a few hundredths on pendulum) would stay
    below what a 1-Lipschitz network can separate and the discriminator would sit at chance."""

    def __init__(self, obs_dim: int, action_dim: int, history_dim: int, hidden: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = history_dim + 2 * obs_dim + action_dim
        for out in (hidden, hidden):
            layers += [spectral_norm(nn.Linear(width, out)), nn.LeakyReLU(0.2)]
            width = out
        layers.append(spectral_norm(nn.Linear(width, 1)))
        self.net = nn.Sequential(*layers)
        # 0 = not measured yet (scale 1); the generator loss sets it from real steps
        self.register_buffer("step_scale", torch.zeros(obs_dim))

    def scale(self) -> torch.Tensor:
        s = self.step_scale
        return torch.where(s > 0, s, torch.ones_like(s))

    @torch.no_grad()
    def update_scale(self, real_steps: torch.Tensor, momentum: float = 0.01) -> None:
        """Exponential average of the real steps' per-dimension standard deviation."""
        if real_steps.shape[0] < 2:
            return
        std = real_steps.std(0).clamp(min=1e-6)
        if bool((self.step_scale == 0).all()):
            self.step_scale.copy_(std)
        else:
            self.step_scale.lerp_(std, momentum)

    def forward(
        self, h: torch.Tensor, obs: torch.Tensor, action: torch.Tensor, nxt: torch.Tensor
    ) -> torch.Tensor:
        step = (nxt - obs) / self.scale()
        return self.net(torch.cat([h, obs, action, step], -1)).squeeze(-1)
