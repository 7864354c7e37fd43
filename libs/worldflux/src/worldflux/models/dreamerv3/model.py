"""DreamerV3 as a WorldModel: world-model learning plus actor-critic learning in imagination.

Time alignment. A core Batch pairs obs[t] with the action taken *after* it; Dreamer pairs each
observation with the action *before* it and the reward received on arriving at it. `loss`
therefore shifts: prev_action[t] = actions[t-1], reward[t] = rewards[t-1],
terminal[t] = 1 - continues[t-1], and masks the reward/continue targets of every step whose
predecessor is not in the batch (t = 0 and episode starts). Continuous actions are rescaled
from the spec's bounds to [-1, 1] inside the model (the official code expects normalised
action spaces) and back in `propose`.
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
from worldflux.models.dreamerv3.behavior import (
    Critics,
    ReturnNormalizer,
    imagination_losses,
    replay_value_loss,
)
from worldflux.models.dreamerv3.config import DreamerV3Config
from worldflux.models.dreamerv3.decoder import MLPDecoder, make_decoder
from worldflux.models.dreamerv3.dists import symlog
from worldflux.models.dreamerv3.encoder import encode_sequence, make_encoder
from worldflux.models.dreamerv3.heads import Actor, ContinueHead, TwoHotHead
from worldflux.models.dreamerv3.rssm import RSSM

LOSS_NAMES = ("rec", "rew", "con", "dyn", "rep", "policy", "value", "repval")


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


class DreamerV3WorldModel(WorldModel):
    config: DreamerV3Config
    action_low: torch.Tensor
    action_high: torch.Tensor
    slow_updates: torch.Tensor

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
        low = spec.low if spec.low is not None else (-1.0,) * max(spec.dim, 1)
        high = spec.high if spec.high is not None else (1.0,) * max(spec.dim, 1)
        self.register_buffer("action_low", torch.tensor(low), persistent=False)
        self.register_buffer("action_high", torch.tensor(high), persistent=False)

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

    def _critics(self) -> Critics:
        return Critics(self.critic, self.slow_critic)

    # -- input handling --------------------------------------------------------------------
    def _prep_obs(self, obs: Any, leading: int, name: str) -> torch.Tensor:
        if isinstance(obs, torch.Tensor) and obs.dtype == torch.uint8 and self.config.is_image:
            obs = obs.float() / 255.0
        return self.check_obs(obs, leading, name)

    def _model_actions(self, actions: torch.Tensor, leading: int) -> torch.Tensor:
        """Validated actions as model inputs: one-hot, or continuous rescaled to [-1, 1]."""
        acts = self.check_actions(actions, leading)
        if self.discrete:
            return acts
        return 2.0 * (acts - self.action_low) / (self.action_high - self.action_low) - 1.0

    def _env_actions(self, acts: torch.Tensor) -> torch.Tensor:
        """Model-space actions back to what the spec accepts (indices or bounded floats)."""
        if self.discrete:
            return acts.argmax(-1)
        acts = acts.clamp(-1.0, 1.0)
        return self.action_low + (acts + 1.0) / 2.0 * (self.action_high - self.action_low)

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
        obs = self._prep_obs(obs, 1, "obs")
        tokens = self.encoder(obs)
        deter, stoch = self.rssm.initial(obs.shape[0], obs.device)
        action = torch.zeros(obs.shape[0], self.act_dim, device=obs.device)
        deter, stoch, _ = self.rssm.obs_step(deter, stoch, action, tokens)
        return LatentState({"deter": deter, "stoch": stoch})

    def observe(self, state: LatentState, action: torch.Tensor, obs: torch.Tensor) -> LatentState:
        """Posterior after taking `action` [B, ...] in `state` and then seeing `obs` [B, ...]."""
        deter, stoch = self._state(state)
        acts = self._model_actions(action, leading=1)
        obs = self._prep_obs(obs, 1, "obs")
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
        acts = self._model_actions(actions, leading=2)
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
        c = self.config
        obs = self._prep_obs(batch.obs, 2, "batch.obs")
        bsz, length = obs.shape[:2]
        if length < 2:
            raise ContractError(f"DreamerV3 needs sequences of at least 2 steps, got {length}")
        acts = self._model_actions(batch.actions, leading=2)
        rewards = batch.rewards.float()
        continues = batch.continues.float()
        for name, value in (("rewards", rewards), ("continues", continues)):
            if not bool(torch.isfinite(value).all()):
                raise ContractError(f"batch.{name} contains NaN or infinite values")
        device = obs.device

        # Dreamer alignment (see module docstring).
        reset = batch.is_first.to(device).bool().clone()
        reset[:, 0] = True
        valid = (~reset).float()
        zeros = torch.zeros(bsz, 1, device=device)
        prev_act = torch.cat([torch.zeros_like(acts[:, :1]), acts[:, :-1]], 1)
        reward_t = torch.cat([zeros, rewards[:, :-1]], 1) * valid
        term_t = torch.cat([zeros, 1.0 - continues[:, :-1]], 1).clamp(0.0, 1.0) * valid
        last_t = torch.cat([reset[:, 1:].float(), zeros], 1).clamp(max=1.0)
        last_t = torch.maximum(last_t, term_t)
        if "is_last" in batch.extras:  # truncated episodes end without a terminal flag
            last_t = torch.maximum(last_t, batch.extras["is_last"].to(device).float())

        # World model
        tokens = encode_sequence(self.encoder, obs, len(c.obs_shape))
        seq = self.rssm.observe(tokens, prev_act, reset)
        dyn, rep, kl_stats = self.rssm.kl_losses(seq)
        feat = seq.feat()
        flat_obs = obs.flatten(0, 1)
        recon = self.decoder(seq.deter.flatten(0, 1), seq.stoch.flatten(0, 1))
        rec = self.decoder.loss(recon, flat_obs)
        rew_logits = self.reward_head(feat)
        rew = _masked_mean(self.reward_head.twohot.loss(rew_logits, reward_t), valid)
        con_target = (1.0 - term_t) * (1.0 - 1.0 / c.horizon)
        con_logit = self.continue_head(feat)
        con = _masked_mean(
            nn.functional.binary_cross_entropy_with_logits(con_logit, con_target, reduction="none"),
            valid,
        )

        # Imagination from every (or the last imag_last) posterior state.
        starts = min(c.imag_last or length, length)
        img_feat, img_act = self._imagine_for_training(
            seq.deter[:, -starts:].reshape(bsz * starts, -1).detach(),
            seq.stoch[:, -starts:].reshape(bsz * starts, -1).detach(),
            c.imag_horizon,
        )
        update = self.training and torch.is_grad_enabled()
        img_losses, ret, img_metrics = imagination_losses(
            c,
            img_feat,
            img_act,
            self.reward_head,
            self.continue_head,
            self.actor,
            self._critics(),
            self.retnorm,
            update,
        )
        boot = ret[:, 0].reshape(bsz, starts).detach()
        repval = replay_value_loss(
            c,
            feat[:, -starts:],
            last_t[:, -starts:],
            term_t[:, -starts:],
            reward_t[:, -starts:],
            boot,
            self._critics(),
        )

        components = {
            "rec": rec.mean(),
            "rew": rew,
            "con": con,
            "dyn": dyn.mean(),
            "rep": rep.mean(),
            "policy": img_losses["policy"].mean(),
            "value": img_losses["value"].mean(),
            "repval": repval.mean(),
        }
        scales = {name: getattr(c, f"scale_{name}") for name in LOSS_NAMES}
        total = sum(scales[k] * v for k, v in components.items())
        assert isinstance(total, torch.Tensor)

        with torch.no_grad():
            metrics = {k: float(v.mean()) for k, v in kl_stats.items()}
            if c.is_image:
                metrics["recon_mse"] = float((recon - flat_obs).square().mean())
            else:
                target = symlog(flat_obs)
                metrics["recon_mse"] = float((recon - target).square().mean())
            rew_pred = self.reward_head.twohot.decode(rew_logits)
            metrics["reward_mae"] = float(_masked_mean((rew_pred - reward_t).abs(), valid))
            con_pred = (con_logit > 0).float()
            metrics["continue_acc"] = float(
                _masked_mean((con_pred == (1.0 - term_t)).float(), valid)
            )
            metrics.update(img_metrics)
        return LossOutput(total, components, metrics)

    @torch.no_grad()
    def _imagine_for_training(
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
        model = DreamerV3WorldModel(config)
    return model.num_parameters(), model.parameter_breakdown()


__all__ = ["LOSS_NAMES", "DreamerV3WorldModel", "count_parameters"]
