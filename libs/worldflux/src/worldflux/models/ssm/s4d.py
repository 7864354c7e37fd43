"""A diagonal state-space layer (S4D) in plain torch, with two equivalent evaluations.

Per channel h and complex mode n, continuous dynamics x' = A x + B u, y = 2 Re(C x) + D u,
discretised by zero-order hold with step dt_h: Abar = exp(dt A), Bbar = (Abar - 1) / A * B.
`parallel` runs a whole sequence with an associative (Hillis-Steele) scan in log2(T) rounds,
`step` advances one time step; from the same state and inputs both give the same outputs
(model_test.py). States are complex [.., H, N/2] internally and real [.., H, N] outside
(real and imaginary parts concatenated), so latent states stay float32.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def associative_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + b_t along dim 1 with h_{-1} = 0, in ceil(log2 T) rounds.

    The pairs (a, b) compose associatively: (a1, b1) then (a2, b2) is (a2 a1, a2 b1 + b2).
    """
    length, shift = a.shape[1], 1
    while shift < length:
        b = torch.cat([b[:, :shift], a[:, shift:] * b[:, :-shift] + b[:, shift:]], 1)
        a = torch.cat([a[:, :shift], a[:, shift:] * a[:, :-shift]], 1)
        shift *= 2
    return b


def to_real(h: torch.Tensor) -> torch.Tensor:
    return torch.cat([h.real, h.imag], -1)


def to_complex(h: torch.Tensor) -> torch.Tensor:
    half = h.shape[-1] // 2
    return torch.complex(h[..., :half].float(), h[..., half:].float())


class S4D(nn.Module):
    """One diagonal SSM: inputs [.., H] -> outputs [.., H] with state [.., H, N] (real view)."""

    def __init__(self, channels: int, state_size: int, dt_min: float, dt_max: float) -> None:
        super().__init__()
        half = state_size // 2
        self.channels, self.state_size = channels, state_size
        log_dt = torch.rand(channels) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)
        # S4D-Lin: A_n = -1/2 + i pi n (the real part kept negative through exp)
        self.log_a_real = nn.Parameter(torch.full((channels, half), math.log(0.5)))
        self.a_imag = nn.Parameter(math.pi * torch.arange(half).float().repeat(channels, 1))
        self.b = nn.Parameter(torch.ones(channels, half, 2) / math.sqrt(2))  # real, imag
        self.c = nn.Parameter(torch.randn(channels, half, 2) * math.sqrt(0.5))
        self.d = nn.Parameter(torch.randn(channels))

    def discrete(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Abar, Bbar, C: complex [H, N/2] each (zero-order hold)."""
        a = torch.complex(-self.log_a_real.exp(), self.a_imag)
        dt = self.log_dt.exp()[:, None]
        a_bar = torch.exp(dt * a)
        b = torch.complex(self.b[..., 0], self.b[..., 1])
        b_bar = (a_bar - 1.0) / a * b
        return a_bar, b_bar, torch.complex(self.c[..., 0], self.c[..., 1])

    def zero_state(self, batch: tuple[int, ...], device: torch.device) -> torch.Tensor:
        return torch.zeros(*batch, self.channels, self.state_size, device=device)

    def step(self, u: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: u [B, H], state [B, H, N] -> (y [B, H], next state [B, H, N])."""
        a_bar, b_bar, c = self.discrete()
        h = a_bar * to_complex(state) + b_bar * u[..., None]
        y = 2.0 * (c * h).sum(-1).real + self.d * u
        return y, to_real(h)

    def parallel(
        self, u: torch.Tensor, state: torch.Tensor, keep: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A sequence at once: u [B, T, H], state [B, H, N] -> (y [B, T, H], states [B, T, H, N]
        after each step). keep [B, T] (optional) multiplies the carried state before step t
        (0 resets it at an episode start)."""
        a_bar, b_bar, c = self.discrete()
        b, t = u.shape[:2]
        a = a_bar.expand(b, t, *a_bar.shape)
        if keep is not None:
            a = a * keep[:, :, None, None].to(a.real.dtype)
        x = b_bar * u[..., None]  # [B, T, H, N/2]
        x = torch.cat([x[:, :1] + a[:, :1] * to_complex(state)[:, None], x[:, 1:]], 1)
        h = associative_scan(a, x)
        y = 2.0 * (c * h).sum(-1).real + self.d * u
        return y, to_real(h)


class SSMBlock(nn.Module):
    """Pre-norm residual block: x + W(GELU(S4D(LayerNorm(x))))."""

    def __init__(self, channels: int, state_size: int, dt_min: float, dt_max: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.ssm = S4D(channels, state_size, dt_min, dt_max)
        self.out = nn.Linear(channels, channels)

    def step(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, state = self.ssm.step(self.norm(x), state)
        return x + self.out(torch.nn.functional.gelu(y)), state

    def parallel(
        self, x: torch.Tensor, state: torch.Tensor, keep: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        y, states = self.ssm.parallel(self.norm(x), state, keep)
        return x + self.out(torch.nn.functional.gelu(y)), states
