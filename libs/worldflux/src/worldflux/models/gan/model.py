"""The GAN world model: a recurrent generator of next observations and a separate
discriminator, trained by alternating updates of two optimizers.

The generator (networks.Generator) keeps a GRU summary h of the history; from h, the current
observation and a noise vector it predicts the next observation (as a change) and the reward.
The discriminator (networks.Discriminator, spectrally normalised) judges o_{t+1} given the history
summary, o_t and a_t. Its
parameters form their own parameter group naming the optimizer "discriminator": the Trainer
steps the generator on `loss` first, then the discriminator on `optimizer_loss`, each with its
own gradient clipping (loss.py has both losses and the stability metrics).

A latent state is the history summary before the next action ("h", [hidden]) and the current
observation ("obs", the goal latent); imagination samples fresh noise every step (seed torch's
RNG for repeatable rollouts; the services seed it from the request).
"""

from __future__ import annotations

from typing import Any

import torch

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
from worldflux.models.gan.config import GANConfig
from worldflux.models.gan.loss import discriminator_loss, gan_loss
from worldflux.models.gan.networks import Discriminator, Generator

DISCRIMINATOR = "discriminator"


class GAN(WorldModel):
    config: GANConfig
    gate_kind = "generic"
    gate_dataset = "pendulum"
    gate_metrics = ("obs", "reward")

    def __init__(self, config: GANConfig) -> None:
        super().__init__(config)
        c = config
        obs_dim, act = c.obs_shape[0], self.action_spec.embed_dim
        self.generator = Generator(obs_dim, act, c.hidden, c.embed_dim, c.noise_dim)
        self.discriminator = Discriminator(obs_dim, act, c.hidden, c.disc_hidden)

    @property
    def spec(self) -> ModelSpec:
        c = self.config
        return ModelSpec(
            model_id=self.model_id,
            family=self.family,
            observation=c.observation_spec(),
            action=self.action_spec,
            latent={"h": (c.hidden,), "obs": tuple(c.obs_shape)},
            has_reward=True,
            goal_latent="obs",
        )

    # -- two optimizers ------------------------------------------------------------------
    def optimizer_spec(self) -> OptimizerSpec:
        c = self.config
        return OptimizerSpec(name="adam", lr=c.lr, betas=(c.beta1, c.beta2), clip_value=10.0)

    def parameter_groups(self) -> list[dict[str, Any]]:
        c = self.config
        return [
            {"params": list(self.generator.parameters()), "lr_scale": 1.0, "name": "generator"},
            {
                "params": list(self.discriminator.parameters()),
                "lr_scale": c.disc_lr / c.lr,
                "name": DISCRIMINATOR,
                "optimizer": DISCRIMINATOR,
            },
        ]

    def loss(self, batch: Batch) -> LossOutput:
        return gan_loss(self, batch)

    def optimizer_loss(self, optimizer: str, batch: Batch, first: LossOutput) -> LossOutput:
        if optimizer != DISCRIMINATOR:
            return super().optimizer_loss(optimizer, batch, first)
        return discriminator_loss(self, first)

    # -- the world-model interface -------------------------------------------------------
    def _unpack(self, state: LatentState) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        h, obs = state["h"].to(self.device).float(), state["obs"].to(self.device).float()
        if h.dim() != 2 or h.shape[1] != c.hidden or tuple(obs.shape[1:]) != c.obs_shape:
            raise ContractError(
                f"LatentState must hold 'h' [B, {c.hidden}] and 'obs' [B, {list(c.obs_shape)}], "
                f"got {list(h.shape)} and {list(obs.shape)}"
            )
        return h, obs

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        del condition
        obs = self.check_obs(obs).to(self.device)
        return LatentState({"h": obs.new_zeros(obs.shape[0], self.config.hidden), "obs": obs})

    def observe(self, state: LatentState, action: torch.Tensor, obs: torch.Tensor) -> LatentState:
        h, current = self._unpack(state)
        a = self.check_actions(action, leading=1).to(self.device)
        h = self.generator.history(h, current, a)
        return LatentState({"h": h, "obs": self.check_obs(obs).to(self.device)})

    def decode(self, state: LatentState) -> torch.Tensor:
        return state["obs"].to(self.device).float()

    def rollout(
        self, state: LatentState, actions: torch.Tensor, condition: ConditionPayload | None = None
    ) -> Rollout:
        del condition
        acts = self.check_actions(actions).to(self.device)
        if acts.shape[1] < 1:
            raise ContractError("rollout needs a horizon of at least 1 step")
        h, obs = self._unpack(self.expand_state(state, acts.shape[0]))
        g = self.generator
        hs, observations, rewards = [], [], []
        for t in range(acts.shape[1]):
            h = g.history(h, obs, acts[:, t])
            rewards.append(g.reward(h).squeeze(-1))
            obs = g.next_obs(h, obs)
            hs.append(h)
            observations.append(obs)
        return Rollout(
            {"h": torch.stack(hs, 1), "obs": torch.stack(observations, 1)},
            rewards=torch.stack(rewards, 1),
        )
