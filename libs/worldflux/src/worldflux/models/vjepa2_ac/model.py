"""V-JEPA 2-AC (Assran et al., 2025) as a WorldModel: an action-conditioned latent world model on
frozen V-JEPA 2 features, planned towards a goal image.

Each frame is encoded on its own by the frozen encoder (the frame repeated to fill one 2-frame
tubelet, as the official code does) into layer-normalised patch features; the frame-causal
predictor maps the features of frames 0..t and the actions after them to frame t + 1. Training
is teacher-forced L1 plus the L1 of a 2-step auto-regressive rollout; `rollout` is the same
auto-regression over the candidates' actions, so the generic planner (CEM) scores candidates by
the L1 distance of the imagined features to a goal frame's (GoalDistanceObjective(metric="l1")
on the latent `z`).

The encoder is frozen: copy a trained V-JEPA 2 encoder in with `load_encoder`. Without one it
stays at its random initialisation (random ViT features).
"""

from __future__ import annotations

import math

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
from worldflux.models.jepa.encoder import Encoder
from worldflux.models.vjepa2.model import frame_clip
from worldflux.models.vjepa2_ac.config import VJEPA2ACConfig
from worldflux.models.vjepa2_ac.loss import vjepa2_ac_loss
from worldflux.models.vjepa2_ac.predictor import ACPredictor


class VJEPA2AC(WorldModel):
    config: VJEPA2ACConfig
    gate_kind = "jepa"  # representation loss falls, predicted features do not collapse
    # The mosaic `push`, not the kind's `push-natural`: the action gate needs only the square,
    # and the 2-AC gate and goal-reaching figures were measured on it.
    gate_dataset = "push"
    gate_metrics = ("representation",)

    def __init__(self, config: VJEPA2ACConfig) -> None:
        super().__init__(config)
        c = config
        self.encoder = Encoder(
            c.obs_shape,
            c.tubelet_size,
            c.embed_dim,
            c.depth,
            c.num_heads,
            c.patch_size,
            c.group_size,
            c.tubelet_size,
            c.mlp_ratio,
        )
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.space = self.encoder.tokenizer.space
        self.tokens_per_frame = math.prod(self.space)
        self.predictor = ACPredictor(
            self.space,
            c.embed_dim,
            c.action_dim,
            c.pred_dim,
            c.pred_depth,
            c.pred_heads,
            max(c.frames, 32),
            c.mlp_ratio,
            c.action_to_patches,
        )
        if c.residual:
            # Untrained, the prediction is frame t itself (copy-last); training learns what
            # changes (the pushed square), not the static background's features again.
            nn.init.zeros_(self.predictor.proj.weight)
            nn.init.zeros_(self.predictor.proj.bias)

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(
            model_id=self.model_id,
            family=self.family,
            observation=self.config.observation_spec(),
            action=self.action_spec,
            latent={"z": (self.tokens_per_frame, self.config.embed_dim)},
            has_reward=False,
            goal_latent="z",
        )

    def load_encoder(self, source: nn.Module) -> None:
        """Copy a trained V-JEPA 2 model's target encoder (or any Encoder of the same shape)."""
        encoder = getattr(source, "target_encoder", source)
        self.encoder.load_state_dict(encoder.state_dict())

    def train(self, mode: bool = True) -> VJEPA2AC:
        super().train(mode)
        self.encoder.eval()  # frozen
        return self

    # -- parts ---------------------------------------------------------------------------
    @torch.no_grad()
    def frame_features(self, obs: torch.Tensor) -> torch.Tensor:
        """Frames [B, T, *obs_shape] -> layer-normalised features [B, T, S, D]."""
        b, t = obs.shape[:2]
        flat = obs.reshape(b * t, *self.config.obs_shape)
        h = self.encoder(frame_clip(flat, self.config.tubelet_size))
        h = F.layer_norm(h, (h.shape[-1],))
        return h.reshape(b, t, self.tokens_per_frame, -1)

    def step(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Layer-normalised predictions [B, T, S, D] of frames 1..T from frames 0..T-1 (with
        `residual`, as a change of each frame's own features)."""
        z = self.predictor(features, actions)
        if self.config.residual:
            z = features + z
        return F.layer_norm(z, (z.shape[-1],))

    def imagine(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Auto-regressive rollout from frame features z [N, S, D] over actions [N, H, A]:
        the predicted features [N, H, S, D] (the context is cut to the last `frames`)."""
        context = z.unsqueeze(1)
        out = []
        for t in range(actions.shape[1]):
            keep = min(context.shape[1], self.config.frames)
            nxt = self.step(context[:, -keep:], actions[:, t + 1 - keep : t + 1])[:, -1:]
            out.append(nxt)
            context = torch.cat([context, nxt], dim=1)
        return torch.cat(out, dim=1)

    # -- the world-model interface -------------------------------------------------------
    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        del condition
        obs = self.check_obs(obs).to(self.device)
        return LatentState({"z": self.frame_features(obs.unsqueeze(1))[:, 0]})

    def rollout(
        self, state: LatentState, actions: torch.Tensor, condition: ConditionPayload | None = None
    ) -> Rollout:
        del condition
        acts = self.check_actions(actions).to(self.device)
        if acts.shape[1] < 1:
            raise ContractError("rollout needs a horizon of at least 1 step")
        z = self.expand_state(state, acts.shape[0])["z"].to(self.device)
        if tuple(z.shape[1:]) != (self.tokens_per_frame, self.config.embed_dim):
            raise ContractError(
                f"LatentState 'z' must be [B, {self.tokens_per_frame}, {self.config.embed_dim}]"
            )
        return Rollout({"z": self.imagine(z.float(), acts)})

    def loss(self, batch: Batch) -> LossOutput:
        return vjepa2_ac_loss(self, batch)

    @torch.no_grad()
    def predict_targets(
        self, obs: torch.Tensor, actions: torch.Tensor, context_end: int
    ) -> dict[str, torch.Tensor]:
        """Open-loop prediction of the H frames after the context from frame c and the actions:
        `predicted` (the rollout), `target` (the encoder's features of the true frames),
        `context` (frame c's feature at the same position: copy-last) and `position_mean` (the
        mean target feature of each patch position over the window, fitted on the scored
        targets), each [B * H * S, D]. Without `position_mean` a residual predictor beats
        copy-last by half on i.i.d. noise by shrinking towards it (copy-last's error there is
        twice the content variance)."""
        acts = self.check_actions(actions.to(self.device))
        h = acts.shape[1]
        frames = self.frame_features(obs[:, context_end : context_end + h + 1].to(self.device))
        h = frames.shape[1] - 1
        predicted = self.imagine(frames[:, 0], acts[:, :h])
        target = frames[:, 1:]
        d = self.config.embed_dim
        return {
            "predicted": predicted.reshape(-1, d),
            "target": target.reshape(-1, d),
            "context": frames[:, :1].expand_as(target).reshape(-1, d),
            "position_mean": target.mean((0, 1), keepdim=True).expand_as(target).reshape(-1, d),
        }

    # -- training hooks ------------------------------------------------------------------
    def optimizer_spec(self) -> OptimizerSpec:
        c = self.config
        return OptimizerSpec(
            name="adamw",
            lr=c.lr,
            weight_decay=c.weight_decay,
            clip="norm",
            clip_value=1.0,
            warmup_steps=c.warmup_steps,
        )
