"""The physics world model: learned Hamiltonian dynamics in learned canonical coordinates,
integrated with leapfrog.

An encoder maps a state observation to z = (q, p) (d coordinates and d momenta), a decoder maps
back; one environment step is `substeps` kick-drift-kick leapfrog steps of the learned
separable Hamiltonian H = p^T M^-1 p / 2 + V(q), with the action as a generalised force on the
momenta (hamiltonian.py). A reward head reads (z, a). `dynamics="mlp"` replaces the integrator
with an unconstrained residual MLP step, the baseline of the energy-drift comparison.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from worldflux.core import (
    Batch,
    ConditionPayload,
    ContractError,
    LatentState,
    LossOutput,
    ModelSpec,
    OptimizerSpec,
    Rollout,
    WorldModel,
)
from worldflux.models.physics.config import PhysicsConfig
from worldflux.models.physics.hamiltonian import Hamiltonian
from worldflux.models.physics.loss import physics_loss


def mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
        nn.Linear(hidden, outputs),
    )  # fmt: skip


class Physics(WorldModel):
    config: PhysicsConfig
    gate_kind = "generic"
    gate_dataset = "pendulum"
    gate_metrics = ("obs", "reward")

    def __init__(self, config: PhysicsConfig) -> None:
        super().__init__(config)
        c = config
        obs_dim, act = c.obs_shape[0], self.action_spec.embed_dim
        width = 2 * c.coords
        self.encoder = mlp(obs_dim, c.hidden, width)
        self.decoder = mlp(width, c.hidden, obs_dim)
        self.reward_head = mlp(width + act, c.hidden, 1)
        self.hamiltonian: Hamiltonian | None = None
        self.baseline: nn.Module | None = None
        if c.dynamics == "hamiltonian":
            self.hamiltonian = Hamiltonian(c.coords, c.hidden, c.potential_layers, act)
        else:
            self.baseline = mlp(width + act, c.hidden, width)

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(
            model_id=self.model_id,
            family=self.family,
            observation=self.config.observation_spec(),
            action=self.action_spec,
            latent={"z": (2 * self.config.coords,)},
            has_reward=True,
            goal_latent="z",
        )

    def optimizer_spec(self) -> OptimizerSpec:
        return OptimizerSpec(name="adam", lr=self.config.lr, clip_value=10.0)

    # -- dynamics --------------------------------------------------------------------------
    def step(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """One environment step: z [..., 2d], action [..., A] -> z' [..., 2d]."""
        c = self.config
        if self.hamiltonian is not None:
            shape = z.shape[:-1]
            out = self.hamiltonian.leapfrog(
                z.reshape(-1, z.shape[-1]), action.reshape(-1, action.shape[-1]), c.dt, c.substeps
            )
            return out.reshape(*shape, -1)
        assert self.baseline is not None
        return z + c.dt * self.baseline(torch.cat([z, action], -1))

    def reward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.reward_head(torch.cat([z, action], -1)).squeeze(-1)

    def energy(self, z: torch.Tensor) -> torch.Tensor:
        """The learned Hamiltonian H(z) [...] (hamiltonian dynamics only)."""
        if self.hamiltonian is None:
            raise ContractError("the mlp baseline has no learned energy")
        return self.hamiltonian.energy(z)

    # -- the world-model interface -------------------------------------------------------
    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        del condition
        return LatentState({"z": self.encoder(self.check_obs(obs).to(self.device))})

    def decode(self, state: LatentState) -> torch.Tensor:
        return self.decoder(state["z"].to(self.device).float())

    def rollout(
        self, state: LatentState, actions: torch.Tensor, condition: ConditionPayload | None = None
    ) -> Rollout:
        del condition
        acts = self.check_actions(actions).to(self.device)
        if acts.shape[1] < 1:
            raise ContractError("rollout needs a horizon of at least 1 step")
        z = self.expand_state(state, acts.shape[0])["z"].to(self.device).float()
        if z.dim() != 2 or z.shape[1] != 2 * self.config.coords:
            raise ContractError(f"LatentState 'z' must be [B, {2 * self.config.coords}]")
        latents, rewards = [], []
        for t in range(acts.shape[1]):
            rewards.append(self.reward(z, acts[:, t]))
            z = self.step(z, acts[:, t])
            latents.append(z)
        return Rollout({"z": torch.stack(latents, 1)}, rewards=torch.stack(rewards, 1))

    def loss(self, batch: Batch) -> LossOutput:
        return physics_loss(self, batch)

    def paper_alignment(self) -> dict[str, Any]:
        h = self.hamiltonian
        return {
            "hidden": self.config.hidden,
            "potential_layers": len(h.potential.layers) if h is not None else 0,
        }
