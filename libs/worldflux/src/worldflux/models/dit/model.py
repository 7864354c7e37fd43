"""The DiT world model: the next frame is sampled by a diffusion transformer conditioned on the
current frame (its patches), the noise level and the action (adaLN-Zero).

Denoiser D(x; sigma) = c_skip x + c_out F(c_in x, context, c_noise, action) with EDM's
preconditioning (sigma_data 0.5); imagination runs an Euler sampler from sigma_max down to 0
over `sampling_steps` Karras-spaced levels (seed torch's RNG for repeatable rollouts; the
services seed it from the request). A small reward head reads the pooled patch embedding of the
current frame and the action. A latent state is the current frame itself ("frame", in [0, 1]).
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
from worldflux.models.dit.config import DiTConfig
from worldflux.models.dit.loss import dit_loss
from worldflux.models.dit.transformer import DiTBackbone


class DiT(WorldModel):
    config: DiTConfig
    gate_kind = "diffusion"
    gate_dataset = "pendulum-pixels"
    gate_metrics = ("obs", "reward")

    def __init__(self, config: DiTConfig) -> None:
        super().__init__(config)
        c = config
        act = self.action_spec.embed_dim
        self.backbone = DiTBackbone(
            c.obs_shape, act, c.width, c.depth, c.num_heads, c.patch_size, c.mlp_ratio
        )
        channels = c.obs_shape[0]
        self.reward_embed = nn.Conv2d(channels, c.width, c.patch_size, stride=c.patch_size)
        self.reward_head = nn.Sequential(
            nn.Linear(c.width + act, c.width), nn.SiLU(), nn.Linear(c.width, 1)
        )

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(
            model_id=self.model_id,
            family=self.family,
            observation=self.config.observation_spec(),
            action=self.action_spec,
            latent={"frame": tuple(self.config.obs_shape)},
            has_reward=True,
            goal_latent="frame",
        )

    def optimizer_spec(self) -> OptimizerSpec:
        return OptimizerSpec(name="adamw", lr=self.config.lr, clip_value=1.0)

    # -- denoiser ------------------------------------------------------------------------
    def denoise(
        self, noisy: torch.Tensor, context: torch.Tensor, sigma: torch.Tensor, action: torch.Tensor
    ) -> torch.Tensor:
        """EDM-preconditioned denoiser on frames in [-1, 1]; sigma [B]."""
        sd = self.config.sigma_data
        s = sigma[:, None, None, None]
        c_skip = sd**2 / (s.square() + sd**2)
        c_out = s * sd / (s.square() + sd**2).sqrt()
        c_in = 1.0 / (s.square() + sd**2).sqrt()
        out = self.backbone(c_in * noisy, context, sigma.log() / 4.0, action)
        return c_skip * noisy + c_out * out

    def sigmas(self) -> torch.Tensor:
        """Karras et al.'s levels (rho 7) from sigma_max to sigma_min, then 0."""
        c, rho = self.config, 7.0
        steps = torch.linspace(0, 1, c.sampling_steps)
        hi, lo = c.sigma_max ** (1 / rho), c.sigma_min ** (1 / rho)
        levels = (hi + steps * (lo - hi)) ** rho
        return torch.cat([levels, torch.zeros(1)])

    def sample_next(self, frame: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Next frames [B, C, H, W] in [0, 1] from current frames in [0, 1] (Euler sampler)."""
        context = frame * 2.0 - 1.0
        levels = self.sigmas().to(frame.device)
        x = torch.randn_like(context) * levels[0]
        for i in range(len(levels) - 1):
            sigma = levels[i].expand(x.shape[0])
            denoised = self.denoise(x, context, sigma, action)
            x = x + (levels[i + 1] - levels[i]) * (x - denoised) / levels[i]
        return ((x + 1.0) / 2.0).clamp(0.0, 1.0)

    def reward(self, frame: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        pooled = self.reward_embed(frame * 2.0 - 1.0).flatten(2).mean(-1)
        return self.reward_head(torch.cat([pooled, action], -1)).squeeze(-1)

    # -- the world-model interface -------------------------------------------------------
    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        del condition
        return LatentState({"frame": self.check_obs(obs).to(self.device)})

    def decode(self, state: LatentState) -> torch.Tensor:
        return state["frame"].to(self.device).float()

    def rollout(
        self, state: LatentState, actions: torch.Tensor, condition: ConditionPayload | None = None
    ) -> Rollout:
        del condition
        acts = self.check_actions(actions).to(self.device)
        if acts.shape[1] < 1:
            raise ContractError("rollout needs a horizon of at least 1 step")
        frame = self.expand_state(state, acts.shape[0])["frame"].to(self.device).float()
        if tuple(frame.shape[1:]) != tuple(self.config.obs_shape):
            raise ContractError(f"LatentState 'frame' must be [B, {list(self.config.obs_shape)}]")
        frames, rewards = [], []
        for t in range(acts.shape[1]):
            rewards.append(self.reward(frame, acts[:, t]))
            frame = self.sample_next(frame, acts[:, t])
            frames.append(frame)
        return Rollout({"frame": torch.stack(frames, 1)}, rewards=torch.stack(rewards, 1))

    def loss(self, batch: Batch) -> LossOutput:
        return dit_loss(self, batch)

    def paper_alignment(self) -> dict[str, Any]:
        b = self.backbone
        return {
            "width": b.width,
            "depth": len(b.blocks),
            "num_heads": b.blocks[0].attn.num_heads,
            "patch_size": b.patch,
        }
