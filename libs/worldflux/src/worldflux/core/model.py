"""The WorldModel base class: the one interface every family implements."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from worldflux.core.capture import capturing
from worldflux.core.config import WorldModelConfig
from worldflux.core.errors import ContractError
from worldflux.core.payload import ConditionPayload
from worldflux.core.spec import ActionSpec, ModelSpec
from worldflux.core.state import Batch, LatentState, LossOutput, Rollout


@dataclass(frozen=True)
class OptimizerSpec:
    """How a family wants to be optimised; the Trainer builds the optimizer from this.

    clip: "norm" clips the global gradient norm to `clip_value`; "agc" is adaptive gradient
    clipping (per-tensor, relative to the parameter norm, as in DreamerV3); "none" disables it.
    """

    name: str = "adam"  # adam | adamw | laprop
    lr: float = 3e-4
    eps: float = 1e-8
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    clip: str = "norm"
    clip_value: float = 100.0
    warmup_steps: int = 0


class WorldModel(nn.Module, ABC):
    """Base of every family.

    Subclasses set `family` and `config_class`, build their modules from the config in
    `__init__`, and implement encode / rollout / loss (observe and decode where the family has
    a posterior update or a decoder). Shapes follow core.state: observations [B, *obs_shape],
    action sequences [N, H, A] or [N, H] indices, N a multiple of the state batch B.
    """

    family: ClassVar[str] = ""
    config_class: ClassVar[type[WorldModelConfig]] = WorldModelConfig
    # True when encode/rollout/propose/loss read no tensor value on the host outside the
    # checks that worldflux.core.capture.capturing() turns off, and after_optimizer_step does
    # not depend on the step number: then a CUDA graph can record its plans and training steps.
    graph_capturable: ClassVar[bool] = False

    def __init__(self, config: WorldModelConfig) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise ContractError(
                f"{type(self).__name__} needs a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        self.config = config

    # -- identity and contract -------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return f"{self.family}:{self.config.size}"

    @property
    def action_spec(self) -> ActionSpec:
        return self.config.action_spec()

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")

    @property
    @abstractmethod
    def spec(self) -> ModelSpec:
        """The model's contract: observation/action specs, latents and rollout outputs."""

    def io_contract(self) -> dict[str, Any]:
        """Everything a caller relies on; its hash is the fingerprint stored in checkpoints."""
        return {
            "family": self.family,
            "spec": self.spec.to_dict(),
            "config": self.config.to_dict(),
            "parameters": {k: list(v.shape) for k, v in sorted(self.state_dict().items())},
        }

    def fingerprint(self) -> str:
        canonical = json.dumps(self.io_contract(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- the world-model interface ---------------------------------------------------------
    @abstractmethod
    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        """Observations [B, *obs_shape] to latent states with batch B."""

    def observe(self, state: LatentState, action: torch.Tensor, obs: torch.Tensor) -> LatentState:
        """Posterior update after taking `action` [B, ...] and seeing `obs` [B, ...].

        Families without a recurrent posterior re-encode the new observation.
        """
        del state, action
        return self.encode(obs)

    @abstractmethod
    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
    ) -> Rollout:
        """Imagine N = actions.shape[0] candidates over H = actions.shape[1] steps.

        Candidates are grouped per state: candidate i starts from state i // (N // B).
        """

    def propose(self, state: LatentState, horizon: int, num_samples: int) -> torch.Tensor | None:
        """Action sequences [B * num_samples, H, ...] from the family's policy prior, if any."""
        del state, horizon, num_samples
        return None

    def act(
        self,
        state: LatentState,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Actions for latent states (batch B) from the family's learned policy, if it has one.

        A family whose actor is trained with the model (DreamerV3's actor-critic in
        imagination) acts by it instead of planning: the agents' `planner="actor"` keeps each
        environment's posterior (encode at an episode's start, observe after every step) and
        calls this. Returns [B, A] floats inside the action spec's bounds or [B] indices.
        `greedy` takes the policy's mode (evaluation); otherwise a sample is drawn, from
        `generator` when one is given (so an agent's own generator decides exploration, not the
        training run's global RNG). Families without a learned policy keep this default and
        refuse; `has_actor()` says which do.
        """
        del state, greedy, generator
        raise ContractError(
            f"the {self.family or type(self).__name__} family has no learned policy to act "
            "with: act through a planner (planner='auto', 'mppi', 'cem', 'discrete-cem')"
        )

    @classmethod
    def has_actor(cls) -> bool:
        """True when the family implements `act` (checked on the class: no weights needed)."""
        return cls.act is not WorldModel.act

    def decode(self, state: LatentState) -> torch.Tensor:
        """Reconstruct observations from latents, where the family has a decoder."""
        raise NotImplementedError(f"the {self.family} family has no observation decoder")

    @abstractmethod
    def loss(self, batch: Batch) -> LossOutput:
        """Training loss on a batch of sequences (see core.state.Batch)."""

    # -- training hooks --------------------------------------------------------------------
    def optimizer_spec(self) -> OptimizerSpec:
        return OptimizerSpec()

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Parameter groups with an optional 'lr_scale' each (e.g. TD-MPC2's encoder 0.3)."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr_scale": 1.0}]

    def optimizer_loss(self, optimizer: str, batch: Batch, first: LossOutput) -> LossOutput:
        """The loss of a later optimizer, computed after the first optimizer has stepped.

        Parameter groups may name an "optimizer" (default "main"); the Trainer steps them in
        the order they first appear, each with its own gradient clipping. The first steps on
        `loss(batch)`; every later one on this, called after the earlier steps, so it sees the
        updated weights (TD-MPC2 updates its policy after the world model, on the detached
        latents that `first.aux` carries).
        """
        del batch, first
        raise NotImplementedError(
            f"{type(self).__name__} names optimizer {optimizer!r} in parameter_groups() but "
            "does not define optimizer_loss() for it"
        )

    def after_optimizer_step(self, step: int) -> None:
        """Called after each optimizer step: target networks, EMA encoders, running stats."""
        del step

    # -- input checks shared by the families -----------------------------------------------
    def check_obs(self, obs: torch.Tensor, leading: int = 1, name: str = "obs") -> torch.Tensor:
        """Raise a ContractError unless obs is float [*leading dims, *obs_shape] and finite."""
        expected = tuple(self.config.obs_shape)
        if not isinstance(obs, torch.Tensor):
            raise ContractError(f"{name} must be a torch.Tensor, got {type(obs).__name__}")
        if tuple(obs.shape[leading:]) != expected or obs.dim() != leading + len(expected):
            lead = ", ".join(["B", "T"][:leading]) if leading <= 2 else f"{leading} dims"
            raise ContractError(
                f"{name} must have shape [{lead}, {', '.join(map(str, expected))}], "
                f"got {list(obs.shape)}"
            )
        if not obs.is_floating_point():
            obs = obs.float()
        if not capturing() and not bool(torch.isfinite(obs).all()):
            raise ContractError(f"{name} contains NaN or infinite values")
        return obs

    def check_actions(self, actions: torch.Tensor, leading: int = 2) -> torch.Tensor:
        """Validate actions [*leading, A] (float) or [*leading] (indices); return model input.

        Indices become one-hot float vectors, so every family consumes [..., embed_dim].
        """
        spec = self.action_spec
        if spec.is_indexed:
            if actions.dim() != leading or actions.is_floating_point():
                raise ContractError(
                    f"{spec.kind.value} actions must be integer indices of shape "
                    f"[{leading} dims], got {actions.dtype} {list(actions.shape)}"
                )
            if not capturing() and bool(((actions < 0) | (actions >= spec.num_actions)).any()):
                raise ContractError(f"action indices must be in [0, {spec.num_actions})")
            return torch.nn.functional.one_hot(actions.long(), spec.num_actions).float()
        if actions.dim() != leading + 1 or actions.shape[-1] != spec.dim:
            raise ContractError(
                f"continuous actions must have shape [{leading} dims, {spec.dim}], "
                f"got {list(actions.shape)}"
            )
        if not actions.is_floating_point():
            raise ContractError(f"continuous actions must be floating point, got {actions.dtype}")
        if not capturing() and not bool(torch.isfinite(actions).all()):
            raise ContractError("actions contain NaN or infinite values")
        return actions

    def expand_state(self, state: LatentState, num_candidates: int) -> LatentState:
        """Repeat each state so that N candidates (grouped per state) each get one."""
        batch = state.batch_size
        if num_candidates % batch:
            raise ContractError(
                f"{num_candidates} candidates cannot be split evenly over {batch} states"
            )
        return (
            state.repeat_interleave(num_candidates // batch) if num_candidates != batch else state
        )

    # -- checkpoints -----------------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> Path:
        # Lazy: checkpoint rebuilds families through the registry, which imports this module.
        from worldflux.core.checkpoint import save_pretrained

        return save_pretrained(self, path)

    @classmethod
    def from_pretrained(
        cls, path: str | Path, map_location: str | torch.device = "cpu"
    ) -> WorldModel:
        from worldflux.core.checkpoint import load_pretrained

        model = load_pretrained(path, map_location=map_location)
        if cls is not WorldModel and not isinstance(model, cls):
            raise ContractError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model
