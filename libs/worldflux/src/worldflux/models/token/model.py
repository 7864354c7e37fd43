"""The token world model: a VQ tokenizer and a causal transformer that imagines by sampling.

Follows IRIS (Micheli et al., 2023; eloialonso/iris): observations become K discrete tokens,
each step of a sequence is K observation tokens and one action token, and a GPT predicts the
next observation's tokens one at a time, the reward and the episode end. Imagination samples the
tokens autoregressively with a key/value cache, so a step costs K cached forward passes.

A latent state is the last `context_frames` observed frames as tokens ([B, C, K] int64), the
actions taken after each ([B, C, A]; the newest frame's slot is empty until the rollout fills
it) and which slots hold a real frame ([B, C]); frames are right-aligned, the newest last.
Continuous actions are mapped to [-1, 1] by the config's bounds; discrete ones are one-hot.
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
from worldflux.core.spec import ActionKind
from worldflux.models.token.config import TokenConfig
from worldflux.models.token.loss import symexp, token_loss
from worldflux.models.token.tokenizer import Tokenizer
from worldflux.models.token.transformer import KVCache, TokenTransformer


class Token(WorldModel):
    config: TokenConfig
    # Gate facts (worldflux.gates): falling held-out token CE; skill on held-out next-token CE
    # (teacher-forced, against unigram/bigram baselines) and imagined rewards.
    gate_kind = "token"
    gate_dataset = "tokens"
    gate_metrics = ("token_ce", "reward")

    def __init__(self, config: TokenConfig) -> None:
        super().__init__(config)
        c = config
        self.tokenizer = Tokenizer(c)
        self.transformer = TokenTransformer(
            vocab=c.token_vocab,
            tokens_per_obs=c.num_tokens,
            action_width=self.action_spec.embed_dim,
            width=c.width,
            layers=c.num_layers,
            heads=c.num_heads,
            max_frames=c.max_frames,
            dropout=c.dropout,
            reward_outputs=3 if c.reward_mode == "sign" else 1,
        )
        # Encoder outputs of the last training batch: where dead codes are moved to.
        self._recent_z: torch.Tensor | None = None

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
                "tokens": (c.context_frames, c.num_tokens),
                "actions": (c.context_frames, self.action_spec.embed_dim),
                "valid": (c.context_frames,),
            },
            has_reward=True,
            has_continue=True,
        )

    def optimizer_spec(self) -> OptimizerSpec:
        c = self.config
        return OptimizerSpec(
            name="adamw", lr=c.lr, weight_decay=c.weight_decay, clip_value=c.grad_clip_norm
        )

    # -- pieces (any leading dims) ---------------------------------------------------------
    def action_input(self, actions: torch.Tensor, leading: int = 2) -> torch.Tensor:
        """Actions as the transformer reads them: one-hot, or continuous scaled to [-1, 1]."""
        a = self.check_actions(actions, leading)
        if self.action_spec.kind is ActionKind.CONTINUOUS:
            a = self.action_spec.to_unit(a)
        return a.to(self.device)

    def tokenize(self, obs: torch.Tensor) -> torch.Tensor:
        """Observations [..., *obs_shape] -> token ids [..., K]."""
        return self.tokenizer.tokenize(obs.to(self.device).float())

    def hidden(
        self, tokens: torch.Tensor, actions: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Frames [B, F, K] with actions [B, F, A] -> hidden states [B, F, K + 1, W]
        (no cache; `valid` [B, F] marks real frames, None: all are)."""
        t = self.transformer
        x = t.embed_frames(tokens, actions)
        b, frames = tokens.shape[:2]
        if valid is None or bool(valid.bool().all()):
            positions = torch.arange(x.shape[1], device=x.device).expand(b, -1)
            h = t(x, positions)
        else:
            positions = t.token_positions(t.frame_positions(valid))
            key_valid = valid.bool().repeat_interleave(t.frame_len, 1)
            h = t(x, positions, t.padded_mask(key_valid, x.shape[1]))
        return h.view(b, frames, t.frame_len, -1)

    def reward_from(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states at action tokens [..., W] -> predicted rewards [...]."""
        out = self.transformer.reward_head(h)
        if self.config.reward_mode == "sign":
            return out.softmax(-1) @ torch.tensor([-1.0, 0.0, 1.0], device=out.device)
        return symexp(out.squeeze(-1))

    def next_token_logits(
        self, state: LatentState, actions: torch.Tensor, future_obs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced prediction of future frames: logits [B, H, K, V] for the tokens of
        `future_obs` [B, H, *obs_shape] after taking `actions` [B, H, ...] from `state`, and
        those tokens [B, H, K] (the targets)."""
        tokens, acts, valid = self._unpack(state)
        a = self.action_input(actions)
        future = self.tokenize(future_obs)
        b, horizon = a.shape[:2]
        if future.shape[:2] != (b, horizon):
            raise ContractError(
                f"future_obs covers {list(future.shape[:2])} [B, H] steps, actions {[b, horizon]}"
            )
        keep = min(tokens.shape[1], self.config.max_frames - horizon)
        if keep < 1:
            raise ContractError(
                f"horizon {horizon} leaves no room for context in {self.config.max_frames} frames"
            )
        acts = acts[:, -keep:].clone()
        acts[:, -1] = a[:, 0]
        frames = torch.cat([tokens[:, -keep:], future], 1)
        all_acts = torch.cat([acts, a[:, 1:], torch.zeros_like(a[:, :1])], 1)
        all_valid = torch.cat([valid[:, -keep:], torch.ones(b, horizon, device=valid.device)], 1)
        h = self.hidden(frames, all_acts, all_valid)
        k = self.config.num_tokens
        pred = torch.cat([h[:, keep - 1 : -1, k:], h[:, keep:, : k - 1]], 2)
        return self.transformer.obs_head(pred), future

    # -- latent states ---------------------------------------------------------------------
    def _unpack(self, state: LatentState) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c = self.config
        tokens, acts, valid = state["tokens"], state["actions"], state["valid"]
        b = tokens.shape[0]
        expected = {
            "tokens": (b, c.context_frames, c.num_tokens),
            "actions": (b, c.context_frames, self.action_spec.embed_dim),
            "valid": (b, c.context_frames),
        }
        for name, value in (("tokens", tokens), ("actions", acts), ("valid", valid)):
            if tuple(value.shape) != expected[name]:
                raise ContractError(
                    f"LatentState {name!r} must be {list(expected[name])}, got {list(value.shape)}"
                )
        if tokens.is_floating_point() and not bool((tokens == tokens.round()).all()):
            raise ContractError("LatentState 'tokens' must hold integer token ids")
        tokens = tokens.long()
        if bool(((tokens < 0) | (tokens >= c.token_vocab)).any()):
            raise ContractError(f"LatentState 'tokens' must lie in [0, {c.token_vocab})")
        d = self.device
        return tokens.to(d), acts.float().to(d), valid.float().to(d)

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        del condition
        obs = self.check_obs(obs)
        tokens = self.tokenize(obs)
        b, c = tokens.shape[0], self.config.context_frames
        buf = torch.zeros(b, c, tokens.shape[1], dtype=torch.long, device=tokens.device)
        buf[:, -1] = tokens
        acts = torch.zeros(b, c, self.action_spec.embed_dim, device=tokens.device)
        valid = torch.zeros(b, c, device=tokens.device)
        valid[:, -1] = 1.0
        return LatentState({"tokens": buf, "actions": acts, "valid": valid})

    @staticmethod
    def _push(
        tokens: torch.Tensor,
        acts: torch.Tensor,
        valid: torch.Tensor,
        action: torch.Tensor,
        new: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The buffers after taking `action` [B, A] from the newest frame and seeing `new`."""
        acts = torch.cat([acts[:, 1:-1], action[:, None], torch.zeros_like(action[:, None])], 1)
        tokens = torch.cat([tokens[:, 1:], new[:, None]], 1)
        valid = torch.cat([valid[:, 1:], torch.ones_like(valid[:, :1])], 1)
        return tokens, acts, valid

    def observe(self, state: LatentState, action: torch.Tensor, obs: torch.Tensor) -> LatentState:
        tokens, acts, valid = self._unpack(state)
        a = self.action_input(action, leading=1)
        new = self.tokenize(self.check_obs(obs))
        tokens, acts, valid = self._push(tokens, acts, valid, a, new)
        return LatentState({"tokens": tokens, "actions": acts, "valid": valid})

    def decode(self, state: LatentState) -> torch.Tensor:
        """The newest frame of each state, detokenised: [..., *obs_shape] for tokens
        [..., C, K] (states or rollout latents)."""
        return self.tokenizer.detokenize(state["tokens"][..., -1, :].long().to(self.device))

    # -- imagination -----------------------------------------------------------------------
    def _prefill(
        self, tokens: torch.Tensor, acts: torch.Tensor, valid: torch.Tensor
    ) -> tuple[KVCache, torch.Tensor]:
        """Fill a fresh cache with the buffers' tokens up to (not including) the newest frame's
        action token; returns the cache and the newest frame's position [N]."""
        t = self.transformer
        x = t.embed_frames(tokens, acts)[:, :-1]
        frame_pos = t.frame_positions(valid)
        positions = t.token_positions(frame_pos)[:, :-1]
        key_valid = valid.bool().repeat_interleave(t.frame_len, 1)[:, :-1]
        cache = KVCache(key_valid=key_valid)
        t(x, positions, t.padded_mask(key_valid, x.shape[1]), cache)
        return cache, frame_pos[:, -1]

    def _feed(self, cache: KVCache, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Append embedded tokens x [N, L, W] at positions [N, L] to the cache; hidden [N, L, W]."""
        t = self.transformer
        assert cache.key_valid is not None
        past = cache.length
        new_valid = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        cache.key_valid = torch.cat([cache.key_valid, new_valid], 1)
        return t(x, positions, t.padded_mask(cache.key_valid, x.shape[1], past), cache)

    def _sample(self, h: torch.Tensor) -> torch.Tensor:
        logits = self.transformer.obs_head(h) / self.config.temperature
        return torch.multinomial(logits.softmax(-1), 1).squeeze(-1)

    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
    ) -> Rollout:
        """Sample H frames token by token with a KV cache (seed torch's RNG for repeatable
        samples). The cache is rebuilt from the state's frames when positions run out."""
        del condition
        acts_in = self.action_input(actions)
        n, horizon = acts_in.shape[:2]
        if horizon < 1:
            raise ContractError("rollout needs a horizon of at least 1 step")
        state = self.expand_state(state, n)
        tokens, acts, valid = self._unpack(state)
        t, k = self.transformer, self.config.num_tokens
        cache, last = self._prefill(tokens, acts, valid)
        pending = t.act_embed(acts_in[:, 0])[:, None]
        pending_pos = (last * t.frame_len + k)[:, None]
        out_tokens, out_acts, out_valid, rewards, ends = [], [], [], [], []
        for step in range(horizon):
            a = acts_in[:, step]
            if step > 0 and int(last.max()) + 1 >= self.config.max_frames:
                # Out of positions: rebuild the cache from the state's frames.
                cache, last = self._prefill(tokens, acts, valid)
                pending, pending_pos = pending[:, -1:], (last * t.frame_len + k)[:, None]
            h = self._feed(cache, pending, pending_pos)[:, -1]
            rewards.append(self.reward_from(h))
            ends.append(t.end_head(h).squeeze(-1))
            new = [self._sample(h)]
            base = (last + 1) * t.frame_len
            for j in range(1, k):
                x = t.obs_embed(new[-1])[:, None]
                h = self._feed(cache, x, (base + j - 1)[:, None])[:, -1]
                new.append(self._sample(h))
            frame = torch.stack(new, 1)
            tokens, acts, valid = self._push(tokens, acts, valid, a, frame)
            last = last + 1
            out_tokens.append(tokens)
            out_acts.append(acts)
            out_valid.append(valid)
            if step + 1 < horizon:
                nxt = acts_in[:, step + 1]
                pending = torch.stack([t.obs_embed(frame[:, -1]), t.act_embed(nxt)], 1)
                pending_pos = torch.stack([base + k - 1, base + k], 1)
        return Rollout(
            {
                "tokens": torch.stack(out_tokens, 1),
                "actions": torch.stack(out_acts, 1),
                "valid": torch.stack(out_valid, 1),
            },
            rewards=torch.stack(rewards, 1),
            continues=1.0 - torch.sigmoid(torch.stack(ends, 1)),
        )

    # -- training --------------------------------------------------------------------------
    def loss(self, batch: Batch) -> LossOutput:
        return token_loss(self, batch)

    def remember_codes(self, z: torch.Tensor) -> None:
        """Keep (a sample of) this batch's encoder outputs for dead-code re-initialisation."""
        flat = z.detach().reshape(-1, z.shape[-1])
        self._recent_z = flat[:4096]

    def after_optimizer_step(self, step: int) -> None:
        quantizer = self.tokenizer.quantizer
        if quantizer is None or self._recent_z is None or step % self.config.reinit_every:
            return
        quantizer.reinit_dead(self._recent_z)

    def extra_repr(self) -> str:
        return f"{self.model_id}, {self.num_parameters() / 1e6:.2f}M parameters"

    def paper_alignment(self) -> dict[str, Any]:
        """The figures the docs table shows, read from this model (not from the config)."""
        c, t = self.config, self.transformer
        q = self.tokenizer.quantizer
        return {
            "vocab_size": q.vocab_size if q is not None else c.token_vocab,
            "embed_dim": q.dim if q is not None else 0,
            "tokens_per_obs": c.num_tokens,
            "num_layers": len(t.blocks),
            "num_heads": t.blocks[0].attn.heads,
            "width": t.obs_embed.embedding_dim,
            "max_frames": t.pos_embed.num_embeddings // t.frame_len,
            "commitment_beta": q.beta if q is not None else c.commitment_beta,
        }
