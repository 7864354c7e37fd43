"""LatentState, Batch, LossOutput and Rollout: the values that flow between models and tools."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from worldflux.core.capture import capturing, scalar
from worldflux.core.errors import ContractError, NonFiniteLossError


@dataclass
class LatentState:
    """A batch of latent states: named tensors sharing the leading batch dim, plus metadata."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.tensors:
            raise ContractError("LatentState needs at least one tensor")
        sizes = {name: t.shape[0] if t.dim() else None for name, t in self.tensors.items()}
        if None in sizes.values() or len(set(sizes.values())) != 1:
            raise ContractError(f"LatentState tensors must share a leading batch dim, got {sizes}")

    @property
    def batch_size(self) -> int:
        return next(iter(self.tensors.values())).shape[0]

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise ContractError(
                f"LatentState has no tensor {name!r} (has {sorted(self.tensors)})"
            ) from None

    def map(self, fn) -> LatentState:  # type: ignore[no-untyped-def]
        return LatentState({k: fn(v) for k, v in self.tensors.items()}, dict(self.meta))

    def to(self, device: torch.device | str) -> LatentState:
        return self.map(lambda t: t.to(device))

    def detach(self) -> LatentState:
        return self.map(lambda t: t.detach())

    def repeat_interleave(self, repeats: int) -> LatentState:
        """Each state repeated `repeats` times in a row: candidates grouped per state."""
        return self.map(lambda t: t.repeat_interleave(repeats, dim=0))

    def select(self, index: torch.Tensor | slice) -> LatentState:
        return self.map(lambda t: t[index])

    def check_finite(self) -> LatentState:
        for name, t in self.tensors.items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise ContractError(f"LatentState tensor {name!r} contains NaN or infinite values")
        return self


@dataclass
class Batch:
    """A batch of sequences, time-aligned per step t:

    obs[:, t] is observed, actions[:, t] is taken after it, rewards[:, t] is received for that
    action, continues[:, t] is 0 when the step after actions[:, t] is terminal, and
    is_first[:, t] is True when obs[:, t] starts an episode. Shapes: obs [B, T, *obs_shape],
    actions [B, T, A] (float) or [B, T] (int64 indices), the rest [B, T].
    """

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    continues: torch.Tensor
    is_first: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.obs.dim() < 3:
            raise ContractError(f"Batch.obs must be [B, T, ...], got shape {list(self.obs.shape)}")
        bt = tuple(self.obs.shape[:2])
        for name in ("actions", "rewards", "continues", "is_first"):
            value = getattr(self, name)
            if tuple(value.shape[:2]) != bt:
                raise ContractError(
                    f"Batch.{name} has leading dims {list(value.shape[:2])}, obs has {list(bt)}"
                )
        for name in ("rewards", "continues", "is_first"):
            if getattr(self, name).dim() != 2:
                raise ContractError(
                    f"Batch.{name} must be [B, T], got {list(getattr(self, name).shape)}"
                )

    @property
    def batch_size(self) -> int:
        return self.obs.shape[0]

    @property
    def seq_len(self) -> int:
        return self.obs.shape[1]

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.obs.to(device),
            self.actions.to(device),
            self.rewards.to(device),
            self.continues.to(device),
            self.is_first.to(device),
            {k: v.to(device) for k, v in self.extras.items()},
        )


@dataclass
class LossOutput:
    """A scalar total to minimise and its named components (each a scalar tensor)."""

    total: torch.Tensor
    components: dict[str, torch.Tensor] = field(default_factory=dict)
    # Family metrics computed alongside the loss (floats, not optimised; 0-d tensors while a
    # CUDA graph records, see worldflux.core.capture.scalar).
    metrics: dict[str, float | torch.Tensor] = field(default_factory=dict)
    # Tensors the loss hands to the training loop, not losses: "posterior.<name>" [B, T, ...]
    # latents for a replay buffer's context, inputs of a later optimizer's loss (see
    # WorldModel.optimizer_loss). Never checked, summed or logged.
    aux: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.total.dim() != 0:
            raise ContractError(
                f"LossOutput.total must be a scalar, got shape {list(self.total.shape)}"
            )
        for name, value in self.components.items():
            if value.dim() != 0:
                raise ContractError(
                    f"loss component {name!r} must be a scalar, got {list(value.shape)}"
                )

    def check_finite(self, step: int | None = None) -> LossOutput:
        """Raise NonFiniteLossError naming the first component that is NaN/Inf.

        Skipped while a CUDA graph records (it would read values on the host): the recorder
        checks the outputs after each replay instead (worldflux.training.graphed)."""
        if capturing():
            return self
        for name, value in {**self.components, "total": self.total}.items():
            v = float(value.detach())
            if not math.isfinite(v):
                raise NonFiniteLossError(name, v, step)
        return self

    def scalars(self) -> dict[str, float | torch.Tensor]:
        """Total and components as floats (tensors while a CUDA graph records)."""
        out = {"total": scalar(self.total)}
        out.update({k: scalar(v) for k, v in self.components.items()})
        return out


@dataclass
class Rollout:
    """Imagined futures of N candidates over H steps.

    latents[name] is [N, H, ...] (the state after each action); rewards and continues are
    [N, H]; values is [N], the value of the final latent (terminal value), where the family has one.
    """

    latents: dict[str, torch.Tensor]
    rewards: torch.Tensor | None = None
    continues: torch.Tensor | None = None
    values: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if not self.latents:
            raise ContractError("Rollout needs at least one latent tensor")
        shapes = {k: tuple(v.shape[:2]) for k, v in self.latents.items()}
        if len(set(shapes.values())) != 1 or any(len(s) != 2 for s in shapes.values()):
            raise ContractError(f"Rollout latents must share leading dims [N, H], got {shapes}")
        n, h = next(iter(shapes.values()))
        for name in ("rewards", "continues"):
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != (n, h):
                raise ContractError(f"Rollout.{name} must be [{n}, {h}], got {list(value.shape)}")
        if self.values is not None and tuple(self.values.shape) != (n,):
            raise ContractError(f"Rollout.values must be [{n}], got {list(self.values.shape)}")

    @property
    def num_candidates(self) -> int:
        return next(iter(self.latents.values())).shape[0]

    @property
    def horizon(self) -> int:
        return next(iter(self.latents.values())).shape[1]

    def final_latent(self, name: str) -> torch.Tensor:
        return self.latents[name][:, -1]
