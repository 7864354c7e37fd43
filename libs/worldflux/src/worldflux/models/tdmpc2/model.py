"""The TD-MPC2 world model: an implicit (decoder-free) latent model with a policy prior and Qs.

Follows nicklashansen/tdmpc2 (common/world_model.py, tdmpc2.py): a SimNorm encoder, latent
dynamics, a two-hot reward head, a vectorised Q ensemble with a Polyak target and a squashed
Gaussian policy prior. Runs on any device (the official code requires CUDA).

Actions cross the interface in the environment's units (the config's action_low/high) and are
mapped to [-1, 1] inside, which is the space the official networks and MPPI work in.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
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
from worldflux.core.capture import capturing
from worldflux.models.tdmpc2.config import TDMPC2Config
from worldflux.models.tdmpc2.ensemble import QEnsemble
from worldflux.models.tdmpc2.layers import NormedLinear, PixelEncoder, SimNorm, init_weights, mlp
from worldflux.models.tdmpc2.loss import POLICY_LATENTS, tdmpc2_loss, tdmpc2_policy_loss
from worldflux.models.tdmpc2.policy import (
    PolicySample,
    RunningScale,
    bounded_log_std,
    sample_squashed_gaussian,
)
from worldflux.models.tdmpc2.twohot import TwoHot

QSource = Literal["online", "detached", "target"]
POLICY_OPTIMIZER = "policy"  # parameter-group name of the policy's own optimizer


class TDMPC2(WorldModel):
    config: TDMPC2Config
    # Gate facts (worldflux.gates): held-out prediction against trivial baselines, on pendulum.
    gate_kind = "reference"
    gate_dataset = "pendulum"
    graph_capturable = True  # plans and updates record as CUDA graphs (core.capture)

    def __init__(self, config: TDMPC2Config) -> None:
        super().__init__(config)
        c = config
        act, lat, hid = c.action_dim, c.latent_dim, [c.mlp_dim, c.mlp_dim]
        self.encoder: nn.Module
        if c.is_image:
            self.encoder = PixelEncoder(c.obs_shape, c.num_channels, lat, c.simnorm_dim)
        else:
            enc_hidden = max(c.num_enc_layers - 1, 1) * [c.enc_dim]
            self.encoder = mlp(c.obs_shape[0], enc_hidden, lat, act=SimNorm(c.simnorm_dim))
        self.dynamics = mlp(lat + act, hid, lat, act=SimNorm(c.simnorm_dim))
        self.reward_head = mlp(lat + act, hid, c.num_bins)
        self.pi_head = mlp(lat, hid, 2 * act)
        self.termination_head = mlp(lat, hid, 1) if c.episodic else None
        self.apply(init_weights)
        last = self.reward_head[-1]
        assert isinstance(last, nn.Linear)
        if not last.weight.is_meta:
            nn.init.zeros_(last.weight)
        # Built after init_weights so that its own init (zero output layer) stands.
        self.q = QEnsemble(lat + act, hid, c.num_bins, c.num_q, c.dropout)
        self.scale = RunningScale(c.tau)
        self.twohot = TwoHot(c.num_bins, c.vmin, c.vmax)
        self._actions = c.action_spec()

    # -- contract ------------------------------------------------------------------------
    @property
    def spec(self) -> ModelSpec:
        c = self.config
        return ModelSpec(
            model_id=self.model_id,
            family=self.family,
            observation=c.observation_spec(),
            action=self.action_spec,
            latent={"z": (c.latent_dim,)},
            has_reward=True,
            has_value=True,
            has_continue=c.episodic,
            has_policy_prior=True,
            discount=c.discount,
            goal_latent="z",
        )

    # -- action space ----------------------------------------------------------------------
    def normalize_action(self, action: torch.Tensor) -> torch.Tensor:
        """Environment units -> the networks' [-1, 1]."""
        return self._actions.to_unit(action)

    def denormalize_action(self, action: torch.Tensor) -> torch.Tensor:
        return self._actions.from_unit(action)

    # -- components (latent space, normalised actions, any leading dims) -------------------
    def encode_obs(self, obs: torch.Tensor) -> torch.Tensor:
        """Observations [..., *obs_shape] -> SimNorm latents [..., latent_dim]."""
        lead = obs.shape[: obs.dim() - len(self.config.obs_shape)]
        flat = obs.reshape(-1, *self.config.obs_shape)
        return self.encoder(flat).reshape(*lead, self.config.latent_dim)

    def next(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.dynamics(torch.cat([z, a], dim=-1))

    def reward_logits(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.reward_head(torch.cat([z, a], dim=-1))

    def reward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.twohot.decode(self.reward_logits(z, a))

    def termination_logit(self, z: torch.Tensor) -> torch.Tensor:
        if self.termination_head is None:
            raise ContractError("termination is only modelled when the config sets episodic=True")
        return self.termination_head(z).squeeze(-1)

    def pi(self, z: torch.Tensor, eps: torch.Tensor | None = None) -> PolicySample:
        """Sample the policy prior at latents z [..., latent_dim] (actions in [-1, 1])."""
        mean, raw_log_std = self.pi_head(z).chunk(2, dim=-1)
        log_std = bounded_log_std(raw_log_std, self.config.log_std_min, self.config.log_std_max)
        return sample_squashed_gaussian(mean, log_std, eps)

    def q_logits(
        self,
        z: torch.Tensor,
        a: torch.Tensor,
        source: QSource = "online",
        members: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Two-hot logits [num members, ..., num_bins] of every member (or of `members`).

        `detached` evaluates the online weights cut from the graph (the policy objective: its
        gradient reaches the action, never a Q parameter); `target` the Polyak copy, always
        without dropout.
        """
        za = torch.cat([z, a], dim=-1)
        if source == "online":
            params = None if members is None else self.q.online_params(members=members)
            return self.q(za, params=params)
        if source == "detached":
            return self.q(za, params=self.q.online_params(detach=True, members=members))
        if source == "target":
            return self.q(za, params=self.q.target_params(members=members), dropout=False)
        raise ContractError(f"unknown Q source {source!r}")

    def q_value(
        self,
        z: torch.Tensor,
        a: torch.Tensor,
        reduce: Literal["min", "avg"] = "min",
        source: QSource = "online",
    ) -> torch.Tensor:
        """Q [...] from two members drawn at random: their min (TD targets) or mean (planning).

        Only the two drawn members are evaluated (the official code runs all and then picks;
        the result is the same, at 2/num_q of the cost).
        """
        # Two distinct members at random: argsort of uniform noise is a random permutation
        # that, unlike randperm, a CUDA graph can record.
        pick = torch.rand(self.config.num_q, device=z.device).argsort()[:2]
        values = self.twohot.decode(self.q_logits(z, a, source, members=pick))
        return values.min(0).values if reduce == "min" else values.mean(0)

    # -- the world-model interface -------------------------------------------------------
    def _latent(self, state: LatentState) -> torch.Tensor:
        z = state["z"]
        if z.dim() != 2 or z.shape[-1] != self.config.latent_dim:
            raise ContractError(
                f"LatentState 'z' must be [B, {self.config.latent_dim}], got {list(z.shape)}"
            )
        if not z.is_floating_point() or (not capturing() and not bool(torch.isfinite(z).all())):
            raise ContractError("LatentState 'z' must be finite floating point")
        return z.to(self.device)

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        del condition  # not conditioned; planners pass goals through for their objective
        obs = self.check_obs(obs)
        return LatentState({"z": self.encode_obs(obs.to(self.device))})

    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
    ) -> Rollout:
        """Latent dynamics over N candidates: rewards [N, H] and terminal value Q(z_H, pi(z_H)).

        As the official planner's value estimate: reward at (z_t, a_t), then z_{t+1}; the
        terminal value averages two random online Qs at a policy-prior action.
        """
        del condition  # not conditioned; planners pass goals through for their objective
        acts = self.normalize_action(self.check_actions(actions).to(self.device))
        if acts.shape[1] < 1:
            raise ContractError("rollout needs a horizon of at least 1 step")
        starts = self._latent(state)
        if acts.shape[0] % starts.shape[0]:
            raise ContractError(
                f"{acts.shape[0]} candidates cannot be split evenly over {starts.shape[0]} states"
            )
        latents, rewards, continues = [], [], []
        for t in range(acts.shape[1]):
            if t == 0:
                reward, z = self._first_step(starts, acts[:, 0], acts.shape[0] // starts.shape[0])
            else:
                reward, z = self.reward(z, acts[:, t]), self.next(z, acts[:, t])
            rewards.append(reward)
            latents.append(z)
            if self.termination_head is not None:
                continues.append((torch.sigmoid(self.termination_logit(z)) <= 0.5).to(z.dtype))
        values = self.q_value(z, self.pi(z).action, reduce="avg")
        return Rollout(
            {"z": torch.stack(latents, 1)},
            rewards=torch.stack(rewards, 1),
            continues=torch.stack(continues, 1) if continues else None,
            values=values,
        )

    def _first_step(
        self, starts: torch.Tensor, actions: torch.Tensor, per_state: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reward and next latent of step 0, where the candidates share their B start latents.

        The first layers of the dynamics and reward MLPs see cat([z, a]); their latent half
        is computed once per start state and repeated, not once per candidate (for 5m that
        is 9% of an MPPI plan's FLOPs; equal to reward(z, a) / next(z, a) up to rounding).
        """
        outputs = []
        for net in (self.dynamics, self.reward_head):
            first = net[0]
            assert isinstance(first, NormedLinear)
            lat = self.config.latent_dim
            shared = F.linear(starts, first.weight[:, :lat]).repeat_interleave(per_state, 0)
            pre = F.linear(actions, first.weight[:, lat:], first.bias) + shared
            if first.dropout is not None:
                pre = first.dropout(pre)
            outputs.append(net[1:](first.act(first.ln(pre))))
        next_z, reward_logits = outputs
        return self.twohot.decode(reward_logits), next_z

    def propose(self, state: LatentState, horizon: int, num_samples: int) -> torch.Tensor:
        """Policy-prior trajectories [B * num_samples, H, A]: the policy rolled through the
        dynamics, as the official planner seeds `num_pi_trajs` of its candidates."""
        if horizon < 1 or num_samples < 1:
            raise ContractError(
                f"propose needs horizon >= 1 and num_samples >= 1, got {horizon} / {num_samples}"
            )
        z = self._latent(state).repeat_interleave(num_samples, dim=0)
        actions = []
        for t in range(horizon):
            a = self.pi(z).action
            actions.append(a)
            if t < horizon - 1:
                z = self.next(z, a)
        return self.denormalize_action(torch.stack(actions, 1))

    def loss(self, batch: Batch) -> LossOutput:
        return tdmpc2_loss(self, batch)

    def optimizer_loss(self, optimizer: str, batch: Batch, first: LossOutput) -> LossOutput:
        """The policy's loss, after the world-model step, on that step's detached latents."""
        if optimizer != POLICY_OPTIMIZER:
            return super().optimizer_loss(optimizer, batch, first)
        return tdmpc2_policy_loss(self, first.aux[POLICY_LATENTS])

    # -- training hooks --------------------------------------------------------------------
    def optimizer_spec(self) -> OptimizerSpec:
        return OptimizerSpec(
            name="adam", lr=self.config.lr, clip="norm", clip_value=self.config.grad_clip_norm
        )

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Encoder at lr x 0.3 (official enc_lr_scale); the policy as the official separate
        optimizer: Adam eps 1e-5, stepped after the world model, its gradients clipped on
        their own (both at grad_clip_norm)."""
        encoder = list(self.encoder.parameters())
        policy = list(self.pi_head.parameters())
        taken = {id(p) for p in encoder + policy}
        rest = [p for p in self.parameters() if id(p) not in taken]
        return [
            {"params": encoder, "lr_scale": self.config.enc_lr_scale, "name": "encoder"},
            {"params": rest, "lr_scale": 1.0, "name": "world_model"},
            {
                "params": policy,
                "lr_scale": 1.0,
                "eps": 1e-5,
                "name": "policy",
                "optimizer": POLICY_OPTIMIZER,
            },
        ]

    def after_optimizer_step(self, step: int) -> None:
        """Polyak-average the target Qs (tau 0.01) once per optimizer step."""
        del step
        self.q.update_target(self.config.tau)
