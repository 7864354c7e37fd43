"""A separable Hamiltonian H(q, p) = p^T M^-1 p / 2 + V(q) and its leapfrog integrator.

V is a tanh MLP whose gradient is computed in closed form (backpropagation written out), so
dynamics need no autograd.grad: they run under torch.no_grad / inference_mode (planners, the
services) and stay differentiable for training. The action enters as a generalised force
G(q) a on the momenta, split symmetrically around the drift (zero action: exactly leapfrog).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


class Potential(nn.Module):
    """V(q) = w^T tanh(... tanh(W_1 q + b_1) ...) with its gradient dV/dq in closed form."""

    def __init__(self, coords: int, hidden: int, layers: int) -> None:
        super().__init__()
        sizes = [coords] + [hidden] * layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.out = nn.Linear(hidden, 1)

    def forward(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q [..., d] -> (V [...], dV/dq [..., d])."""
        hs = []
        h = q
        for layer in self.layers:
            h = torch.tanh(layer(h))
            hs.append(h)
        value = self.out(h).squeeze(-1)
        g = self.out.weight[0].expand_as(h)
        for layer, h in zip(reversed(self.layers), reversed(hs), strict=True):
            g = (g * (1.0 - h * h)) @ layer.weight
        return value, g


class Hamiltonian(nn.Module):
    def __init__(self, coords: int, hidden: int, layers: int, action_dim: int) -> None:
        super().__init__()
        self.coords = coords
        self.potential = Potential(coords, hidden, layers)
        self.log_inv_mass = nn.Parameter(torch.zeros(coords))
        self.force = nn.Sequential(
            nn.Linear(coords, hidden), nn.Tanh(), nn.Linear(hidden, coords * action_dim)
        )
        self.action_dim = action_dim

    def energy(self, z: torch.Tensor) -> torch.Tensor:
        """H [...] of z = (q, p) [..., 2d]."""
        q, p = z.split(self.coords, -1)
        return 0.5 * (p * p * self.log_inv_mass.exp()).sum(-1) + self.potential(q)[0]

    def generalised_force(self, q: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        g = self.force(q).unflatten(-1, (self.coords, self.action_dim))
        return (g @ action.unsqueeze(-1)).squeeze(-1)

    def leapfrog(
        self, z: torch.Tensor, action: torch.Tensor, dt: float, substeps: int
    ) -> torch.Tensor:
        """Advance z [B, 2d] by dt in `substeps` kick-drift-kick steps under action [B, A]."""
        q, p = z.split(self.coords, -1)
        h = dt / substeps
        inv_mass = self.log_inv_mass.exp()
        for _ in range(substeps):
            p = p + 0.5 * h * (self.generalised_force(q, action) - self.potential(q)[1])
            q = q + h * inv_mass * p
            p = p + 0.5 * h * (self.generalised_force(q, action) - self.potential(q)[1])
        return torch.cat([q, p], -1)
