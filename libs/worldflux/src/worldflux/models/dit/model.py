"""The DiT world model: the next frame is sampled by a diffusion transformer conditioned on the
last `context_frames` observed frames (channel-concatenated to the noisy next frame, then cut
into patches), the noise level and the action (adaLN-Zero).

Denoiser D(x; sigma) = c_skip x + c_out F(c_in x, context, c_noise, action) with EDM's
preconditioning (sigma_data 0.5); imagination runs an Euler sampler from sigma_max down to 0
over `sampling_steps` Karras-spaced levels (seed torch's RNG for repeatable rollouts; the
services seed it from the request). A small reward head reads the patch embeddings (kept in
place, not pooled: the pendulum's angle is where its rod is) of the observed frames and the
action. A latent state is the current frame ("frame", in [0, 1]) and, with more than one
context frame, the frames before it ("history", oldest first); `encode` fills the history with
the current frame, as training pads a window's first steps.
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

REWARD_CHANNELS = 16  # per patch, for the reward head


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
            c.obs_shape,
            act,
            c.width,
            c.depth,
            c.num_heads,
            c.patch_size,
            c.mlp_ratio,
            c.context_frames,
            c.action_tokens,
        )
        channels, height, width = c.obs_shape
        patches = (height // c.patch_size) * (width // c.patch_size)
        self.reward_embed = nn.Sequential(
            nn.Conv2d(c.context_frames * channels, REWARD_CHANNELS, c.patch_size, c.patch_size),
            nn.SiLU(),
            nn.Flatten(),
        )
        self.reward_head = nn.Sequential(
            nn.Linear(REWARD_CHANNELS * patches + act, c.width), nn.SiLU(), nn.Linear(c.width, 1)
        )

    @property
    def spec(self) -> ModelSpec:
        shape = tuple(self.config.obs_shape)
        latent = {"frame": shape}
        if self.config.context_frames > 1:
            latent["history"] = (self.config.context_frames - 1, *shape)
        return ModelSpec(
            model_id=self.model_id,
            family=self.family,
            observation=self.config.observation_spec(),
            action=self.action_spec,
            latent=latent,
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

    def sample_next(self, frames: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Next frames [B, C, H, W] in [0, 1] from observed frames [B, K, C, H, W] in [0, 1],
        oldest first (Euler sampler)."""
        context = frames.flatten(1, 2) * 2.0 - 1.0
        levels = self.sigmas().to(frames.device)
        x = torch.randn_like(frames[:, -1]) * levels[0]
        for i in range(len(levels) - 1):
            sigma = levels[i].expand(x.shape[0])
            denoised = self.denoise(x, context, sigma, action)
            x = x + (levels[i + 1] - levels[i]) * (x - denoised) / levels[i]
        if self.config.residual:
            x = x + context[:, -frames.shape[2] :]
        return ((x + 1.0) / 2.0).clamp(0.0, 1.0)

    def reward(self, frames: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Reward [B] of taking `action` [B, A] after observed frames [B, K, C, H, W]."""
        embedded = self.reward_embed(frames.flatten(1, 2) * 2.0 - 1.0)
        return self.reward_head(torch.cat([embedded, action], -1)).squeeze(-1)

    # -- the world-model interface -------------------------------------------------------
    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        del condition
        frame = self.check_obs(obs).to(self.device)
        return self.state_of(frame[:, None].expand(-1, self.config.context_frames, -1, -1, -1))

    def observe(self, state: LatentState, action: torch.Tensor, obs: torch.Tensor) -> LatentState:
        del action
        frames = self.frames_of(state)
        new = self.check_obs(obs).to(self.device)
        return self.state_of(torch.cat([frames[:, 1:], new[:, None]], 1))

    def state_of(self, frames: torch.Tensor) -> LatentState:
        """The latent state of observed frames [B, K, C, H, W], oldest first."""
        latents = {"frame": frames[:, -1].contiguous()}
        if self.config.context_frames > 1:
            latents["history"] = frames[:, :-1].contiguous()
        return LatentState(latents)

    def frames_of(self, state: LatentState) -> torch.Tensor:
        """Observed frames [B, K, C, H, W] of a latent state (checked against the spec)."""
        shape = tuple(self.config.obs_shape)
        frame = state["frame"].to(self.device).float()
        if tuple(frame.shape[1:]) != shape:
            raise ContractError(f"LatentState 'frame' must be [B, {list(shape)}]")
        if self.config.context_frames == 1:
            return frame[:, None]
        if "history" not in state.tensors:
            raise ContractError("LatentState needs 'history' (the frames before 'frame')")
        history = state["history"].to(self.device).float()
        want = (frame.shape[0], self.config.context_frames - 1, *shape)
        if tuple(history.shape) != want:
            raise ContractError(f"LatentState 'history' must be {list(want)}")
        return torch.cat([history, frame[:, None]], 1)

    def decode(self, state: LatentState) -> torch.Tensor:
        return state["frame"].to(self.device).float()

    def rollout(
        self, state: LatentState, actions: torch.Tensor, condition: ConditionPayload | None = None
    ) -> Rollout:
        del condition
        acts = self.check_actions(actions).to(self.device)
        if acts.shape[1] < 1:
            raise ContractError("rollout needs a horizon of at least 1 step")
        frames = self.frames_of(self.expand_state(state, acts.shape[0]))
        states, rewards = [], []
        for t in range(acts.shape[1]):
            rewards.append(self.reward(frames, acts[:, t]))
            nxt = self.sample_next(frames, acts[:, t])
            frames = torch.cat([frames[:, 1:], nxt[:, None]], 1)
            states.append(self.state_of(frames))
        latents = {k: torch.stack([s[k] for s in states], 1) for k in states[0].tensors}
        return Rollout(latents, rewards=torch.stack(rewards, 1))

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
