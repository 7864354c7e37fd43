"""Observation, action and model specs: what a world model consumes and produces."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import torch

from worldflux.core.errors import ContractError


class ActionKind(str, Enum):
    CONTINUOUS = "continuous"
    DISCRETE = "discrete"
    TOKEN = "token"
    LATENT = "latent"
    TEXT = "text"
    NONE = "none"

    @classmethod
    def parse(cls, value: ActionKind | str) -> ActionKind:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(k.value for k in cls)
            raise ContractError(
                f"unknown action kind {value!r} (expected one of {allowed})"
            ) from None


OBS_DTYPES = ("float32", "uint8", "int64")
MODALITIES = ("vector", "image", "video", "tokens")


@dataclass(frozen=True)
class ObservationSpec:
    """Per-sample observation shape (no batch/time dims), dtype and modality."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    modality: str = "vector"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if not self.shape or any(d <= 0 for d in self.shape):
            raise ContractError(
                f"observation shape must be non-empty and positive, got {self.shape}"
            )
        if self.dtype not in OBS_DTYPES:
            raise ContractError(f"observation dtype {self.dtype!r} is not one of {OBS_DTYPES}")
        if self.modality not in MODALITIES:
            raise ContractError(
                f"observation modality {self.modality!r} is not one of {MODALITIES}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype, "modality": self.modality}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObservationSpec:
        return cls(
            tuple(data["shape"]), data.get("dtype", "float32"), data.get("modality", "vector")
        )


@dataclass(frozen=True)
class ActionSpec:
    """The action space.

    continuous/latent: `dim` floats per step, optionally bounded by `low`/`high`;
    discrete/token: one index per step in [0, num_actions); text/none: no tensor.
    """

    kind: ActionKind
    dim: int = 0
    num_actions: int = 0
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        kind = ActionKind.parse(self.kind)
        object.__setattr__(self, "kind", kind)
        if kind in (ActionKind.CONTINUOUS, ActionKind.LATENT):
            if self.dim <= 0:
                raise ContractError(f"{kind.value} actions need dim > 0, got {self.dim}")
            for name in ("low", "high"):
                bound = getattr(self, name)
                if bound is not None:
                    bound = tuple(float(b) for b in bound)
                    if len(bound) == 1:
                        bound = bound * self.dim
                    if len(bound) != self.dim:
                        raise ContractError(
                            f"action {name} has {len(bound)} entries, dim is {self.dim}"
                        )
                    object.__setattr__(self, name, bound)
            if (
                self.low is not None
                and self.high is not None
                and any(not lo < hi for lo, hi in zip(self.low, self.high, strict=True))
            ):
                raise ContractError(f"action bounds need low < high, got {self.low} / {self.high}")
        elif kind in (ActionKind.DISCRETE, ActionKind.TOKEN):
            if self.num_actions < 1:
                raise ContractError(
                    f"{kind.value} actions need num_actions >= 1, got {self.num_actions}"
                )

    @classmethod
    def continuous(cls, dim: int, low: float = -1.0, high: float = 1.0) -> ActionSpec:
        return cls(ActionKind.CONTINUOUS, dim=dim, low=(low,), high=(high,))

    @classmethod
    def discrete(cls, num_actions: int) -> ActionSpec:
        return cls(ActionKind.DISCRETE, num_actions=num_actions)

    @property
    def is_indexed(self) -> bool:
        """True when actions are integer indices (discrete, token)."""
        return self.kind in (ActionKind.DISCRETE, ActionKind.TOKEN)

    @property
    def step_shape(self) -> tuple[int, ...]:
        """Shape of one action at one step: (dim,) for vectors, () for indices."""
        if self.kind in (ActionKind.CONTINUOUS, ActionKind.LATENT):
            return (self.dim,)
        return ()

    @property
    def embed_dim(self) -> int:
        """Width of the action as a model input: dim, or the one-hot width of an index."""
        return self.num_actions if self.is_indexed else self.dim

    def to_unit(self, actions: torch.Tensor) -> torch.Tensor:
        """Bounded continuous actions [..., dim] -> [-1, 1] per dimension, the space that
        policies and samplers of the reference families work in; unbounded ones unchanged."""
        if self.low is None or self.high is None:
            return actions
        mid, half = self._mid_half(actions)
        return (actions - mid) / half

    def from_unit(self, actions: torch.Tensor) -> torch.Tensor:
        """Inverse of to_unit: [-1, 1] -> the spec's bounds (no clamping)."""
        if self.low is None or self.high is None:
            return actions
        mid, half = self._mid_half(actions)
        return actions * half + mid

    def _mid_half(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.low is not None and self.high is not None
        return _mid_half(self.low, self.high, like.dtype, like.device)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "dim": self.dim,
            "num_actions": self.num_actions,
            "low": list(self.low) if self.low is not None else None,
            "high": list(self.high) if self.high is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActionSpec:
        low, high = data.get("low"), data.get("high")
        return cls(
            ActionKind.parse(data["kind"]),
            dim=int(data.get("dim", 0)),
            num_actions=int(data.get("num_actions", 0)),
            low=tuple(low) if low is not None else None,
            high=tuple(high) if high is not None else None,
        )


@dataclass(frozen=True)
class ModelSpec:
    """What a world model is and what its rollouts provide; planners need nothing else."""

    model_id: str
    family: str
    observation: ObservationSpec
    action: ActionSpec
    # Latent tensor name -> per-sample shape.
    latent: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    has_reward: bool = True
    has_value: bool = False
    has_continue: bool = False
    has_policy_prior: bool = False
    discount: float = 0.99
    # Latent used for goal distances by reward-free objectives.
    goal_latent: str = ""

    def __post_init__(self) -> None:
        if not 0.0 < self.discount <= 1.0 or math.isnan(self.discount):
            raise ContractError(f"discount must be in (0, 1], got {self.discount}")
        if self.goal_latent and self.goal_latent not in self.latent:
            raise ContractError(
                f"goal_latent {self.goal_latent!r} is not one of the latents {sorted(self.latent)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "family": self.family,
            "observation": self.observation.to_dict(),
            "action": self.action.to_dict(),
            "latent": {k: list(v) for k, v in sorted(self.latent.items())},
            "has_reward": self.has_reward,
            "has_value": self.has_value,
            "has_continue": self.has_continue,
            "has_policy_prior": self.has_policy_prior,
            "discount": self.discount,
            "goal_latent": self.goal_latent,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        return cls(
            model_id=data["model_id"],
            family=data["family"],
            observation=ObservationSpec.from_dict(data["observation"]),
            action=ActionSpec.from_dict(data["action"]),
            latent={k: tuple(v) for k, v in data.get("latent", {}).items()},
            has_reward=bool(data.get("has_reward", True)),
            has_value=bool(data.get("has_value", False)),
            has_continue=bool(data.get("has_continue", False)),
            has_policy_prior=bool(data.get("has_policy_prior", False)),
            discount=float(data.get("discount", 0.99)),
            goal_latent=data.get("goal_latent", ""),
        )


@functools.lru_cache(maxsize=64)
def _mid_half(
    low: tuple[float, ...], high: tuple[float, ...], dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre and half-width of bounds, made once per dtype and device: a CUDA graph may not
    copy host data to the GPU while it records (worldflux.core.capture)."""
    lo = torch.tensor(low, dtype=dtype, device=device)
    hi = torch.tensor(high, dtype=dtype, device=device)
    return (hi + lo) / 2, (hi - lo) / 2
