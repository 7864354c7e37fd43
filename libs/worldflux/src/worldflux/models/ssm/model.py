"""The SSM world model: diagonal state-space latent dynamics (S4D) over observation
embeddings and actions.

Each step's input is [e_t, a_t] (e_t the embedding of observation t, a_t the action taken after
it); a stack of S4D blocks turns the inputs so far into features x_t, from which heads predict
the next embedding e_{t+1} (as a change of e_t), the reward r_t and (through the decoder)
the next observation.
Training runs the whole sequence with the blocks' parallel scan (teacher forcing: real
embeddings as inputs); imagination steps the same blocks recurrently and feeds each predicted
embedding back as the next input. Both evaluations agree (model_test.py).

A latent state is the SSM states of every layer ("h", [L, H, N], real view of the complex
modes) and the current observation embedding ("e", [E]): encode starts from zero SSM state,
observe advances it with the real observation.
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
from worldflux.models.ssm.config import SSMConfig
from worldflux.models.ssm.loss import ssm_loss
from worldflux.models.ssm.s4d import SSMBlock


def mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
        nn.Linear(hidden, outputs),
    )  # fmt: skip


class SSM(WorldModel):
    config: SSMConfig
    gate_kind = "generic"
    gate_dataset = "pendulum"
    gate_metrics = ("obs", "reward")

    def __init__(self, config: SSMConfig) -> None:
        super().__init__(config)
        c = config
        obs_dim, act = c.obs_shape[0], self.action_spec.embed_dim
        self.encoder = mlp(obs_dim, c.hidden, c.embed_dim)
        self.decoder = mlp(c.embed_dim, c.hidden, obs_dim)
        self.input = nn.Linear(c.embed_dim + act, c.d_model)
        self.blocks = nn.ModuleList(
            SSMBlock(c.d_model, c.state_size, c.dt_min, c.dt_max) for _ in range(c.num_layers)
        )
        self.norm = nn.LayerNorm(c.d_model)
        self.next_embed = mlp(c.d_model, c.hidden, c.embed_dim)
        self.reward_head = mlp(c.d_model, c.hidden, 1)

    # -- contract ------------------------------------------------------------------------
    @property
    def spec(self) -> ModelSpec:
        c = self.config
        return ModelSpec(
            model_id=self.model_id,
            family=self.family,
            observation=c.observation_spec(),
            action=self.action_spec,
            latent={"h": (c.num_layers, c.d_model, c.state_size), "e": (c.embed_dim,)},
            has_reward=True,
            goal_latent="e",
        )

    def optimizer_spec(self) -> OptimizerSpec:
        return OptimizerSpec(name="adamw", lr=self.config.lr, clip_value=10.0)

    # -- the two evaluations of the dynamics -----------------------------------------------
    def step(
        self, h: torch.Tensor, e: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Recurrent: SSM states [B, L, H, N], embedding [B, E], action [B, A] ->
        (next states, predicted next embedding [B, E], reward [B])."""
        x = self.input(torch.cat([e, action], -1))
        states = []
        for i, block in enumerate(self.blocks):
            x, s = block.step(x, h[:, i])
            states.append(s)
        x = self.norm(x)
        return torch.stack(states, 1), e + self.next_embed(x), self.reward_head(x).squeeze(-1)

    def sequence(
        self,
        h: torch.Tensor,
        e: torch.Tensor,
        actions: torch.Tensor,
        keep: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Parallel scan (teacher forcing): states [B, L, H, N], embeddings [B, T, E], actions
        [B, T, A] -> (states after each step [B, T, L, H, N], predicted next embeddings
        [B, T, E], rewards [B, T])."""
        x = self.input(torch.cat([e, actions], -1))
        states = []
        for i, block in enumerate(self.blocks):
            x, s = block.parallel(x, h[:, i], keep)
            states.append(s)
        x = self.norm(x)
        return torch.stack(states, 2), e + self.next_embed(x), self.reward_head(x).squeeze(-1)

    def zero_state(self, batch: int) -> torch.Tensor:
        c = self.config
        return torch.zeros(batch, c.num_layers, c.d_model, c.state_size, device=self.device)

    # -- the world-model interface -------------------------------------------------------
    def _unpack(self, state: LatentState) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        h, e = state["h"].to(self.device).float(), state["e"].to(self.device).float()
        b = h.shape[0]
        if tuple(h.shape) != (b, c.num_layers, c.d_model, c.state_size):
            raise ContractError(
                f"LatentState 'h' must be [B, {c.num_layers}, {c.d_model}, {c.state_size}], "
                f"got {list(h.shape)}"
            )
        if tuple(e.shape) != (b, c.embed_dim):
            raise ContractError(f"LatentState 'e' must be [B, {c.embed_dim}], got {list(e.shape)}")
        return h, e

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        del condition
        obs = self.check_obs(obs).to(self.device)
        return LatentState({"h": self.zero_state(obs.shape[0]), "e": self.encoder(obs)})

    def observe(self, state: LatentState, action: torch.Tensor, obs: torch.Tensor) -> LatentState:
        h, e = self._unpack(state)
        a = self.check_actions(action, leading=1).to(self.device)
        h, _, _ = self.step(h, e, a)
        return LatentState({"h": h, "e": self.encoder(self.check_obs(obs).to(self.device))})

    def decode(self, state: LatentState) -> torch.Tensor:
        """Observations [..., D] from embeddings "e" [..., E] (states or rollout latents)."""
        return self.decoder(state["e"].to(self.device).float())

    def rollout(
        self, state: LatentState, actions: torch.Tensor, condition: ConditionPayload | None = None
    ) -> Rollout:
        del condition
        acts = self.check_actions(actions).to(self.device)
        if acts.shape[1] < 1:
            raise ContractError("rollout needs a horizon of at least 1 step")
        h, e = self._unpack(self.expand_state(state, acts.shape[0]))
        hs, es, rewards = [], [], []
        for t in range(acts.shape[1]):
            h, e, r = self.step(h, e, acts[:, t])
            hs.append(h)
            es.append(e)
            rewards.append(r)
        return Rollout(
            {"h": torch.stack(hs, 1), "e": torch.stack(es, 1)}, rewards=torch.stack(rewards, 1)
        )

    def loss(self, batch: Batch) -> LossOutput:
        return ssm_loss(self, batch)

    def paper_alignment(self) -> dict[str, Any]:
        """The figures the docs table shows, read from this model."""
        ssm = self.blocks[0].ssm
        dt = ssm.log_dt.detach().exp() if ssm.log_dt.device.type != "meta" else None
        return {
            "state_size": ssm.state_size,
            "num_layers": len(self.blocks),
            "d_model": ssm.channels,
            "dt": None if dt is None else (float(dt.min()), float(dt.max())),
        }
