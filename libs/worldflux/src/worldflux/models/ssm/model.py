"""The SSM world model: diagonal state-space latent dynamics (S4D) over observations and
actions.

Each step's input is [embed(o_t), a_t] (a_t the action taken after o_t); a stack of S4D blocks
turns the inputs so far into features x_t, from which heads predict the next observation as a
change of the current one, o_{t+1} = o_t + delta(x_t), and the reward r_t. The delta head's last
layer starts at zero, so an untrained model is the copy-last predictor and training learns the
correction (a residual to the last observation: decoding a learned embedding instead left the
one-step error dominated by the decoder's reconstruction error, above copy-last's).
Training runs the whole sequence with the blocks' parallel scan (teacher forcing: real
observations as inputs); imagination steps the same blocks recurrently and feeds each predicted
observation back as the next input. Both evaluations agree (model_test.py).

A latent state is the SSM states of every layer ("h", [L, H, N], real view of the complex
modes) and the current observation ("obs", [D], the goal latent): encode starts from zero SSM
state, observe advances it with the real observation.
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
        self.input = nn.Linear(c.embed_dim + act, c.d_model)
        self.blocks = nn.ModuleList(
            SSMBlock(c.d_model, c.state_size, c.dt_min, c.dt_max) for _ in range(c.num_layers)
        )
        self.norm = nn.LayerNorm(c.d_model)
        self.delta = mlp(c.d_model, c.hidden, obs_dim)
        nn.init.zeros_(self.delta[-1].weight)  # start as copy-last
        nn.init.zeros_(self.delta[-1].bias)
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
            latent={"h": (c.num_layers, c.d_model, c.state_size), "obs": tuple(c.obs_shape)},
            has_reward=True,
            goal_latent="obs",
        )

    def optimizer_spec(self) -> OptimizerSpec:
        return OptimizerSpec(name="adamw", lr=self.config.lr, clip_value=10.0)

    # -- the two evaluations of the dynamics -----------------------------------------------
    def step(
        self, h: torch.Tensor, obs: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Recurrent: SSM states [B, L, H, N], observation [B, D], action [B, A] ->
        (next states, predicted next observation [B, D], reward [B])."""
        x = self.input(torch.cat([self.encoder(obs), action], -1))
        states = []
        for i, block in enumerate(self.blocks):
            x, s = block.step(x, h[:, i])
            states.append(s)
        x = self.norm(x)
        return torch.stack(states, 1), obs + self.delta(x), self.reward_head(x).squeeze(-1)

    def sequence(
        self,
        h: torch.Tensor,
        obs: torch.Tensor,
        actions: torch.Tensor,
        keep: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Parallel scan (teacher forcing): states [B, L, H, N], observations [B, T, D],
        actions [B, T, A] -> (states after each step [B, T, L, H, N], predicted next
        observations [B, T, D], rewards [B, T])."""
        x = self.input(torch.cat([self.encoder(obs), actions], -1))
        states = []
        for i, block in enumerate(self.blocks):
            x, s = block.parallel(x, h[:, i], keep)
            states.append(s)
        x = self.norm(x)
        return torch.stack(states, 2), obs + self.delta(x), self.reward_head(x).squeeze(-1)

    def zero_state(self, batch: int) -> torch.Tensor:
        c = self.config
        return torch.zeros(batch, c.num_layers, c.d_model, c.state_size, device=self.device)

    # -- the world-model interface -------------------------------------------------------
    def _unpack(self, state: LatentState) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        h, obs = state["h"].to(self.device).float(), state["obs"].to(self.device).float()
        b = h.shape[0]
        if tuple(h.shape) != (b, c.num_layers, c.d_model, c.state_size):
            raise ContractError(
                f"LatentState 'h' must be [B, {c.num_layers}, {c.d_model}, {c.state_size}], "
                f"got {list(h.shape)}"
            )
        if tuple(obs.shape) != (b, *c.obs_shape):
            raise ContractError(
                f"LatentState 'obs' must be [B, {', '.join(map(str, c.obs_shape))}], "
                f"got {list(obs.shape)}"
            )
        return h, obs

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        del condition
        obs = self.check_obs(obs).to(self.device)
        return LatentState({"h": self.zero_state(obs.shape[0]), "obs": obs})

    def observe(self, state: LatentState, action: torch.Tensor, obs: torch.Tensor) -> LatentState:
        h, current = self._unpack(state)
        a = self.check_actions(action, leading=1).to(self.device)
        h, _, _ = self.step(h, current, a)
        return LatentState({"h": h, "obs": self.check_obs(obs).to(self.device)})

    def decode(self, state: LatentState) -> torch.Tensor:
        """Observations [..., D]: the latent's "obs" (states or rollout latents)."""
        return state["obs"].to(self.device).float()

    def rollout(
        self, state: LatentState, actions: torch.Tensor, condition: ConditionPayload | None = None
    ) -> Rollout:
        del condition
        acts = self.check_actions(actions).to(self.device)
        if acts.shape[1] < 1:
            raise ContractError("rollout needs a horizon of at least 1 step")
        h, obs = self._unpack(self.expand_state(state, acts.shape[0]))
        hs, observations, rewards = [], [], []
        for t in range(acts.shape[1]):
            h, obs, r = self.step(h, obs, acts[:, t])
            hs.append(h)
            observations.append(obs)
            rewards.append(r)
        return Rollout(
            {"h": torch.stack(hs, 1), "obs": torch.stack(observations, 1)},
            rewards=torch.stack(rewards, 1),
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
