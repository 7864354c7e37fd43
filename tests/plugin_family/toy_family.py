"""A small but complete world-model family that lives only in the test tree.

It proves that a family outside the library registers through the `worldflux.families` entry
point with no edit to core, and gives core/serialization/training tests a real trainable model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from worldflux.core import (
    Batch,
    ConditionPayload,
    LatentState,
    LossOutput,
    ModelSpec,
    Rollout,
    WorldModel,
    WorldModelConfig,
    register_family,
)


@dataclass
class ToyConfig(WorldModelConfig):
    latent_dim: int = 16
    hidden_dim: int = 32


class ToyWorldModel(WorldModel):
    """Deterministic latent model: MLP encoder/decoder, residual dynamics, reward head."""

    config: ToyConfig

    def __init__(self, config: ToyConfig) -> None:
        super().__init__(config)
        obs_dim = int(torch.tensor(config.obs_shape).prod())
        act_dim = self.action_spec.embed_dim
        h, z = config.hidden_dim, config.latent_dim
        self.encoder = nn.Sequential(nn.Linear(obs_dim, h), nn.ELU(), nn.Linear(h, z))
        self.dynamics = nn.Sequential(nn.Linear(z + act_dim, h), nn.ELU(), nn.Linear(h, z))
        self.reward = nn.Sequential(nn.Linear(z + act_dim, h), nn.ELU(), nn.Linear(h, 1))
        self.decoder = nn.Sequential(nn.Linear(z, h), nn.ELU(), nn.Linear(h, obs_dim))

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(
            model_id=self.model_id,
            family=self.family,
            observation=self.config.observation_spec(),
            action=self.action_spec,
            latent={"z": (self.config.latent_dim,)},
            has_reward=True,
            goal_latent="z",
        )

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        obs = self.check_obs(obs)
        return LatentState({"z": self.encoder(obs.flatten(1))})

    def _step(self, z: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        za = torch.cat([z, a], -1)
        return z + self.dynamics(za), self.reward(za).squeeze(-1)

    def rollout(
        self, state: LatentState, actions: torch.Tensor, condition: ConditionPayload | None = None
    ) -> Rollout:
        acts = self.check_actions(actions)
        z = self.expand_state(state, acts.shape[0])["z"]
        latents, rewards = [], []
        for t in range(acts.shape[1]):
            z, r = self._step(z, acts[:, t])
            latents.append(z)
            rewards.append(r)
        return Rollout({"z": torch.stack(latents, 1)}, rewards=torch.stack(rewards, 1))

    def decode(self, state: LatentState) -> torch.Tensor:
        z = state["z"]
        return self.decoder(z).reshape(*z.shape[:-1], *self.config.obs_shape)

    def loss(self, batch: Batch) -> LossOutput:
        obs = self.check_obs(batch.obs, leading=2, name="batch.obs")
        acts = self.check_actions(batch.actions)
        z = self.encoder(obs.flatten(2))
        recon = F.mse_loss(self.decoder(z), obs.flatten(2))
        z_next, r = self._step(z[:, :-1], acts[:, :-1])
        dynamics = F.mse_loss(z_next, z[:, 1:].detach())
        reward = F.mse_loss(r, batch.rewards[:, :-1])
        total = recon + dynamics + reward
        return LossOutput(total, {"recon": recon, "dynamics": dynamics, "reward": reward})


register_family(
    "toy",
    model_class=ToyWorldModel,
    config_class=ToyConfig,
    sizes={"ci": {}, "wide": {"hidden_dim": 128, "latent_dim": 32}},
    default_size="ci",
    aliases={"toy-wide": "toy:wide"},
    description="test-only family",
)
