"""V-JEPA 2 (Assran et al., 2025) as a WorldModel: masked spatio-temporal prediction in
representation space.

Clips of `frames` frames are cut into tubelets (2 frames x patch x patch pixels, or 2 frames x a
group of features for vector data); the context encoder (ViT) sees the tokens outside the
masked blocks, a narrow predictor regresses the target encoder's layer-normalised features of
the masked tokens (L1), and the target encoder is an EMA of the context encoder (momentum
0.99925). Each training clip is masked with every mask set (short-range and long-range).

The latent `z` is the target encoder's features of one frame (repeated to fill a tubelet, as
the official action-conditioned code encodes single frames), averaged over tokens. V-JEPA 2
takes no actions (action spec kind `none`): `rollout` holds the latent and planners refuse it;
`vjepa2-ac` adds the action-conditioned predictor.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

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
from worldflux.models.jepa.masks import Masks, MaskSet, SpatioTemporalMask
from worldflux.models.jepa.model import accept_ignored_actions, context_baseline, hold_latent
from worldflux.models.jepa.predictor import Predictor
from worldflux.models.jepa.vit import gather_tokens
from worldflux.models.vjepa2.config import VJEPA2Config
from worldflux.models.vjepa2.loss import vjepa2_loss

HELDOUT_MASK_SEED = 20_240_613


def build_encoder(c: VJEPA2Config) -> Encoder:
    return Encoder(
        c.obs_shape,
        c.frames,
        c.embed_dim,
        c.depth,
        c.num_heads,
        c.patch_size,
        c.group_size,
        c.tubelet_size,
        c.mlp_ratio,
    )


def frame_clip(obs: torch.Tensor, tubelet: int) -> torch.Tensor:
    """Single frames [B, *shape] -> one-tubelet clips [B, tubelet, *shape] (frame repeated)."""
    return obs.unsqueeze(1).expand(-1, tubelet, *obs.shape[1:])


class VJEPA2(WorldModel):
    config: VJEPA2Config
    gate_kind = "vjepa2"
    gate_metrics = ("representation",)

    def __init__(self, config: VJEPA2Config) -> None:
        super().__init__(config)
        c = config
        self.encoder = build_encoder(c)
        self.target_encoder = copy.deepcopy(self.encoder)
        for p in self.target_encoder.parameters():
            p.requires_grad_(False)
        self.grid = self.encoder.grid
        self.predictor = Predictor(
            self.grid, c.embed_dim, c.pred_dim, c.pred_depth, c.pred_heads, c.mlp_ratio
        )
        sets = tuple(MaskSet(int(n), float(s), 1.0, c.aspect_ratio) for n, s in c.mask_sets)
        self.masker = SpatioTemporalMask(sets)

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(
            model_id=self.model_id,
            family=self.family,
            observation=self.config.observation_spec(),
            action=self.action_spec,
            latent={"z": (self.config.embed_dim,)},
            has_reward=False,
            goal_latent="z",
        )

    # -- parts ---------------------------------------------------------------------------
    def training_clips(self, obs: torch.Tensor) -> torch.Tensor:
        """Sequences [B, T, ...] -> clips [B * k, frames, ...] at evenly spaced starts."""
        c = self.config
        t = obs.shape[1]
        if t < c.frames:
            raise ContractError(f"sequences of {t} steps are shorter than a clip ({c.frames})")
        starts = torch.linspace(0, t - c.frames, c.clips_per_sequence).round().long().unique()
        clips = [obs[:, int(s) : int(s) + c.frames] for s in starts]
        return torch.cat(clips, 0)

    def sample_masks(self, batch: int, generator: torch.Generator | None = None) -> list[Masks]:
        device = self.device
        return [
            Masks(m.context.to(device), m.targets.to(device), m.num_tokens)
            for m in self.masker(batch, self.grid, generator)
        ]

    def target_features(self, clips: torch.Tensor) -> torch.Tensor:
        h = self.target_encoder(clips)
        return F.layer_norm(h, (h.shape[-1],))

    def predict_masked(
        self, clips: torch.Tensor, masks: Masks, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictions and targets [B, Nt, D] of one mask set."""
        context = self.encoder(clips, keep=masks.context)
        index = masks.targets[:, 0]
        return self.predictor(context, masks.context, index), gather_tokens(target, index)

    # -- the world-model interface -------------------------------------------------------
    def embed(self, obs: torch.Tensor) -> torch.Tensor:
        return self.target_encoder(frame_clip(obs, self.config.tubelet_size)).mean(1)

    def check_actions(self, actions: torch.Tensor, leading: int = 2) -> torch.Tensor:
        return accept_ignored_actions(self, actions, leading)

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        del condition
        obs = self.check_obs(obs).to(self.device)
        return LatentState({"z": self.embed(obs)})

    def rollout(
        self, state: LatentState, actions: torch.Tensor, condition: ConditionPayload | None = None
    ) -> Rollout:
        del condition
        return hold_latent(self, state, actions, self.config.embed_dim)

    def loss(self, batch: Batch) -> LossOutput:
        return vjepa2_loss(self, batch)

    @torch.no_grad()
    def predict_targets(
        self, obs: torch.Tensor, actions: torch.Tensor, context_end: int
    ) -> dict[str, torch.Tensor]:
        """Held-out masked prediction on the clip that starts after the context (or the
        window's last clip), with fixed masks of every mask set: `predicted`, `target` and
        `context` (the target encoder at the same position with the masked tokens' content
        taken from other clips of the batch, see jepa.model.context_baseline), each [M, D]."""
        del actions
        frames = self.config.frames
        start = max(0, min(context_end + 1, obs.shape[1] - frames))
        clips = obs[:, start : start + frames].to(self.device).float()
        generator = torch.Generator().manual_seed(HELDOUT_MASK_SEED)
        target = self.target_features(clips)
        out: dict[str, list[torch.Tensor]] = {"predicted": [], "target": [], "context": []}
        for masks in self.sample_masks(clips.shape[0], generator):
            predicted, wanted = self.predict_masked(clips, masks, target)
            out["predicted"].append(predicted.flatten(0, 1))
            out["target"].append(wanted.flatten(0, 1))
            out["context"].append(context_baseline(self.target_encoder, clips, masks, generator))
        return {k: torch.cat(v, 0) for k, v in out.items()}

    # -- training hooks ------------------------------------------------------------------
    def optimizer_spec(self) -> OptimizerSpec:
        c = self.config
        return OptimizerSpec(
            name="adamw",
            lr=c.lr,
            weight_decay=c.weight_decay,
            clip="norm",
            clip_value=10.0,
            warmup_steps=c.warmup_steps,
        )

    @torch.no_grad()
    def after_optimizer_step(self, step: int) -> None:
        """EMA of the context encoder into the target encoder (momentum `ema`)."""
        del step
        m = self.config.ema
        for target, online in zip(
            self.target_encoder.parameters(), self.encoder.parameters(), strict=True
        ):
            target.mul_(m).add_(online.detach(), alpha=1.0 - m)
