"""The diffusion world model: the next observation is sampled by an EDM denoiser conditioned on
the previous frames and actions (DIAMOND, Alonso et al., 2024; eloialonso/diamond).

The model works in a normalised space where observations have standard deviation about
sigma_data: images map [0, 1] to [-1, 1] as in DIAMOND; vectors are centred and divided by one
scale (so that the noise stays isotropic), both fitted on the first training batch and saved
with the weights. A latent state is the last `cond_frames` observations ([B, n, *obs_shape],
oldest first, in observation units) and the actions taken after each ([B, n, A]; the newest
slot is filled by the rollout's action). A new state repeats its one observation n times with
no actions, as training pads the start of a window.
"""

from __future__ import annotations

import copy
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
from worldflux.core.averaging import update_average
from worldflux.core.spec import ActionKind
from worldflux.models.diffusion.config import DiffusionConfig
from worldflux.models.diffusion.edm import conditioners, euler_sample, karras_sigmas
from worldflux.models.diffusion.loss import diffusion_loss, symexp
from worldflux.models.diffusion.networks import Attention, MLPDenoiser, RewardEndHead, UNet


class Diffusion(WorldModel):
    config: DiffusionConfig
    # Gate facts (worldflux.gates): falling held-out denoising error; skill on imagined
    # observations (sampled open loop) and rewards; denoising error per sigma reported.
    gate_kind = "diffusion"
    gate_dataset = "pendulum"
    gate_metrics = ("obs", "reward")

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__(config)
        c = config
        act = self.action_spec.embed_dim
        self.denoiser: UNet | MLPDenoiser
        if c.is_image:
            self.denoiser = UNet(
                c.obs_shape[0], c.cond_frames, act, c.channels, c.blocks_per_level, c.cond_dim
            )
        else:
            self.denoiser = MLPDenoiser(
                c.obs_shape[0], c.cond_frames, act, c.mlp_width, c.mlp_layers, c.cond_dim
            )
        # The averaged copy is not trained (no gradients, so not in the optimizer) but saved.
        self.denoiser_ema: UNet | MLPDenoiser | None = None
        if c.ema_decay > 0:
            self.denoiser_ema = copy.deepcopy(self.denoiser).requires_grad_(False)
        self.head = RewardEndHead(c.obs_shape, act, c.head_width)
        shape = c.obs_shape if not c.is_image else (1,)
        self.register_buffer("obs_mean", torch.full(shape, 0.5 if c.is_image else 0.0))
        self.register_buffer("obs_scale", torch.tensor(0.25 if c.is_image else 1.0))
        self.register_buffer("norm_fitted", torch.tensor(c.is_image))
        self.register_buffer(
            "sigmas",
            karras_sigmas(c.sampler_steps, c.sampler_sigma_min, c.sampler_sigma_max, c.rho),
            persistent=False,
        )

    # -- contract ------------------------------------------------------------------------
    @property
    def spec(self) -> ModelSpec:
        c = self.config
        return ModelSpec(
            model_id=self.model_id,
            family=self.family,
            observation=c.observation_spec(),
            action=self.action_spec,
            latent={
                "frames": (c.cond_frames, *c.obs_shape),
                "actions": (c.cond_frames, self.action_spec.embed_dim),
            },
            has_reward=True,
            has_continue=True,
        )

    def optimizer_spec(self) -> OptimizerSpec:
        c = self.config
        return OptimizerSpec(
            name="adamw", lr=c.lr, weight_decay=c.weight_decay, clip_value=c.grad_clip_norm
        )

    # -- spaces ----------------------------------------------------------------------------
    def action_input(self, actions: torch.Tensor, leading: int = 2) -> torch.Tensor:
        a = self.check_actions(actions, leading)
        if self.action_spec.kind is ActionKind.CONTINUOUS:
            a = self.action_spec.to_unit(a)
        return a.to(self.device)

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.obs_mean) / self.obs_scale * self.config.sigma_data

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        obs = x / self.config.sigma_data * self.obs_scale + self.obs_mean
        return obs.clamp(0, 1) if self.config.is_image else obs

    @torch.no_grad()
    def fit_normalization(self, obs: torch.Tensor) -> None:
        """Vectors: centre and one scale from a batch [..., D] (once, before training)."""
        if bool(self.norm_fitted):
            return
        flat = obs.reshape(-1, obs.shape[-1])
        self.obs_mean.copy_(flat.mean(0))
        self.obs_scale.copy_(flat.std(0).mean().clamp(min=1e-3))
        self.norm_fitted.fill_(True)

    # -- the denoiser ----------------------------------------------------------------------
    def _bcast(self, v: torch.Tensor) -> torch.Tensor:
        return v.reshape(-1, *([1] * len(self.config.obs_shape)))

    def offset_noise(self) -> float:
        return self.config.sigma_offset_noise if self.config.is_image else 0.0

    def raw_output(
        self, noisy: torch.Tensor, sigma: torch.Tensor, frames: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """F(c_in x, c_noise | frames / sigma_data, actions): the network before the skip.
        Training uses the online weights; evaluation and imagination their moving average."""
        cs = conditioners(sigma, self.config.sigma_data, self.offset_noise())
        net = self.denoiser
        if not self.training and self.denoiser_ema is not None:
            net = self.denoiser_ema
        return net(
            self._bcast(cs.c_in) * noisy, cs.c_noise, frames / self.config.sigma_data, actions
        )

    def denoise(
        self, noisy: torch.Tensor, sigma: torch.Tensor, frames: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """D(x, sigma) = c_skip x + c_out F (normalised space); sigma [B]."""
        cs = conditioners(sigma, self.config.sigma_data, self.offset_noise())
        out = self.raw_output(noisy, sigma, frames, actions)
        return self._bcast(cs.c_skip) * noisy + self._bcast(cs.c_out) * out

    def sample_next(self, frames: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The next observation (normalised) by the Euler sampler; seed torch's RNG to repeat."""
        noise = torch.randn(frames[:, -1].shape, device=frames.device)
        return euler_sample(lambda x, s: self.denoise(x, s, frames, actions), noise, self.sigmas)

    def reward_end(
        self, obs: torch.Tensor, action: torch.Tensor, nxt: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalised o_t, a_t, normalised o_{t+1}) -> (reward, end logit)."""
        out = self.head(obs, action, nxt)
        return symexp(out[..., 0]), out[..., 1]

    def denoise_next(
        self, state: LatentState, action: torch.Tensor, noisy: torch.Tensor, sigma: float
    ) -> torch.Tensor:
        """The next observation denoised from `noisy` (observation units, noise level `sigma`
        in observation units) after taking `action` [B, ...] from `state`."""
        frames, acts = self._unpack(state)
        acts = acts.clone()
        acts[:, -1] = self.action_input(action, leading=1)
        x = self.normalize(noisy.to(self.device).float())
        level = sigma / float(self.obs_scale) * self.config.sigma_data
        s = torch.full((x.shape[0],), level, device=x.device)
        return self.denormalize(self.denoise(x, s, self.normalize(frames), acts))

    # -- latent states ---------------------------------------------------------------------
    def _unpack(self, state: LatentState) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        frames, acts = state["frames"], state["actions"]
        b = frames.shape[0]
        expected = {
            "frames": (b, c.cond_frames, *c.obs_shape),
            "actions": (b, c.cond_frames, self.action_spec.embed_dim),
        }
        for name, value in (("frames", frames), ("actions", acts)):
            if tuple(value.shape) != expected[name]:
                raise ContractError(
                    f"LatentState {name!r} must be {list(expected[name])}, got {list(value.shape)}"
                )
            if not value.is_floating_point() or not bool(torch.isfinite(value).all()):
                raise ContractError(f"LatentState {name!r} must be finite floating point")
        return frames.to(self.device), acts.to(self.device)

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        del condition
        obs = self.check_obs(obs).to(self.device)
        n = self.config.cond_frames
        frames = obs.unsqueeze(1).expand(-1, n, *obs.shape[1:]).clone()
        acts = torch.zeros(obs.shape[0], n, self.action_spec.embed_dim, device=obs.device)
        return LatentState({"frames": frames, "actions": acts})

    @staticmethod
    def _push(
        frames: torch.Tensor, acts: torch.Tensor, action: torch.Tensor, new: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        acts = torch.cat([acts[:, 1:-1], action[:, None], torch.zeros_like(action[:, None])], 1)
        return torch.cat([frames[:, 1:], new[:, None]], 1), acts

    def observe(self, state: LatentState, action: torch.Tensor, obs: torch.Tensor) -> LatentState:
        frames, acts = self._unpack(state)
        a = self.action_input(action, leading=1)
        new = self.check_obs(obs).to(self.device)
        frames, acts = self._push(frames, acts, a, new)
        return LatentState({"frames": frames, "actions": acts})

    def decode(self, state: LatentState) -> torch.Tensor:
        """The newest frame of states [..., n, *obs_shape] (or rollout latents)."""
        frames = state["frames"]
        return frames.select(frames.dim() - len(self.config.obs_shape) - 1, -1)

    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
    ) -> Rollout:
        """Sample H observations one after the other (sampler_steps denoiser calls each)."""
        del condition
        acts_in = self.action_input(actions)
        n, horizon = acts_in.shape[:2]
        if horizon < 1:
            raise ContractError("rollout needs a horizon of at least 1 step")
        frames, acts = self._unpack(self.expand_state(state, n))
        out_frames, out_acts, rewards, ends = [], [], [], []
        for step in range(horizon):
            a = acts_in[:, step]
            cond = torch.cat([acts[:, :-1], a[:, None]], 1)
            normed = self.normalize(frames)
            nxt = self.sample_next(normed, cond)
            reward, end = self.reward_end(normed[:, -1], a, nxt)
            frames, acts = self._push(frames, acts, a, self.denormalize(nxt))
            out_frames.append(frames)
            out_acts.append(acts)
            rewards.append(reward)
            ends.append(end)
        return Rollout(
            {"frames": torch.stack(out_frames, 1), "actions": torch.stack(out_acts, 1)},
            rewards=torch.stack(rewards, 1),
            continues=1.0 - torch.sigmoid(torch.stack(ends, 1)),
        )

    # -- training --------------------------------------------------------------------------
    def loss(self, batch: Batch) -> LossOutput:
        return diffusion_loss(self, batch)

    def after_optimizer_step(self, step: int) -> None:
        """Move the averaged denoiser towards the online one (core.averaging's ramp)."""
        if self.denoiser_ema is not None:
            update_average(self.denoiser_ema, self.denoiser, step, self.config.ema_decay)

    def denoiser_parameters(self) -> int:
        return sum(p.numel() for p in self.denoiser.parameters())

    def _attention_layout(self) -> str:
        names = [n for n, m in self.denoiser.named_modules() if isinstance(m, Attention)]
        if not names:
            return "none"
        return "middle block only" if names == ["mid_attn"] else ", ".join(names)

    def paper_alignment(self) -> dict[str, Any]:
        """The figures the docs table shows, read from this model and its sampler."""
        c = self.config
        sigmas = self.sigmas
        return {
            "sigma_data": c.sigma_data,
            "cond_frames": self.spec.latent["frames"][0],
            "channels": c.channels,
            "blocks_per_level": c.blocks_per_level,
            "attention": self._attention_layout(),
            "sigma_loc": c.sigma_loc,
            "sigma_scale": c.sigma_scale,
            "sigma_min_train": c.sigma_min_train,
            "sigma_max_train": c.sigma_max_train,
            "sampler_steps": len(sigmas) - 1,
            "sampler_sigma_min": round(float(sigmas[-2]), 6),
            "sampler_sigma_max": round(float(sigmas[0]), 6),
            "rho": c.rho,
        }
