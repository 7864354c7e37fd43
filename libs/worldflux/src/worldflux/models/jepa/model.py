"""I-JEPA (Assran et al., 2023) as a WorldModel: masked-block prediction in representation space.

A context encoder (ViT) sees one context block of an observation; a narrow predictor regresses
the target encoder's features of several target blocks, from the context features and the
blocks' positions; the target encoder is an exponential moving average of the context encoder
(momentum 0.996 -> 1.0 over training, in `after_optimizer_step`) and receives no gradient.
Observations are images (patch tokens) or vectors (tokens of `group_size` features).

The latent `z` is the target encoder's features averaged over tokens (the official evaluation
protocol's average pooling). JEPA models no dynamics and takes no actions (its action spec is
kind `none`): `rollout` holds the latent (an identity transition), planners refuse it, and the
gates' action-dependence check does not apply; plan with `vjepa2-ac`.
"""

from __future__ import annotations

import copy
from typing import Any

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
from worldflux.models.jepa.config import JEPAConfig
from worldflux.models.jepa.encoder import Encoder
from worldflux.models.jepa.loss import jepa_loss
from worldflux.models.jepa.masks import Masks, MultiBlockMask
from worldflux.models.jepa.predictor import Predictor
from worldflux.models.jepa.vit import gather_tokens

HELDOUT_MASK_SEED = 20_240_612  # masks of predict_targets: the same for every evaluation
CONTEXT_DRAWS = 16


def derangement(n: int, generator: torch.Generator) -> torch.Tensor:
    """A random permutation of range(n) with no fixed point (n >= 2): a cyclic shift of a
    random order, so no clip is ever filled with its own content."""
    if n < 2:
        raise ContractError("the context baseline needs a batch of at least 2 clips")
    order = torch.randperm(n, generator=generator)
    perm = torch.empty_like(order)
    perm[order] = order.roll(1)
    return perm


@torch.no_grad()
def context_baseline(
    encoder: Encoder, clips: torch.Tensor, masks: Masks, generator: torch.Generator
) -> torch.Tensor:
    """[B * S * Nt, D]: the layer-normalised features of `encoder` at each target set's tokens
    when it sees exactly what the predictor sees: the context tokens, with every other token's
    input (the targets and whatever else is outside the context) taken from the same positions
    of other clips of the batch (a random derangement per draw), averaged over CONTEXT_DRAWS
    draws. (I-JEPA predicts each target block from a context that excludes all four blocks:
    hiding only the block being scored would show this baseline the other three.)"""
    tokens = encoder.tokens(clips)
    b, sets = masks.targets.shape[:2]
    index = masks.targets.flatten(0, 1)  # [B * S, Nt]
    visible = torch.zeros(b, tokens.shape[1], 1, dtype=torch.bool, device=tokens.device)
    visible.scatter_(1, masks.context.unsqueeze(-1), True)
    visible = visible.repeat_interleave(sets, 0)
    own = tokens.repeat_interleave(sets, 0)
    total = torch.zeros(index.shape[0], index.shape[1], tokens.shape[-1], device=tokens.device)
    for _ in range(CONTEXT_DRAWS):
        other = tokens[derangement(b, generator).to(tokens.device)].repeat_interleave(sets, 0)
        h = encoder(clips, tokens=torch.where(visible, own, other))
        total += gather_tokens(F.layer_norm(h, (h.shape[-1],)), index)
    return (total / CONTEXT_DRAWS).flatten(0, 1)


def no_decay_groups(model: torch.nn.Module) -> list[dict[str, Any]]:
    """Optimizer parameter groups as the official I-JEPA and V-JEPA 2 code builds them: biases
    and 1-D parameters (LayerNorm gains) get no weight decay, every other weight the
    optimizer's."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    exempt = [p for n, p in params if n.endswith("bias") or p.dim() == 1]
    kept = {id(p) for p in exempt}
    return [
        {"params": [p for _, p in params if id(p) not in kept], "lr_scale": 1.0},
        {"params": exempt, "lr_scale": 1.0, "weight_decay": 0.0},
    ]


def accept_ignored_actions(model: WorldModel, actions: torch.Tensor, leading: int) -> torch.Tensor:
    """`check_actions` of a family that takes no actions: a dataset's actions (any trailing
    shape) are accepted so the Trainer and the gates can feed ordinary batches, and returned
    unread; only the leading [*leading] dims are checked."""
    if not isinstance(actions, torch.Tensor) or actions.dim() < leading:
        raise ContractError(
            f"actions need at least {leading} leading dims (their values are ignored: "
            f"{model.family} takes no actions)"
        )
    return actions


def hold_latent(
    model: WorldModel, state: LatentState, actions: torch.Tensor, width: int
) -> Rollout:
    """The rollout of a family that takes no actions (JEPA, V-JEPA 2): every imagined step
    keeps the encoded latent `z` [B, width], expanded to the candidates. `actions` [N, H, ...]
    only gives the number of candidates N and the horizon H; its values are never read."""
    actions = accept_ignored_actions(model, actions, 2)
    if actions.shape[1] < 1:
        raise ContractError("rollout needs a horizon of at least 1 step")
    z = model.expand_state(state, actions.shape[0])["z"].to(model.device)
    if z.dim() != 2 or z.shape[1] != width:
        raise ContractError(f"LatentState 'z' must be [B, {width}]")
    return Rollout({"z": z.unsqueeze(1).expand(-1, actions.shape[1], -1).contiguous()})


class JEPA(WorldModel):
    config: JEPAConfig
    gate_kind = "jepa"
    gate_metrics = ("representation",)

    def __init__(self, config: JEPAConfig) -> None:
        super().__init__(config)
        c = config
        self.encoder = Encoder(
            c.obs_shape,
            1,
            c.embed_dim,
            c.depth,
            c.num_heads,
            c.patch_size,
            c.group_size,
            1,
            c.mlp_ratio,
        )
        self.target_encoder = copy.deepcopy(self.encoder)
        for p in self.target_encoder.parameters():
            p.requires_grad_(False)
        self.grid = self.encoder.grid
        self.predictor = Predictor(
            self.grid, c.embed_dim, c.pred_dim, c.pred_depth, c.pred_heads, c.mlp_ratio
        )
        self.masker = MultiBlockMask(c.num_targets, c.target_scale, c.context_scale, c.aspect_ratio)

    # -- contract ------------------------------------------------------------------------
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
    def training_frames(self, obs: torch.Tensor) -> torch.Tensor:
        """Evenly spaced frames of each sequence [B, T, ...] -> [B * k, 1, ...]."""
        t = obs.shape[1]
        k = self.config.frames_per_sequence or t
        index = torch.linspace(0, t - 1, min(k, t)).round().long().unique().to(obs.device)
        return obs[:, index].reshape(-1, 1, *self.config.obs_shape)

    def sample_masks(self, batch: int, generator: torch.Generator | None = None) -> Masks:
        masks = self.masker(batch, self.grid, generator)
        device = self.device
        return Masks(masks.context.to(device), masks.targets.to(device), masks.num_tokens)

    def target_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Layer-normalised target-encoder features [B, N, D] (the regression targets)."""
        h = self.target_encoder(frames)
        return F.layer_norm(h, (h.shape[-1],))

    def predict_blocks(
        self, frames: torch.Tensor, masks: Masks, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictions and targets [B * S, Nt, D] of every target block (each on its own)."""
        context = self.encoder(frames, keep=masks.context)
        blocks = masks.targets.shape[1]
        context = context.repeat_interleave(blocks, 0)
        context_index = masks.context.repeat_interleave(blocks, 0)
        target_index = masks.targets.flatten(0, 1)
        predicted = self.predictor(context, context_index, target_index)
        wanted = gather_tokens(target.repeat_interleave(blocks, 0), target_index)
        return predicted, wanted

    # -- the world-model interface -------------------------------------------------------
    def embed(self, obs: torch.Tensor) -> torch.Tensor:
        """Observations [B, *obs_shape] -> pooled target-encoder features [B, D]."""
        return self.target_encoder(obs.unsqueeze(1)).mean(1)

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
        return jepa_loss(self, batch)

    @torch.no_grad()
    def predict_targets(
        self, obs: torch.Tensor, actions: torch.Tensor, context_end: int
    ) -> dict[str, torch.Tensor]:
        """Held-out representation prediction on the first frame after the context.

        The frame obs[:, c + 1] is masked with fixed masks. Returns, each [M, D] over all
        target tokens: `predicted` (the predictor, from the context block), `target` (the
        layer-normalised target features) and `context`, what the context alone says about
        the same position: the target encoder's feature there with every token outside the
        context taken from other samples of the batch, averaged over CONTEXT_DRAWS draws (see
        context_baseline). (The target encoder attends over the whole frame, so part of a
        target feature is the context's: a predictor must beat this to show it predicts the
        target's own content.)
        """
        del actions
        frames = obs[:, context_end + 1].unsqueeze(1).to(self.device).float()
        generator = torch.Generator().manual_seed(HELDOUT_MASK_SEED)
        masks = self.sample_masks(frames.shape[0], generator)
        target = self.target_features(frames)
        predicted, wanted = self.predict_blocks(frames, masks, target)
        return {
            "predicted": predicted.flatten(0, 1),
            "target": wanted.flatten(0, 1),
            "context": context_baseline(self.target_encoder, frames, masks, generator),
        }

    # -- training hooks ------------------------------------------------------------------
    def optimizer_spec(self) -> OptimizerSpec:
        c = self.config
        return OptimizerSpec(
            name="adamw",
            lr=c.lr,
            weight_decay=c.weight_decay,
            clip="none",
            warmup_steps=c.warmup_steps,
        )

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Every parameter decayed alike (decay_norms), or the official no-decay groups."""
        if self.config.decay_norms:
            return super().parameter_groups()
        return no_decay_groups(self)

    @torch.no_grad()
    def after_optimizer_step(self, step: int) -> None:
        """EMA of the context encoder into the target encoder at this step's momentum."""
        m = self.config.momentum(step)
        for target, online in zip(
            self.target_encoder.parameters(), self.encoder.parameters(), strict=True
        ):
            target.mul_(m).add_(online.detach(), alpha=1.0 - m)
