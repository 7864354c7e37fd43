"""DreamerV3 as a WorldModel: world-model learning plus actor-critic learning in imagination.

The objective lives in loss.py (`dreamerv3_loss`, with the time alignment and the replay
context explained there). Continuous actions are rescaled from the spec's bounds to [-1, 1]
inside the model (the official code expects normalised action spaces) and back in `propose`
and `act` (the actor acting on posterior states, for agents with planner="actor").
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
from worldflux.models.dreamerv3.behavior import Critics, ReturnNormalizer
from worldflux.models.dreamerv3.config import DreamerV3Config
from worldflux.models.dreamerv3.decoder import MLPDecoder, make_decoder
from worldflux.models.dreamerv3.encoder import make_encoder
from worldflux.models.dreamerv3.heads import Actor, ContinueHead, TwoHotHead
from worldflux.models.dreamerv3.loss import LOSS_NAMES, dreamerv3_loss
from worldflux.models.dreamerv3.rssm import RSSM


class DreamerV3(WorldModel):
    config: DreamerV3Config
    slow_updates: torch.Tensor
    # Gate facts (worldflux.gates): held-out prediction against trivial baselines, on pendulum.
    gate_kind = "reference"
    gate_dataset = "pendulum"

    def __init__(self, config: DreamerV3Config) -> None:
        super().__init__(config)
        spec = self.action_spec
        self.discrete = spec.is_indexed
        self.act_dim = spec.embed_dim
        self.encoder = make_encoder(config)
        self.rssm = RSSM(config, self.act_dim, self.encoder.out_dim)
        self.decoder = make_decoder(config)
        self.reward_head = TwoHotHead(config, config.rew_layers)
        self.continue_head = ContinueHead(config)
        self.actor = Actor(config, self.act_dim, self.discrete)
        self.critic = TwoHotHead(config, config.critic_layers)
        # The slow critic is a parameter copy (counted like the official model) that only
        # moves by EMA in after_optimizer_step; requires_grad=False keeps it out of the optimizer.
        self.slow_critic = TwoHotHead(config, config.critic_layers)
        with torch.no_grad():
            for slow, fast in zip(
                self.slow_critic.parameters(), self.critic.parameters(), strict=True
            ):
                slow.copy_(fast)
        self.slow_critic.requires_grad_(False)
        self.retnorm = ReturnNormalizer(
            config.retnorm_rate, config.retnorm_limit, config.retnorm_perclo, config.retnorm_perchi
        )
        self.register_buffer("slow_updates", torch.zeros((), dtype=torch.long))
        self._actions = spec

    # -- contract --------------------------------------------------------------------------
    @property
    def spec(self) -> ModelSpec:
        c = self.config
        return ModelSpec(
            model_id=self.model_id,
            family=self.family,
            observation=c.observation_spec(),
            action=self.action_spec,
            latent={"deter": (c.deter,), "stoch": (c.stoch_dim,)},
            has_reward=True,
            has_value=True,
            has_continue=True,
            has_policy_prior=True,
            discount=1.0 - 1.0 / c.horizon,
            goal_latent="deter",
        )

    @property
    def keeps_replay_context(self) -> bool:
        """Train from a replay buffer that keeps this model's posteriors (see loss.py)."""
        return self.config.replay_context > 0

    def critics(self) -> Critics:
        return Critics(self.critic, self.slow_critic)

    # -- input handling --------------------------------------------------------------------
    def prep_obs(self, obs: Any, leading: int, name: str) -> torch.Tensor:
        if isinstance(obs, torch.Tensor) and obs.dtype == torch.uint8 and self.config.is_image:
            obs = obs.float() / 255.0
        return self.check_obs(obs, leading, name)

    def model_actions(self, actions: torch.Tensor, leading: int) -> torch.Tensor:
        """Validated actions as model inputs: one-hot, or continuous rescaled to [-1, 1]."""
        acts = self.check_actions(actions, leading)
        if self.discrete:
            return acts
        return self._actions.to_unit(acts)

    def _env_actions(self, acts: torch.Tensor) -> torch.Tensor:
        """Model-space actions back to what the spec accepts (indices or bounded floats)."""
        if self.discrete:
            return acts.argmax(-1)
        return self._actions.from_unit(acts.clamp(-1.0, 1.0))

    def _state(self, state: LatentState) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        deter, stoch = state["deter"], state["stoch"]
        if deter.dim() != 2 or deter.shape[-1] != c.deter:
            raise ContractError(f"state 'deter' must be [B, {c.deter}], got {list(deter.shape)}")
        if stoch.dim() != 2 or stoch.shape[-1] != c.stoch_dim:
            raise ContractError(
                f"state 'stoch' must be [B, {c.stoch_dim}], got {list(stoch.shape)}"
            )
        return deter.to(self.device).float(), stoch.to(self.device).float()

    @staticmethod
    def _feat(deter: torch.Tensor, stoch: torch.Tensor) -> torch.Tensor:
        return torch.cat([deter, stoch], -1)

    # -- world-model interface -------------------------------------------------------------
    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        """Posterior from the observation alone: previous state and action are zero."""
        del condition
        obs = self.prep_obs(obs, 1, "obs")
        tokens = self.encoder(obs)
        deter, stoch = self.rssm.initial(obs.shape[0], obs.device)
        action = torch.zeros(obs.shape[0], self.act_dim, device=obs.device)
        deter, stoch, _ = self.rssm.obs_step(deter, stoch, action, tokens)
        return LatentState({"deter": deter, "stoch": stoch})

    def observe(self, state: LatentState, action: torch.Tensor, obs: torch.Tensor) -> LatentState:
        """Posterior after taking `action` [B, ...] in `state` and then seeing `obs` [B, ...]."""
        deter, stoch = self._state(state)
        acts = self.model_actions(action, leading=1)
        obs = self.prep_obs(obs, 1, "obs")
        if acts.shape[0] != deter.shape[0] or obs.shape[0] != deter.shape[0]:
            raise ContractError(
                f"observe needs one action and one obs per state: {deter.shape[0]} states, "
                f"{acts.shape[0]} actions, {obs.shape[0]} observations"
            )
        deter, stoch, _ = self.rssm.obs_step(deter, stoch, acts, self.encoder(obs))
        return LatentState({"deter": deter, "stoch": stoch}, dict(state.meta))

    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
    ) -> Rollout:
        """Prior imagination of N candidates: rewards and continue probabilities per step,
        the critic's value of the final latent."""
        del condition
        acts = self.model_actions(actions, leading=2)
        self._state(state)
        deter, stoch = self._state(self.expand_state(state, acts.shape[0]))
        deters, stochs = [], []
        for t in range(acts.shape[1]):
            deter, stoch = self.rssm.img_step(deter, stoch, acts[:, t])
            deters.append(deter)
            stochs.append(stoch)
        deter_seq, stoch_seq = torch.stack(deters, 1), torch.stack(stochs, 1)
        feat = self._feat(deter_seq, stoch_seq)
        scale = 1.0 - 1.0 / self.config.horizon
        return Rollout(
            {"deter": deter_seq, "stoch": stoch_seq},
            rewards=self.reward_head.predict(feat),
            continues=(self.continue_head.prob(feat) / scale).clamp(0.0, 1.0),
            values=self.critic.predict(feat[:, -1]),
        )

    def propose(self, state: LatentState, horizon: int, num_samples: int) -> torch.Tensor | None:
        """Actor samples rolled out in imagination: [B * num_samples, H, ...] actions."""
        if horizon < 1 or num_samples < 1:
            raise ContractError(
                f"propose needs horizon >= 1 and num_samples >= 1, got {horizon}, {num_samples}"
            )
        deter, stoch = self._state(state)
        deter = deter.repeat_interleave(num_samples, 0)
        stoch = stoch.repeat_interleave(num_samples, 0)
        acts = []
        for _ in range(horizon):
            act = self.actor.dist(self._feat(deter, stoch)).sample()
            acts.append(act)
            deter, stoch = self.rssm.img_step(deter, stoch, act)
        return self._env_actions(torch.stack(acts, 1))

    @torch.no_grad()
    def act(
        self,
        state: LatentState,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The actor on posterior states [B]: a sample (exploration, as the official agent
        collects) or the mode (greedy: argmax for discrete actions, the tanh mean for
        continuous ones), as indices [B] or bounded actions [B, A]."""
        deter, stoch = self._state(state)
        dist = self.actor.dist(self._feat(deter, stoch))
        return self._env_actions(dist.mode() if greedy else dist.sample(generator))

    def decode(self, state: LatentState) -> torch.Tensor:
        """Observations from latents with any leading dims ([B, ...] or rollout [N, H, ...])."""
        c = self.config
        deter, stoch = state["deter"], state["stoch"]
        lead = deter.shape[:-1]
        if deter.shape[-1] != c.deter or stoch.shape[:-1] != lead or stoch.shape[-1] != c.stoch_dim:
            raise ContractError(
                f"decode needs 'deter' [..., {c.deter}] and 'stoch' [..., {c.stoch_dim}] with the "
                f"same leading dims, got {list(deter.shape)} and {list(stoch.shape)}"
            )
        out = self.decoder(deter.reshape(-1, deter.shape[-1]), stoch.reshape(-1, stoch.shape[-1]))
        if isinstance(self.decoder, MLPDecoder):
            out = self.decoder.to_obs(out)
        return out.reshape(*lead, *self.config.obs_shape)

    # -- training --------------------------------------------------------------------------
    def loss(self, batch: Batch) -> LossOutput:
        return dreamerv3_loss(self, batch)

    @torch.no_grad()
    def imagine_for_training(
        self, deter: torch.Tensor, stoch: torch.Tensor, horizon: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Actor-driven imagination: feats [N, H+1, F] and the action taken from each."""
        feats, acts = [], []
        for _ in range(horizon):
            feat = self._feat(deter, stoch)
            act = self.actor.dist(feat).sample()
            feats.append(feat)
            acts.append(act)
            deter, stoch = self.rssm.img_step(deter, stoch, act)
        feat = self._feat(deter, stoch)
        feats.append(feat)
        acts.append(self.actor.dist(feat).sample())
        return torch.stack(feats, 1), torch.stack(acts, 1)

    # -- optimisation hooks ----------------------------------------------------------------
    def optimizer_spec(self) -> OptimizerSpec:
        c = self.config
        return OptimizerSpec(
            name="laprop",
            lr=c.lr,
            eps=c.opt_eps,
            betas=(c.beta1, c.beta2),
            clip="agc",
            clip_value=c.agc,
            warmup_steps=c.warmup,
        )

    @torch.no_grad()
    def after_optimizer_step(self, step: int) -> None:
        """Slow critic <- rate * critic + (1 - rate) * slow critic, every `slow_every` steps."""
        del step
        c = self.config
        if int(self.slow_updates) % c.slow_every == 0:
            for slow, fast in zip(
                self.slow_critic.parameters(), self.critic.parameters(), strict=True
            ):
                slow.lerp_(fast, c.slow_rate)
        self.slow_updates += 1

    def parameter_breakdown(self) -> dict[str, int]:
        """Parameter counts per top-level module (slow critic included)."""
        return {
            name: sum(p.numel() for p in module.parameters())
            for name, module in self.named_children()
            if any(True for _ in module.parameters())
        }


def count_parameters(config: DreamerV3Config) -> tuple[int, dict[str, int]]:
    """Parameter count of a config without allocating weights (built on the meta device)."""
    with torch.device("meta"):
        model = DreamerV3(config)
    return model.num_parameters(), model.parameter_breakdown()


# The name before the family template (one class named after its family); kept importable.
DreamerV3WorldModel = DreamerV3

__all__ = ["LOSS_NAMES", "DreamerV3", "DreamerV3WorldModel", "count_parameters"]
