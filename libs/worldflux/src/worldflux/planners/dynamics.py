"""The Dynamics protocol: all a planner needs from a world model, local or remote.

Like httpx's transports, one interface with swappable implementations underneath:
`InProcessDynamics` wraps any WorldModel in this process; `worldflux.rpc.RemoteDynamics` talks to
a dynamics service over gRPC. Planners import this module and core only, never a model family.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

import torch

from worldflux.core import ConditionPayload, LatentState, ModelSpec, Rollout, WorldModel


@runtime_checkable
class Dynamics(Protocol):
    """What planners, services and the gate call: in-process and remote implement the same
    methods, so code written against one runs against the other unchanged."""

    @property
    def spec(self) -> ModelSpec: ...

    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        """Observations [B, *obs_shape] -> states with batch B."""
        ...

    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
        *,
        latents: Sequence[str] | None = None,
    ) -> Rollout:
        """All N candidates [N, H, ...] at once; N is a multiple of B, grouped per state.

        `latents` names the rollout latents the caller will read (None: all; empty: none, only
        rewards/continues/values). A transport may then leave the others out: over gRPC they
        are most of the bytes. It is an argument, not client state, so one Dynamics can serve
        callers with different objectives at once."""
        ...

    def propose(self, state: LatentState, horizon: int, num_samples: int) -> torch.Tensor | None:
        """Policy-prior action sequences [B * num_samples, H, ...], or None without a prior."""
        ...

    def close(self) -> None:
        """Release what the transport holds (channels, the model); further calls may fail."""
        ...


def content_seed(*parts: torch.Tensor | LatentState | int | None) -> int:
    """A seed from what a call asks for (observations, states, actions, sizes).

    Families that sample in encode/rollout/propose (DreamerV3's latents, TD-MPC2's Q-head pair
    and policy noise) draw from torch's RNG; seeding each call from its own inputs makes the
    answer a function of the question: the same observation gets the same plan, and a model
    behind a dynamics service answers exactly as the same model in process (both sides hash
    the same values: floats as float32, integers as int64)."""
    digest = hashlib.sha256()
    for part in parts:
        tensors = (
            sorted(part.tensors.items())
            if isinstance(part, LatentState)
            else [("", part)] if isinstance(part, torch.Tensor) else []
        )
        if not tensors:
            digest.update(repr(part).encode())
        for name, tensor in tensors:
            value = tensor.detach().to("cpu")
            value = value.float() if value.is_floating_point() else value.long()
            digest.update(f"{name}{list(value.shape)}{value.dtype}".encode())
            digest.update(value.contiguous().numpy().tobytes())
    return int.from_bytes(digest.digest()[:8], "little") & (2**63 - 1)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run a model call with torch's RNG seeded, restoring the caller's RNG afterwards."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class InProcessDynamics:
    """A WorldModel as Dynamics: eval mode, no autograd, inputs moved to the model's device,
    each call seeded from its inputs (content_seed).

    `compute_dtype=torch.bfloat16` runs the model's calls under autocast: matrix products in
    bfloat16 (about twice the float32 speed on CPUs with AVX-512 BF16 or AMX, and on GPUs),
    normalisations in float32. What comes back is float32 either way, so planners never see
    the difference except in the plans; how often those agree with float32's is measured by
    `benchmarks/tdmpc2_bench.py --modes plan --dtypes float32,bfloat16`.

    `seed_calls=False` leaves torch's RNG as it is instead of seeding each call from its
    inputs: the hashing reads the inputs on the host, which a CUDA graph cannot record
    (worldflux.planners.graphed); answers are then random draws, not functions of the inputs."""

    def __init__(
        self,
        model: WorldModel,
        compute_dtype: torch.dtype | None = None,
        seed_calls: bool = True,
    ) -> None:
        if compute_dtype not in (None, torch.float32, torch.bfloat16, torch.float16):
            raise ValueError(
                f"compute_dtype must be float32, bfloat16 or float16, got {compute_dtype}"
            )
        self.model = model.eval()
        self._spec = model.spec
        self.compute_dtype = None if compute_dtype == torch.float32 else compute_dtype
        self.seed_calls = seed_calls

    def _seeded(
        self, *parts: torch.Tensor | LatentState | int
    ) -> contextlib.AbstractContextManager[None]:
        if not self.seed_calls:
            return contextlib.nullcontext()
        return seeded(content_seed(*parts), self.device)

    def _compute(self) -> contextlib.AbstractContextManager[object]:
        if self.compute_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.compute_dtype)

    def close(self) -> None:
        """Nothing to release: the model stays the caller's."""

    def __enter__(self) -> InProcessDynamics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def device(self) -> torch.device:
        return self.model.device

    @torch.no_grad()
    def encode(self, obs: torch.Tensor, condition: ConditionPayload | None = None) -> LatentState:
        with self._seeded(obs), self._compute():
            state = self.model.encode(obs.to(self.device), condition)
        return state if self.compute_dtype is None else _float32_state(state)

    @torch.no_grad()
    def rollout(
        self,
        state: LatentState,
        actions: torch.Tensor,
        condition: ConditionPayload | None = None,
        *,
        latents: Sequence[str] | None = None,
    ) -> Rollout:
        del latents  # in process every latent is already there: nothing to save by leaving out
        with self._seeded(state, actions), self._compute():
            out = self.model.rollout(state.to(self.device), actions.to(self.device), condition)
        if self.compute_dtype is None:
            return out
        return Rollout(
            {k: _float32(v) for k, v in out.latents.items()},
            *(None if v is None else _float32(v) for v in (out.rewards, out.continues, out.values)),
        )

    @torch.no_grad()
    def propose(self, state: LatentState, horizon: int, num_samples: int) -> torch.Tensor | None:
        with self._seeded(state, horizon, num_samples), self._compute():
            proposed = self.model.propose(state.to(self.device), horizon, num_samples)
        return proposed if proposed is None or self.compute_dtype is None else _float32(proposed)


def _float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.float() if tensor.is_floating_point() else tensor


def _float32_state(state: LatentState) -> LatentState:
    return LatentState({k: _float32(v) for k, v in state.tensors.items()})
