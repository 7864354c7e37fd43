"""Core types <-> worldflux.v1 protobuf messages, losslessly and in both directions.

Decoding is the trust boundary of the services: every `*_from_proto` validates what arrives and
raises `ContractError` or `TensorCodecError` with a message that names the offending field, so a
server can answer INVALID_ARGUMENT with it unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

import torch

from worldflux.core.errors import ContractError
from worldflux.core.payload import ActionPayload, ConditionPayload, ExtraValue
from worldflux.core.spec import ActionKind, ActionSpec, ModelSpec, ObservationSpec
from worldflux.core.state import LatentState, Rollout
from worldflux.rpc.codec import DEFAULT_MAX_ELEMENTS, decode_tensor, dtype_name, encode_tensor
from worldflux.v1 import dynamics_pb2, payload_pb2, tensor_pb2

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

_KIND_TO_WIRE: dict[ActionKind, payload_pb2.ActionKind.ValueType] = {
    ActionKind.CONTINUOUS: payload_pb2.ACTION_KIND_CONTINUOUS,
    ActionKind.DISCRETE: payload_pb2.ACTION_KIND_DISCRETE,
    ActionKind.TOKEN: payload_pb2.ACTION_KIND_TOKEN,
    ActionKind.LATENT: payload_pb2.ACTION_KIND_LATENT,
    ActionKind.TEXT: payload_pb2.ACTION_KIND_TEXT,
    ActionKind.NONE: payload_pb2.ACTION_KIND_NONE,
}
_KIND_FROM_WIRE = {wire: kind for kind, wire in _KIND_TO_WIRE.items()}

_OBS_DTYPE_TO_WIRE = {
    "float32": tensor_pb2.DATA_TYPE_FLOAT32,
    "uint8": tensor_pb2.DATA_TYPE_UINT8,
    "int64": tensor_pb2.DATA_TYPE_INT64,
}
_OBS_DTYPE_FROM_WIRE = {wire: name for name, wire in _OBS_DTYPE_TO_WIRE.items()}


# -- action kinds ------------------------------------------------------------------------------
def action_kind_to_proto(kind: ActionKind | str) -> payload_pb2.ActionKind.ValueType:
    return _KIND_TO_WIRE[ActionKind.parse(kind)]


def action_kind_from_proto(value: int, field: str = "kind") -> ActionKind:
    kind = _KIND_FROM_WIRE.get(value)  # type: ignore[call-overload]
    if kind is None:
        try:
            name = payload_pb2.ActionKind.Name(value)  # type: ignore[arg-type]
        except ValueError:
            name = f"unknown ActionKind {value}"
        allowed = ", ".join(payload_pb2.ActionKind.Name(w) for w in _KIND_FROM_WIRE)
        raise ContractError(f"{field}: {name} is not an action kind (expected one of {allowed})")
    return kind


# -- extras ------------------------------------------------------------------------------------
def extra_to_proto(value: ExtraValue, key: str = "extra") -> payload_pb2.ExtraValue:
    # bool before int: True is an int in Python, but a flag on the wire.
    if isinstance(value, bool):
        return payload_pb2.ExtraValue(flag=value)
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ContractError(f"extras[{key!r}] = {value} does not fit in int64")
        return payload_pb2.ExtraValue(integer=value)
    if isinstance(value, float):
        return payload_pb2.ExtraValue(number=value)
    if isinstance(value, str):
        return payload_pb2.ExtraValue(text=value)
    if isinstance(value, torch.Tensor):
        return payload_pb2.ExtraValue(tensor=encode_tensor(value))
    raise ContractError(f"extras[{key!r}] is a {type(value).__name__}: no wire encoding")


def extra_from_proto(
    message: payload_pb2.ExtraValue,
    field: str,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    require_finite: bool = False,
) -> ExtraValue:
    which = message.WhichOneof("value")
    if which is None:
        raise ContractError(f"{field} has no value set")
    if which == "tensor":
        return decode_tensor(
            message.tensor, field=field, max_elements=max_elements, require_finite=require_finite
        )
    value: ExtraValue = getattr(message, which)
    if require_finite and isinstance(value, float) and not math.isfinite(value):
        raise ContractError(f"{field} is {value}; extras must be finite")
    return value


def _extras_to_proto(extras: Mapping[str, ExtraValue], target: Any) -> None:
    for key, value in extras.items():
        target[key].CopyFrom(extra_to_proto(value, key))


def _extras_from_proto(
    extras: Mapping[str, payload_pb2.ExtraValue],
    owner: str,
    max_elements: int,
    require_finite: bool = False,
) -> dict[str, ExtraValue]:
    return {
        key: extra_from_proto(extras[key], f"{owner}.extras[{key!r}]", max_elements, require_finite)
        for key in sorted(extras)
    }


# -- ActionPayload -----------------------------------------------------------------------------
def action_payload_to_proto(payload: ActionPayload) -> payload_pb2.ActionPayload:
    payload.validate()
    message = payload_pb2.ActionPayload(kind=action_kind_to_proto(payload.kind))
    name = payload.primary_name
    if name == "text":
        message.text.SetInParent()
        message.text.values.extend(payload.text or [])
    elif name is not None:
        getattr(message, name).CopyFrom(encode_tensor(getattr(payload, name)))
    _extras_to_proto(payload.extras, message.extras)
    return message


def action_payload_from_proto(
    message: payload_pb2.ActionPayload,
    field: str = "action",
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    require_finite: bool = True,
) -> ActionPayload:
    """Decode and validate; the core checks (one primary matching the kind, finite floats,
    extras keys) run on the result, so a payload that decodes here is a valid ActionPayload."""
    kind = action_kind_from_proto(message.kind, f"{field}.kind")
    which = message.WhichOneof("primary")
    values: dict[str, Any] = {}
    if which == "text":
        values["text"] = list(message.text.values)
    elif which is not None:
        values[which] = decode_tensor(
            getattr(message, which),
            field=f"{field}.{which}",
            max_elements=max_elements,
            require_finite=require_finite,
        )
    extras = _extras_from_proto(message.extras, field, max_elements)
    try:
        return ActionPayload(kind=kind, extras=extras, **values)
    except ContractError as err:
        raise ContractError(f"{field}: {err}") from None


# -- ConditionPayload --------------------------------------------------------------------------
def condition_to_proto(condition: ConditionPayload | None) -> payload_pb2.ConditionPayload:
    message = payload_pb2.ConditionPayload()
    if condition is None:
        return message
    condition.validate()
    for name in ("goal", "camera_pose"):
        value = getattr(condition, name)
        if value is not None:
            getattr(message, name).CopyFrom(encode_tensor(value))
    if condition.text is not None:
        message.text.SetInParent()
        message.text.values.extend(condition.text)
    _extras_to_proto(condition.extras, message.extras)
    return message


def condition_from_proto(
    message: payload_pb2.ConditionPayload,
    field: str = "condition",
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> ConditionPayload | None:
    """None for an empty message: "no condition" and "an empty condition" mean the same."""
    values: dict[str, Any] = {}
    for name in ("goal", "camera_pose"):
        if message.HasField(name):
            values[name] = decode_tensor(
                getattr(message, name),
                field=f"{field}.{name}",
                max_elements=max_elements,
                require_finite=True,
            )
    if message.HasField("text"):
        values["text"] = list(message.text.values)
    # A condition's extras reach the model like any other input: NaN/Inf is refused there.
    values["extras"] = _extras_from_proto(message.extras, field, max_elements, require_finite=True)
    try:
        condition = ConditionPayload(**values)
    except ContractError as err:
        raise ContractError(f"{field}: {err}") from None
    return None if condition.is_empty else condition


# -- LatentState -------------------------------------------------------------------------------
def latent_state_to_proto(state: LatentState) -> payload_pb2.LatentState:
    message = payload_pb2.LatentState()
    for name, tensor in state.tensors.items():
        message.tensors[name].CopyFrom(encode_tensor(tensor))
    for key, value in state.meta.items():
        message.meta[key] = value
    return message


def _tensor_map_from_proto(
    tensors: Mapping[str, tensor_pb2.Tensor], field: str, max_elements: int, require_finite: bool
) -> dict[str, torch.Tensor]:
    # Sorted: protobuf maps have no order, and a decoded value must not depend on hashing.
    return {
        name: decode_tensor(
            tensors[name],
            field=f"{field}[{name!r}]",
            max_elements=max_elements,
            require_finite=require_finite,
        )
        for name in sorted(tensors)
    }


def latent_state_from_proto(
    message: payload_pb2.LatentState,
    field: str = "state",
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    require_finite: bool = True,
) -> LatentState:
    if not message.tensors:
        raise ContractError(f"{field} has no tensors")
    tensors = _tensor_map_from_proto(
        message.tensors, f"{field}.tensors", max_elements, require_finite
    )
    try:
        return LatentState(tensors, {key: message.meta[key] for key in sorted(message.meta)})
    except ContractError as err:
        raise ContractError(f"{field}: {err}") from None


# -- Rollout -----------------------------------------------------------------------------------
def rollout_to_proto(
    rollout: Rollout,
    latents: tuple[str, ...] | list[str] | None = None,
    omit_latents: bool = False,
) -> dynamics_pb2.RolloutResponse:
    """`latents` picks which latent tensors travel (all when empty or None); `omit_latents`
    sends each as an empty [N, H, 0] placeholder, for callers that read no latent values."""
    message = dynamics_pb2.RolloutResponse()
    names = list(latents) if latents else list(rollout.latents)
    for name in names:
        if name not in rollout.latents:
            raise ContractError(f"rollout has no latent {name!r} (has {sorted(rollout.latents)})")
        value = rollout.latents[name]
        if omit_latents:
            value = value.new_empty((*value.shape[:2], 0))
        message.latents.tensors[name].CopyFrom(encode_tensor(value))
    for name in ("rewards", "continues", "values"):
        value = getattr(rollout, name)
        if value is not None:
            getattr(message, name).CopyFrom(encode_tensor(value))
    return message


def rollout_from_proto(
    message: dynamics_pb2.RolloutResponse,
    field: str = "rollout",
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> Rollout:
    if not message.latents.tensors:
        raise ContractError(f"{field} has no latents")
    latents = _tensor_map_from_proto(
        message.latents.tensors, f"{field}.latents", max_elements, require_finite=False
    )
    values: dict[str, torch.Tensor] = {}
    for name in ("rewards", "continues", "values"):
        if message.HasField(name):
            values[name] = decode_tensor(
                getattr(message, name), field=f"{field}.{name}", max_elements=max_elements
            )
    try:
        return Rollout(latents, **values)
    except ContractError as err:
        raise ContractError(f"{field}: {err}") from None


# -- specs -------------------------------------------------------------------------------------
def observation_spec_to_proto(spec: ObservationSpec) -> dynamics_pb2.ObservationSpec:
    return dynamics_pb2.ObservationSpec(
        shape=list(spec.shape), dtype=_OBS_DTYPE_TO_WIRE[spec.dtype], modality=spec.modality
    )


def observation_spec_from_proto(message: dynamics_pb2.ObservationSpec) -> ObservationSpec:
    dtype = _OBS_DTYPE_FROM_WIRE.get(message.dtype)
    if dtype is None:
        raise ContractError(
            f"observation dtype {dtype_name(message.dtype)} is not one of "
            f"{sorted(_OBS_DTYPE_TO_WIRE)}"
        )
    return ObservationSpec(tuple(message.shape), dtype, message.modality)


def action_spec_to_proto(spec: ActionSpec) -> dynamics_pb2.ActionSpec:
    return dynamics_pb2.ActionSpec(
        kind=action_kind_to_proto(spec.kind),
        dim=spec.dim,
        num_actions=spec.num_actions,
        low=list(spec.low or ()),
        high=list(spec.high or ()),
    )


def action_spec_from_proto(message: dynamics_pb2.ActionSpec) -> ActionSpec:
    # An unbounded action space sends no bounds; ActionSpec never holds an empty tuple.
    return ActionSpec(
        action_kind_from_proto(message.kind, "spec.action.kind"),
        dim=message.dim,
        num_actions=message.num_actions,
        low=tuple(message.low) or None,
        high=tuple(message.high) or None,
    )


def model_spec_to_proto(spec: ModelSpec, fingerprint: str = "") -> dynamics_pb2.ModelSpec:
    message = dynamics_pb2.ModelSpec(
        model_id=spec.model_id,
        family=spec.family,
        observation=observation_spec_to_proto(spec.observation),
        action=action_spec_to_proto(spec.action),
        has_reward=spec.has_reward,
        has_value=spec.has_value,
        has_continue=spec.has_continue,
        fingerprint=fingerprint,
        goal_latent=spec.goal_latent,
        has_policy_prior=spec.has_policy_prior,
        discount=spec.discount,
    )
    latent: MutableMapping[str, dynamics_pb2.LatentShape] = message.latent
    for name, shape in spec.latent.items():
        latent[name].shape.extend(shape)
    return message


def model_spec_from_proto(message: dynamics_pb2.ModelSpec) -> ModelSpec:
    return ModelSpec(
        model_id=message.model_id,
        family=message.family,
        observation=observation_spec_from_proto(message.observation),
        action=action_spec_from_proto(message.action),
        latent={name: tuple(message.latent[name].shape) for name in sorted(message.latent)},
        has_reward=message.has_reward,
        has_value=message.has_value,
        has_continue=message.has_continue,
        has_policy_prior=message.has_policy_prior,
        discount=message.discount,
        goal_latent=message.goal_latent,
    )
