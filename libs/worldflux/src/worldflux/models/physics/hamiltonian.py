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


def angle_features(q: torch.Tensor) -> torch.Tensor:
    """(cos q, sin q) [..., 2d] of angles q [..., d]."""
    return torch.cat([q.cos(), q.sin()], -1)


class Potential(nn.Module):
    """V(q) = w^T tanh(... tanh(W_1 x + b_1) ...) with x = q, or x = (cos q, sin q) for
    `periodic` (angle) coordinates, and its gradient dV/dq in closed form."""

    def __init__(self, coords: int, hidden: int, layers: int, periodic: bool = False) -> None:
        super().__init__()
        self.periodic = periodic
        sizes = [2 * coords if periodic else coords] + [hidden] * layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.out = nn.Linear(hidden, 1)

    def forward(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q [..., d] -> (V [...], dV/dq [..., d])."""
        hs = []
        h = angle_features(q) if self.periodic else q
        for layer in self.layers:
            h = torch.tanh(layer(h))
            hs.append(h)
        value = self.out(h).squeeze(-1)
        g = self.out.weight[0].expand_as(h)
        for layer, h in zip(reversed(self.layers), reversed(hs), strict=True):
            g = (g * (1.0 - h * h)) @ layer.weight
        if self.periodic:  # chain rule through (cos q, sin q)
            d = q.shape[-1]
            g = g[..., d:] * q.cos() - g[..., :d] * q.sin()
        return value, g


class Hamiltonian(nn.Module):
    def __init__(
        self,
        coords: int,
        hidden: int,
        layers: int,
        action_dim: int,
        periodic: bool = False,
        signed_mass: bool = False,
    ) -> None:
        super().__init__()
        self.coords, self.periodic, self.signed_mass = coords, periodic, signed_mass
        self.potential = Potential(coords, hidden, layers, periodic)
        # exp(log_inv_mass), or the parameter itself (`signed_mass`: starts at 0, takes either sign)
        self.log_inv_mass = nn.Parameter(torch.zeros(coords))
        self.force = nn.Sequential(
            nn.Linear(2 * coords if periodic else coords, hidden),
            nn.Tanh(),
            nn.Linear(hidden, coords * action_dim),
        )
        self.action_dim = action_dim

    def energy(self, z: torch.Tensor) -> torch.Tensor:
        """H [...] of z = (q, p) [..., 2d]."""
        q, p = z.split(self.coords, -1)
        return 0.5 * (p * p * self.inv_mass()).sum(-1) + self.potential(q)[0]

    def inv_mass(self) -> torch.Tensor:
        """The diagonal of M^-1 [d]."""
        return self.log_inv_mass if self.signed_mass else self.log_inv_mass.exp()

    def generalised_force(self, q: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = angle_features(q) if self.periodic else q
        g = self.force(x).unflatten(-1, (self.coords, self.action_dim))
        return (g @ action.unsqueeze(-1)).squeeze(-1)

    def leapfrog(
        self, z: torch.Tensor, action: torch.Tensor, dt: float, substeps: int
    ) -> torch.Tensor:
        """Advance z [B, 2d] by dt in `substeps` kick-drift-kick steps under action [B, A]."""
        q, p = z.split(self.coords, -1)
        h = dt / substeps
        inv_mass = self.inv_mass()
        for _ in range(substeps):
            p = p + 0.5 * h * (self.generalised_force(q, action) - self.potential(q)[1])
            q = q + h * inv_mass * p
            p = p + 0.5 * h * (self.generalised_force(q, action) - self.potential(q)[1])
        return torch.cat([q, p], -1)
