"""The physics world model: learned Hamiltonian dynamics in learned canonical coordinates,
integrated with leapfrog.

An encoder maps a state observation to z = (q, p) (d coordinates and d momenta), a decoder maps
back; one environment step is `substeps` kick-drift-kick leapfrog steps of the learned
separable Hamiltonian H = p^T M^-1 p / 2 + V(q), with the action as a generalised force on the
momenta (hamiltonian.py). A reward head reads (z, a). `dynamics="mlp"` replaces the integrator
with an unconstrained residual MLP step, the baseline of the energy-drift comparison.
"""

from __future__ import annotations

import copy
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
from worldflux.core.averaging import update_average
from worldflux.models.physics.config import PhysicsConfig
from worldflux.models.physics.hamiltonian import Hamiltonian
from worldflux.models.physics.loss import physics_loss

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "silu": nn.SiLU, "relu": nn.ReLU}


def mlp(inputs: int, hidden: int, outputs: int, activation: str = "tanh") -> nn.Sequential:
    act = ACTIVATION_MODULES[activation]
    return nn.Sequential(
        nn.Linear(inputs, hidden), act(), nn.Linear(hidden, hidden), act(),
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
        features = 3 * c.coords if c.angle_coords else width  # (cos q, sin q, p) or (q, p)
        self.encoder = mlp(obs_dim, c.hidden, features, c.activation)
        self.decoder = mlp(features, c.hidden, obs_dim, c.activation)
        reward_features = obs_dim if c.reward_input == "obs" else features
        self.reward_head = mlp(reward_features + act, c.hidden, 1, c.reward_head_activation)
        # reward = reward_loc + reward_scale * head(...), set from the first training batch
        self.register_buffer("reward_loc", torch.zeros(()))
        self.register_buffer("reward_scale", torch.ones(()))
        self.register_buffer("reward_fitted", torch.zeros((), dtype=torch.bool))
        self.hamiltonian: Hamiltonian | None = None
        self.baseline: nn.Module | None = None
        if c.dynamics == "hamiltonian":
            self.hamiltonian = Hamiltonian(
                c.coords, c.hidden, c.potential_layers, act, c.angle_coords, c.signed_mass
            )
        else:
            self.baseline = mlp(features + act, c.hidden, width, c.activation)
        # the averaged copy that eval mode reads (ema_decay > 0), outside the optimizer
        self.averaged: nn.ModuleDict | None = None
        if c.ema_decay > 0:
            self.averaged = copy.deepcopy(nn.ModuleDict(self.online())).requires_grad_(False)

    def online(self) -> dict[str, nn.Module]:
        """The trained networks by name."""
        nets = {"encoder": self.encoder, "decoder": self.decoder, "reward_head": self.reward_head}
        dynamics = self.hamiltonian if self.hamiltonian is not None else self.baseline
        assert dynamics is not None
        nets["hamiltonian" if self.hamiltonian is not None else "baseline"] = dynamics
        return nets

    def net(self, name: str) -> nn.Module:
        """The network `name` this mode computes with: the online one in training, the
        averaged one in eval mode when there is one."""
        if not self.training and self.averaged is not None:
            return self.averaged[name]
        module = getattr(self, name)
        assert isinstance(module, nn.Module)
        return module

    def after_optimizer_step(self, step: int) -> None:
        """Move the averaged networks towards the online ones (ema_decay > 0)."""
        if self.averaged is not None:
            c = self.config
            online = nn.ModuleDict(self.online())
            update_average(self.averaged, online, step, c.ema_decay, c.ema_warmup)

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
        c = self.config
        return OptimizerSpec(name="adam", lr=c.lr, betas=(0.9, c.adam_beta2), clip_value=10.0)

    # -- dynamics --------------------------------------------------------------------------
    def step(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """One environment step: z [..., 2d], action [..., A] -> z' [..., 2d]."""
        c = self.config
        if self.hamiltonian is not None:
            shape = z.shape[:-1]
            out = self.active_hamiltonian().leapfrog(
                z.reshape(-1, z.shape[-1]), action.reshape(-1, action.shape[-1]), c.dt, c.substeps
            )
            return out.reshape(*shape, -1)
        return z + c.dt * self.net("baseline")(torch.cat([self.features(z), action], -1))

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """What the decoder and the heads read of z = (q, p): z, or (cos q, sin q, p) with
        angle coordinates (q grows past +-pi along a rollout; its features do not)."""
        if not self.config.angle_coords:
            return z
        q, p = z.split(self.config.coords, -1)
        return torch.cat([q.cos(), q.sin(), p], -1)

    def encode_z(self, obs: torch.Tensor) -> torch.Tensor:
        """z = (q, p) [..., 2d] of observations [..., D]."""
        out = self.net("encoder")(obs)
        if not self.config.angle_coords:
            return out
        d = self.config.coords
        x, y, p = out.split(d, -1)
        return torch.cat([torch.atan2(y, x), p], -1)

    def decode_z(self, z: torch.Tensor) -> torch.Tensor:
        return self.net("decoder")(self.features(z))

    def reward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Predicted reward [...] of z [..., 2d] and action [..., A]."""
        x = self.decode_z(z).detach() if self.config.reward_input == "obs" else self.features(z)
        out = self.net("reward_head")(torch.cat([x, action], -1)).squeeze(-1)
        return self.reward_loc + self.reward_scale * out

    @torch.no_grad()
    def fit_reward_scale(self, rewards: torch.Tensor) -> None:
        """Set the reward standardisation from the first training batch (reward_norm)."""
        if not self.config.reward_norm or bool(self.reward_fitted):
            return
        self.reward_loc.fill_(float(rewards.mean()))
        self.reward_scale.fill_(max(float(rewards.std()), 1e-3) if rewards.numel() > 1 else 1.0)
        self.reward_fitted.fill_(True)

    def energy(self, z: torch.Tensor) -> torch.Tensor:
        """The learned Hamiltonian H(z) [...] (hamiltonian dynamics only)."""
        if self.hamiltonian is None:
            raise ContractError("the mlp baseline has no learned energy")
        return self.active_hamiltonian().energy(z)

    def active_hamiltonian(self) -> Hamiltonian:
        """The Hamiltonian of this mode: the online one in training, the averaged one in eval
        mode when there is one (hamiltonian dynamics only)."""
        hamiltonian = self.net("hamiltonian")
        assert isinstance(hamiltonian, Hamiltonian)
        return hamiltonian

    # -- the world-model interface -------------------------------------------------------
    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        del condition
        return LatentState({"z": self.encode_z(self.check_obs(obs).to(self.device))})

    def decode(self, state: LatentState) -> torch.Tensor:
        return self.decode_z(state["z"].to(self.device).float())

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
