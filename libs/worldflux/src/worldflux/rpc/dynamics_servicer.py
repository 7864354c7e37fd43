"""DynamicsService over any WorldModel, with the validation that makes it safe to expose.

Everything that arrives is checked against the model's contract before the model sees it: a
wrong shape, dtype, action kind, NaN/Inf or empty tensor is INVALID_ARGUMENT with a message
naming the field and what was expected; a request beyond the configured limits is
RESOURCE_EXHAUSTED. The expected latent-state layout (names, per-sample shapes, dtypes) and the
rollout's latent widths are learnt once at start-up by encoding one zero observation and rolling
it out one step, so states are validated exactly as the served family produces them, and each
Rollout/Propose is sized from the model before it runs (see admission.py): too large an answer
or working set is refused up front, large work runs in chunks of candidates, and the caller's
deadline or cancellation stops it between chunks.
"""

from __future__ import annotations

import math
import time
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass

import grpc
import torch

from worldflux.core.errors import ContractError
from worldflux.core.model import WorldModel
from worldflux.core.payload import ActionPayload
from worldflux.core.spec import ActionKind
from worldflux.core.state import LatentState, Rollout
from worldflux.planners.dynamics import content_seed, seeded
from worldflux.rpc.admission import (
    MB,
    ModelGate,
    WorkEstimate,
    admit,
    propose_estimate,
    rollout_estimate,
)
from worldflux.rpc.channel import DEFAULT_MAX_MESSAGE_MB
from worldflux.rpc.codec import DEFAULT_MAX_ELEMENTS, decode_tensor
from worldflux.rpc.convert import (
    action_payload_from_proto,
    action_payload_to_proto,
    condition_from_proto,
    latent_state_from_proto,
    latent_state_to_proto,
    model_spec_to_proto,
    rollout_to_proto,
)
from worldflux.rpc.errors import RequestTooLargeError
from worldflux.rpc.server import Service, guarded
from worldflux.v1 import dynamics_pb2, tensor_pb2

# The start-up rollout timed for the time estimate: small, so that it costs milliseconds.
PROBE_CANDIDATES, PROBE_HORIZON = 32, 4
OBS_DTYPES = {"float32": torch.float32, "uint8": torch.uint8, "int64": torch.int64}
SERVICE_DESCRIPTOR = dynamics_pb2.DESCRIPTOR.services_by_name["DynamicsService"]


@dataclass(frozen=True)
class DynamicsLimits:
    """Largest requests served; beyond them the answer is RESOURCE_EXHAUSTED."""

    max_batch: int = 4096
    max_candidates: int = 65536
    max_horizon: int = 512
    # Candidate-steps per Rollout (N * H): bounds the memory one request can make us allocate.
    max_candidate_steps: int = 1 << 21
    max_tensor_elements: int = DEFAULT_MAX_ELEMENTS
    # The largest answer (the server's message limit) and working set one request may have,
    # estimated from the model before any work; and the working set of one chunk.
    max_reply_mb: float = DEFAULT_MAX_MESSAGE_MB
    max_request_mb: float = 1024.0
    chunk_mb: float = 64.0
    # Calls that may wait for the model while another runs; the next is refused at once.
    max_queued: int = 4
    # Model time one Rollout may take, estimated from a rollout timed at start-up.
    max_request_s: float = 120.0

    def __post_init__(self) -> None:
        for name in ("max_reply_mb", "max_request_mb", "chunk_mb", "max_request_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"DynamicsLimits.{name} must be positive")


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _shape(values: list[int] | tuple[int, ...] | torch.Size, lead: str = "") -> str:
    parts = ([lead] if lead else []) + [str(v) for v in values]
    return "[" + ", ".join(parts) + "]"


class DynamicsServicer:
    """Implements worldflux.v1.DynamicsService for one model (eval mode, no autograd)."""

    def __init__(
        self, model: WorldModel, limits: DynamicsLimits | None = None, serialize: bool = True
    ) -> None:
        self.model = model.eval()
        self.spec = model.spec
        self.limits = limits or DynamicsLimits()
        self.fingerprint = model.fingerprint()
        self.device = model.device
        self.obs_dtype = OBS_DTYPES[self.spec.observation.dtype]
        # Families are free to keep caches in forward passes; one model call at a time is the
        # safe default (torch still uses every core inside each call).
        self.gate = ModelGate(serialize, self.limits.max_queued)
        with torch.inference_mode():
            probe = self.model.encode(
                torch.zeros((1, *self.spec.observation.shape), dtype=self.obs_dtype).to(self.device)
            )
        self.state_layout = {
            name: (tuple(t.shape[1:]), t.dtype) for name, t in sorted(probe.tensors.items())
        }
        self.action_width = max(1, self.spec.action.dim or 1)
        self.latent_widths = self._probe_rollout_widths(probe)
        self.step_seconds = self._probe_step_seconds(probe)

    def _seeded(self, *inputs: torch.Tensor | LatentState | int) -> ContextManager[None]:
        """torch's RNG seeded from the request's inputs, as InProcessDynamics seeds it: the
        same question gets the same answer, here and in process."""
        return seeded(content_seed(*inputs), self.device)

    def _probe_action(self, n: int, h: int) -> torch.Tensor | None:
        spec = self.spec.action
        if spec.is_indexed:
            return torch.zeros((n, h), dtype=torch.long, device=self.device)
        if spec.kind in (ActionKind.CONTINUOUS, ActionKind.LATENT):
            return torch.zeros((n, h, spec.dim), device=self.device)
        return None

    def _probe_step_seconds(self, state: LatentState) -> float:
        """Seconds per candidate-step of a small rollout (the fastest of 3): the time estimate
        of larger ones, pessimistic because batching makes big rollouts cheaper per step. 0 when
        the family cannot roll out a zero action (no time estimate then)."""
        n, h = PROBE_CANDIDATES, PROBE_HORIZON
        action = self._probe_action(n, h)
        if action is None:
            return 0.0
        expanded = state.repeat_interleave(n)
        best = float("inf")
        try:
            for _ in range(3):
                start = time.perf_counter()
                with torch.inference_mode():
                    self.model.rollout(expanded, action)
                best = min(best, time.perf_counter() - start)
        except Exception:  # (as in _probe_rollout_widths)
            return 0.0
        return best / (n * h)

    def _probe_rollout_widths(self, state: LatentState) -> dict[str, int]:
        """Elements per candidate and step of each rollout latent, from a one-step rollout (the
        state's own widths when the family cannot roll out a zero action)."""
        widths = {name: math.prod(shape) for name, (shape, _) in self.state_layout.items()}
        action = self._probe_action(1, 1)
        if action is None:
            return widths
        try:
            with torch.inference_mode():
                rollout = self.model.rollout(state, action)
        except Exception:  # a family that needs a condition to roll out: keep the estimate
            return widths
        return {name: math.prod(t.shape[2:]) for name, t in sorted(rollout.latents.items())}

    def service(self) -> Service:
        return Service(SERVICE_DESCRIPTOR, self)

    # -- validation ------------------------------------------------------------------------
    def _too_large(self, what: str, value: int, limit: int) -> None:
        if value > limit:
            raise RequestTooLargeError(f"{what} is {value}, more than this server's limit {limit}")

    def _state(self, message: object, field: str, present: bool) -> LatentState:
        if not present:
            raise ContractError(f"{field} is missing")
        state = latent_state_from_proto(
            message,  # type: ignore[arg-type]
            field,
            max_elements=self.limits.max_tensor_elements,
            require_finite=True,
        )
        missing = sorted(set(self.state_layout) - set(state.tensors))
        unknown = sorted(set(state.tensors) - set(self.state_layout))
        if missing or unknown:
            raise ContractError(
                f"{field} must hold the tensors {sorted(self.state_layout)} "
                f"(missing {missing}, unexpected {unknown}); send the state Encode returned"
            )
        for name, (shape, dtype) in self.state_layout.items():
            tensor = state.tensors[name]
            if tuple(tensor.shape[1:]) != shape or tensor.dtype != dtype:
                raise ContractError(
                    f"{field}.tensors[{name!r}] is {_dtype_name(tensor.dtype)} "
                    f"{_shape(tensor.shape)}, expected {_dtype_name(dtype)} {_shape(shape, 'B')}"
                )
        batch = state.batch_size
        if batch == 0:
            raise ContractError(f"{field} is empty (batch size 0)")
        self._too_large(f"{field} batch size", batch, self.limits.max_batch)
        return state.to(self.device)

    def _observation(
        self, message: tensor_pb2.Tensor, field: str, present: bool, batch: int | None = None
    ) -> torch.Tensor:
        if not present:
            raise ContractError(f"{field} is missing")
        obs = decode_tensor(
            message, field=field, max_elements=self.limits.max_tensor_elements, require_finite=True
        )
        expected = self.spec.observation.shape
        lead = "B" if batch is None else str(batch)
        if obs.dtype != self.obs_dtype:
            raise ContractError(
                f"{field} is {_dtype_name(obs.dtype)}, but the model takes "
                f"{_dtype_name(self.obs_dtype)} observations"
            )
        if obs.dim() != 1 + len(expected) or tuple(obs.shape[1:]) != expected:
            raise ContractError(
                f"{field} has shape {_shape(obs.shape)}, expected {_shape(expected, lead)}"
            )
        if obs.shape[0] == 0:
            raise ContractError(f"{field} is empty (batch size 0)")
        if batch is not None and obs.shape[0] != batch:
            raise ContractError(f"{field} has batch {obs.shape[0]}, the state has batch {batch}")
        self._too_large(f"{field} batch size", obs.shape[0], self.limits.max_batch)
        return obs.to(self.device)

    def _actions(
        self, message: object, field: str, present: bool, leading: tuple[str, ...]
    ) -> torch.Tensor:
        """Decode actions with `leading` dims (["N", "H"] or ["B"]) and check them."""
        if not present:
            raise ContractError(f"{field} is missing")
        payload = action_payload_from_proto(
            message,  # type: ignore[arg-type]
            field,
            max_elements=self.limits.max_tensor_elements,
        )
        spec = self.spec.action
        if payload.action_kind != spec.kind:
            raise ContractError(
                f"{field} has kind {payload.action_kind.value}, but the model takes "
                f"{spec.kind.value} actions"
            )
        tensor = payload.primary
        if not isinstance(tensor, torch.Tensor):
            raise ContractError(f"the model takes {spec.kind.value} actions: nothing to roll out")
        dims = ", ".join(leading)
        if spec.is_indexed:
            if tensor.dim() != len(leading):
                raise ContractError(
                    f"{field}.tokens has shape {_shape(tensor.shape)}, expected [{dims}] indices"
                )
            if tensor.numel() and bool(((tensor < 0) | (tensor >= spec.num_actions)).any()):
                raise ContractError(
                    f"{field}.tokens holds indices outside [0, {spec.num_actions}): "
                    f"min {int(tensor.min())}, max {int(tensor.max())}"
                )
            tensor = tensor.long()
        else:
            name = payload.primary_name
            if tensor.dtype != torch.float32:
                raise ContractError(
                    f"{field}.{name} is {_dtype_name(tensor.dtype)}; send float32 actions"
                )
            if tensor.dim() != len(leading) + 1 or tensor.shape[-1] != spec.dim:
                raise ContractError(
                    f"{field}.{name} has shape {_shape(tensor.shape)}, "
                    f"expected [{dims}, {spec.dim}]"
                )
        if tensor.numel() == 0:
            raise ContractError(f"{field} is empty (shape {_shape(tensor.shape)})")
        return tensor.to(self.device)

    def _admit(self, what: str, estimate: WorkEstimate, candidates: int, chunked: bool) -> int:
        """Refuse what does not fit before any work; the candidates per chunk otherwise (all of
        them when the work cannot be chunked)."""
        chunk_bytes = int(self.limits.chunk_mb * MB)
        admit(
            what,
            estimate,
            candidates,
            max_reply_bytes=int(self.limits.max_reply_mb * MB),
            max_work_bytes=int(self.limits.max_request_mb * MB),
            chunk_bytes=chunk_bytes if chunked else None,
        )
        return estimate.chunk_candidates(chunk_bytes) if chunked else candidates

    def _returned_latents(self, request: dynamics_pb2.RolloutRequest) -> list[str]:
        names = list(request.latents) or list(self.latent_widths)
        unknown = sorted(set(names) - set(self.latent_widths))
        if unknown:
            raise ContractError(
                f"RolloutRequest.latents names {unknown}, but rollouts have "
                f"{sorted(self.latent_widths)}"
            )
        return names

    def _chunked_rollout(
        self,
        context: grpc.ServicerContext,
        state: LatentState,
        actions: torch.Tensor,
        per_chunk: int,
        names: list[str],
        keep: list[str],
    ) -> Rollout:
        """The rollout of N candidates, `per_chunk` at a time (each chunk holds the model once;
        the deadline and the caller are checked before each). Of the latents in `names` only
        those in `keep` keep their values between chunks (the others become width-0
        placeholders), so memory is one chunk's work plus the answer."""
        n = actions.shape[0]
        expanded = (
            state.repeat_interleave(n // state.batch_size) if n != state.batch_size else state
        )
        parts: list[Rollout] = []
        for start in range(0, n, per_chunk):
            end = min(n, start + per_chunk)
            # Each chunk seeded from the whole request and its place in it: deterministic, though
            # a chunked rollout of a sampling family draws other noise than an unchunked one.
            with (
                self.gate.hold(context),
                torch.inference_mode(),
                self._seeded(state, actions, start),
            ):
                part = self.model.rollout(expanded.select(slice(start, end)), actions[start:end])
            # Copies: a view would keep the chunk's whole output buffer alive.
            rest = tuple(
                None if t is None else t.clone()
                for t in (part.rewards, part.continues, part.values)
            )
            kept = {
                k: v if k in keep else v.new_empty((*v.shape[:2], 0))
                for k, v in part.latents.items()
                if k in names
            }
            del part  # the chunk's full latents go now, not at the next chunk
            parts.append(Rollout(kept, *rest))

        def cat(name: str) -> torch.Tensor | None:
            values = [getattr(p, name) for p in parts]
            return None if values[0] is None else torch.cat(values)

        latents = {k: torch.cat([p.latents[k] for p in parts]) for k in parts[0].latents}
        return Rollout(latents, cat("rewards"), cat("continues"), cat("values"))

    # -- RPCs -----------------------------------------------------------------------------
    @guarded
    def GetSpec(  # noqa: N802  (gRPC method names)
        self, request: dynamics_pb2.GetSpecRequest, context: grpc.ServicerContext
    ) -> dynamics_pb2.GetSpecResponse:
        return dynamics_pb2.GetSpecResponse(spec=model_spec_to_proto(self.spec, self.fingerprint))

    @guarded
    def Encode(  # noqa: N802
        self, request: dynamics_pb2.EncodeRequest, context: grpc.ServicerContext
    ) -> dynamics_pb2.EncodeResponse:
        obs = self._observation(
            request.observation, "EncodeRequest.observation", request.HasField("observation")
        )
        condition = condition_from_proto(request.condition, "EncodeRequest.condition")
        with self.gate.hold(context), torch.inference_mode(), self._seeded(obs):
            state = self.model.encode(obs, condition)
        return dynamics_pb2.EncodeResponse(state=latent_state_to_proto(state))

    @guarded
    def Rollout(  # noqa: N802
        self, request: dynamics_pb2.RolloutRequest, context: grpc.ServicerContext
    ) -> dynamics_pb2.RolloutResponse:
        state = self._state(request.state, "RolloutRequest.state", request.HasField("state"))
        actions = self._actions(
            request.actions, "RolloutRequest.actions", request.HasField("actions"), ("N", "H")
        )
        n, h = actions.shape[0], actions.shape[1]
        self._too_large("RolloutRequest.actions candidates N", n, self.limits.max_candidates)
        self._too_large("RolloutRequest.actions horizon H", h, self.limits.max_horizon)
        self._too_large("RolloutRequest.actions N * H", n * h, self.limits.max_candidate_steps)
        if n % state.batch_size:
            raise ContractError(
                f"RolloutRequest: N={n} candidates cannot be split evenly over the "
                f"B={state.batch_size} states (N must be a multiple of B)"
            )
        condition = condition_from_proto(request.condition, "RolloutRequest.condition")
        # The latents the answer carries values of (none when omitted): only these are kept
        # between chunks.
        seconds = n * h * self.step_seconds
        if seconds > self.limits.max_request_s:
            raise RequestTooLargeError(
                f"RolloutRequest would take about {seconds:.1f} s of model time ({n} x {h} "
                f"candidate-steps at {self.step_seconds * 1e6:.1f} us each, measured at "
                f"start-up), more than this server's limit {self.limits.max_request_s:g} s"
            )
        names = self._returned_latents(request)
        keep = [] if request.omit_latents else names
        estimate = rollout_estimate(n, h, self.latent_widths, keep, self.action_width)
        # A condition may hold one entry per state: such rollouts run whole (and are sized as
        # one chunk), so chunking never changes what the model sees.
        per_chunk = self._admit("RolloutRequest", estimate, n, chunked=condition is None)
        if per_chunk >= n:
            with self.gate.hold(context), torch.inference_mode(), self._seeded(state, actions):
                rollout = self.model.rollout(state, actions, condition)
        else:
            rollout = self._chunked_rollout(context, state, actions, per_chunk, names, keep)
        return rollout_to_proto(rollout, list(request.latents), request.omit_latents)

    @guarded
    def Observe(  # noqa: N802
        self, request: dynamics_pb2.ObserveRequest, context: grpc.ServicerContext
    ) -> dynamics_pb2.ObserveResponse:
        state = self._state(request.state, "ObserveRequest.state", request.HasField("state"))
        action = self._actions(
            request.action, "ObserveRequest.action", request.HasField("action"), ("B",)
        )
        if action.shape[0] != state.batch_size:
            raise ContractError(
                f"ObserveRequest.action has batch {action.shape[0]}, "
                f"the state has batch {state.batch_size}"
            )
        obs = self._observation(
            request.observation,
            "ObserveRequest.observation",
            request.HasField("observation"),
            state.batch_size,
        )
        with self.gate.hold(context), torch.inference_mode(), self._seeded(state, action, obs):
            posterior = self.model.observe(state, action, obs)
        return dynamics_pb2.ObserveResponse(state=latent_state_to_proto(posterior))

    @guarded
    def Propose(  # noqa: N802
        self, request: dynamics_pb2.ProposeRequest, context: grpc.ServicerContext
    ) -> dynamics_pb2.ProposeResponse:
        state = self._state(request.state, "ProposeRequest.state", request.HasField("state"))
        for name, value in (("horizon", request.horizon), ("num_samples", request.num_samples)):
            if value < 1:
                raise ContractError(f"ProposeRequest.{name} must be >= 1, got {value}")
        self._too_large("ProposeRequest.horizon", request.horizon, self.limits.max_horizon)
        total = state.batch_size * request.num_samples
        self._too_large("ProposeRequest B * num_samples", total, self.limits.max_candidates)
        estimate = propose_estimate(
            total, request.horizon, sum(self.latent_widths.values()), self.action_width
        )
        self._admit("ProposeRequest", estimate, total, chunked=False)
        with (
            self.gate.hold(context),
            torch.inference_mode(),
            self._seeded(state, request.horizon, request.num_samples),
        ):
            proposal = self.model.propose(state, request.horizon, request.num_samples)
        if proposal is None:
            return dynamics_pb2.ProposeResponse()
        payload = ActionPayload.of(self.spec.action.kind, proposal)
        return dynamics_pb2.ProposeResponse(actions=action_payload_to_proto(payload))
