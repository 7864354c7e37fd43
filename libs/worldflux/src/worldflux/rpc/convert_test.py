import math
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worldflux.core import (
    PLANNER_HORIZON_KEY,
    ActionKind,
    ActionPayload,
    ActionSpec,
    ConditionPayload,
    ContractError,
    LatentState,
    ModelSpec,
    ObservationSpec,
    Rollout,
)
from worldflux.rpc.codec import TensorCodecError, TensorTooLargeError, encode_tensor
from worldflux.rpc.convert import (
    action_payload_from_proto,
    action_payload_to_proto,
    condition_from_proto,
    condition_to_proto,
    latent_state_from_proto,
    latent_state_to_proto,
    model_spec_from_proto,
    model_spec_to_proto,
    rollout_from_proto,
    rollout_to_proto,
)
from worldflux.v1 import dynamics_pb2, payload_pb2, tensor_pb2

FLOAT_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
ALL_DTYPES = [*FLOAT_DTYPES, torch.int64, torch.int32, torch.uint8, torch.bool]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def wire(message: Any) -> Any:
    """Serialize and parse again, as the network would."""
    return type(message).FromString(message.SerializeToString())


def same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-for-bit equality: dtype, shape and bytes (NaN payloads and -0.0 included)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(
        a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8)
    )


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and same_tensor(a, b)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


def same_extras(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)


# -- strategies --------------------------------------------------------------------------------
@st.composite
def tensors(
    draw: st.DrawFn,
    dtypes: list[torch.dtype] = ALL_DTYPES,
    shape: tuple[int, ...] | None = None,
    finite: bool = False,
) -> torch.Tensor:
    """Arbitrary bit patterns (NaN payloads, -0.0, subnormals, extreme integers) of any dtype."""
    dtype = draw(st.sampled_from(dtypes))
    if shape is None:
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    itemsize = torch.empty((), dtype=dtype).element_size()
    size = math.prod(shape) * itemsize
    raw = bytearray(draw(st.binary(min_size=size, max_size=size)))
    if dtype == torch.bool:
        raw = bytearray(b % 2 for b in raw)
    if not raw:
        return torch.empty(shape, dtype=dtype)
    tensor = torch.frombuffer(raw, dtype=dtype).reshape(shape).clone()
    if finite and dtype.is_floating_point:
        tensor = torch.where(torch.isfinite(tensor), tensor, torch.zeros((), dtype=dtype))
    return tensor


extra_keys = st.from_regex(r"wf\.[a-z][a-z0-9_]{0,6}\.[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda k: k != PLANNER_HORIZON_KEY
)
extra_values = st.one_of(
    st.booleans(),
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.floats(),
    st.text(max_size=12),
    tensors(),
)
# A condition's extras must be finite (the service refuses NaN/Inf in them).
finite_extra_values = st.one_of(
    st.booleans(),
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    tensors(finite=True),
)


@st.composite
def extras(draw: st.DrawFn, finite: bool = False) -> dict[str, Any]:
    values = draw(
        st.dictionaries(extra_keys, finite_extra_values if finite else extra_values, max_size=4)
    )
    if draw(st.booleans()):
        values[PLANNER_HORIZON_KEY] = draw(st.integers(1, 1000))
    return values


@st.composite
def action_payloads(draw: st.DrawFn) -> ActionPayload:
    kind = draw(st.sampled_from(list(ActionKind)))
    values: dict[str, Any] = {}
    if kind in (ActionKind.CONTINUOUS, ActionKind.LATENT):
        name = "tensor" if kind is ActionKind.CONTINUOUS else "latent"
        values[name] = draw(tensors(FLOAT_DTYPES, finite=True))
    elif kind in (ActionKind.DISCRETE, ActionKind.TOKEN):
        values["tokens"] = draw(tensors([torch.int64, torch.int32]))
    elif kind is ActionKind.TEXT:
        values["text"] = draw(st.lists(st.text(max_size=10), max_size=4))
    return ActionPayload(kind=kind, extras=draw(extras()), **values)


@st.composite
def conditions(draw: st.DrawFn) -> ConditionPayload:
    maybe = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731
    return ConditionPayload(
        goal=draw(maybe(tensors(FLOAT_DTYPES, finite=True))),
        text=draw(maybe(st.lists(st.text(max_size=10), max_size=3))),
        camera_pose=draw(maybe(tensors(FLOAT_DTYPES, finite=True))),
        extras=draw(extras(finite=True)),
    )


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)


@st.composite
def latent_states(draw: st.DrawFn) -> LatentState:
    batch = draw(st.integers(1, 3))
    keys = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    tensors_ = {
        k: draw(
            tensors(FLOAT_DTYPES, (batch, *draw(st.lists(st.integers(1, 3), max_size=2))), True)
        )
        for k in keys
    }
    meta = draw(st.dictionaries(names, st.text(max_size=8), max_size=2))
    return LatentState(tensors_, meta)


@st.composite
def rollouts(draw: st.DrawFn) -> Rollout:
    n, h = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    keys = draw(st.lists(names, min_size=1, max_size=2, unique=True))
    latents = {k: draw(tensors([torch.float32], (n, h, draw(st.integers(1, 3))))) for k in keys}
    maybe = lambda shape: st.one_of(st.none(), tensors([torch.float32], shape))  # noqa: E731
    return Rollout(
        latents,
        rewards=draw(maybe((n, h))),
        continues=draw(maybe((n, h))),
        values=draw(maybe((n,))),
    )


@st.composite
def model_specs(draw: st.DrawFn) -> ModelSpec:
    obs = ObservationSpec(
        tuple(draw(st.lists(st.integers(1, 64), min_size=1, max_size=3))),
        draw(st.sampled_from(["float32", "uint8", "int64"])),
        draw(st.sampled_from(["vector", "image", "video", "tokens"])),
    )
    kind = draw(st.sampled_from(list(ActionKind)))
    if kind in (ActionKind.CONTINUOUS, ActionKind.LATENT):
        dim = draw(st.integers(1, 4))
        bounded = draw(st.booleans())
        low = tuple(draw(st.lists(st.floats(-10, -0.5), min_size=dim, max_size=dim)))
        action = ActionSpec(
            kind, dim=dim, low=low if bounded else None, high=(1.0,) * dim if bounded else None
        )
    elif kind in (ActionKind.DISCRETE, ActionKind.TOKEN):
        action = ActionSpec(kind, num_actions=draw(st.integers(1, 50)))
    else:
        action = ActionSpec(kind)
    latent = draw(
        st.dictionaries(names, st.lists(st.integers(1, 512), max_size=3).map(tuple), max_size=3)
    )
    return ModelSpec(
        model_id=draw(st.text(max_size=12)),
        family=draw(st.text(max_size=8)),
        observation=obs,
        action=action,
        latent=latent,
        has_reward=draw(st.booleans()),
        has_value=draw(st.booleans()),
        has_continue=draw(st.booleans()),
        has_policy_prior=draw(st.booleans()),
        discount=draw(st.floats(1e-6, 1.0)),
        goal_latent=draw(st.sampled_from(["", *latent])),
    )


# -- round trips -------------------------------------------------------------------------------
@SETTINGS
@given(action_payloads())
def test_action_payload_round_trip(payload: ActionPayload) -> None:
    back = action_payload_from_proto(wire(action_payload_to_proto(payload)))
    assert back.kind == payload.kind
    for name in ("tensor", "tokens", "latent"):
        a, b = getattr(payload, name), getattr(back, name)
        assert (a is None and b is None) or same_tensor(a, b)
    assert back.text == payload.text
    assert same_extras(back.extras, payload.extras)
    assert back.horizon == payload.horizon


@SETTINGS
@given(conditions())
def test_condition_round_trip(condition: ConditionPayload) -> None:
    back = condition_from_proto(wire(condition_to_proto(condition)))
    if condition.is_empty:
        assert back is None
        return
    assert back is not None
    for name in ("goal", "camera_pose"):
        a, b = getattr(condition, name), getattr(back, name)
        assert (a is None and b is None) or same_tensor(a, b)
    assert back.text == condition.text
    assert same_extras(back.extras, condition.extras)


@SETTINGS
@given(latent_states())
def test_latent_state_round_trip(state: LatentState) -> None:
    back = latent_state_from_proto(wire(latent_state_to_proto(state)))
    assert back.tensors.keys() == state.tensors.keys()
    assert all(same_tensor(back[k], state[k]) for k in state.tensors)
    assert back.meta == state.meta


@SETTINGS
@given(rollouts())
def test_rollout_round_trip(rollout: Rollout) -> None:
    back = rollout_from_proto(wire(rollout_to_proto(rollout)))
    assert back.latents.keys() == rollout.latents.keys()
    assert all(same_tensor(back.latents[k], rollout.latents[k]) for k in rollout.latents)
    for name in ("rewards", "continues", "values"):
        a, b = getattr(rollout, name), getattr(back, name)
        assert (a is None and b is None) or same_tensor(a, b)


@SETTINGS
@given(model_specs())
def test_model_spec_round_trip(spec: ModelSpec) -> None:
    message = wire(model_spec_to_proto(spec, fingerprint="abc123"))
    assert message.fingerprint == "abc123"
    assert model_spec_from_proto(message) == spec


# -- examples that pin the wire form -----------------------------------------------------------
def test_planner_payload_keeps_horizon_and_kind_on_the_wire() -> None:
    plan = torch.zeros(3, 2, 1)
    payload = ActionPayload(kind="continuous", tensor=plan, extras={PLANNER_HORIZON_KEY: 3})
    message = wire(action_payload_to_proto(payload))
    assert message.kind == payload_pb2.ACTION_KIND_CONTINUOUS
    assert message.WhichOneof("primary") == "tensor"
    assert list(message.tensor.shape) == [3, 2, 1]
    assert message.extras[PLANNER_HORIZON_KEY].WhichOneof("value") == "integer"
    assert message.extras[PLANNER_HORIZON_KEY].integer == 3


def test_bool_extra_stays_a_flag_and_int_stays_an_int() -> None:
    payload = ActionPayload(kind="none", extras={"wf.test.flag": True, "wf.test.count": 1})
    message = action_payload_to_proto(payload)
    assert message.extras["wf.test.flag"].WhichOneof("value") == "flag"
    back = action_payload_from_proto(wire(message))
    assert back.extras["wf.test.flag"] is True
    count = back.extras["wf.test.count"]
    assert isinstance(count, int) and not isinstance(count, bool)


def test_empty_text_action_is_kept_distinct_from_missing() -> None:
    back = action_payload_from_proto(wire(action_payload_to_proto(ActionPayload("text", text=[]))))
    assert back.text == []


def test_int_extra_outside_int64_is_refused() -> None:
    payload = ActionPayload(kind="none", extras={"wf.test.big": 1 << 64})
    with pytest.raises(ContractError, match="does not fit in int64"):
        action_payload_to_proto(payload)


# -- decoding refuses what the core types refuse, naming the field -----------------------------
def test_unspecified_kind_is_refused() -> None:
    message = payload_pb2.ActionPayload(tensor=encode_tensor(torch.zeros(1, 1, 2)))
    with pytest.raises(ContractError, match=r"actions\.kind: ACTION_KIND_UNSPECIFIED"):
        action_payload_from_proto(message, field="actions")


def test_kind_and_primary_mismatch_is_refused() -> None:
    message = payload_pb2.ActionPayload(
        kind=payload_pb2.ACTION_KIND_DISCRETE, tensor=encode_tensor(torch.zeros(1, 1, 2))
    )
    with pytest.raises(ContractError, match=r"actions: .*kind=discrete.*`tokens`"):
        action_payload_from_proto(message, field="actions")


def test_nan_action_is_refused_with_count() -> None:
    message = payload_pb2.ActionPayload(
        kind=payload_pb2.ACTION_KIND_CONTINUOUS,
        tensor=encode_tensor(torch.tensor([[[0.0, float("nan")]]])),
    )
    with pytest.raises(TensorCodecError, match=r"actions\.tensor: 1 of 2 values are NaN"):
        action_payload_from_proto(message, field="actions")


def test_bad_extras_key_is_refused() -> None:
    message = payload_pb2.ActionPayload(kind=payload_pb2.ACTION_KIND_NONE)
    message.extras["planner.horizon"].integer = 3
    with pytest.raises(ContractError, match="must look like 'wf.<domain>.<name>'"):
        action_payload_from_proto(message)


def test_extra_without_value_is_refused() -> None:
    message = payload_pb2.ActionPayload(kind=payload_pb2.ACTION_KIND_NONE)
    message.extras["wf.test.x"].SetInParent()
    with pytest.raises(ContractError, match=r"action\.extras\['wf.test.x'\] has no value"):
        action_payload_from_proto(message)


def test_latent_state_with_mismatched_batches_is_refused() -> None:
    message = payload_pb2.LatentState()
    message.tensors["a"].CopyFrom(encode_tensor(torch.zeros(2, 3)))
    message.tensors["b"].CopyFrom(encode_tensor(torch.zeros(3, 3)))
    with pytest.raises(ContractError, match="share a leading batch dim"):
        latent_state_from_proto(message)


def test_empty_latent_state_is_refused() -> None:
    with pytest.raises(ContractError, match="state has no tensors"):
        latent_state_from_proto(payload_pb2.LatentState())


def test_forged_shape_is_too_large() -> None:
    message = payload_pb2.LatentState()
    message.tensors["z"].CopyFrom(
        tensor_pb2.Tensor(dtype=tensor_pb2.DATA_TYPE_FLOAT32, shape=[1 << 30, 1 << 10])
    )
    with pytest.raises(TensorTooLargeError, match=r"state\.tensors\['z'\]"):
        latent_state_from_proto(message, max_elements=1 << 20)


def test_rollout_selects_latents_and_refuses_unknown_names() -> None:
    rollout = Rollout({"a": torch.zeros(2, 3, 4), "b": torch.ones(2, 3, 1)})
    back = rollout_from_proto(wire(rollout_to_proto(rollout, latents=["b"])))
    assert list(back.latents) == ["b"]
    with pytest.raises(ContractError, match="rollout has no latent 'c'"):
        rollout_to_proto(rollout, latents=["c"])


def test_model_spec_with_bad_observation_dtype_is_refused() -> None:
    message = dynamics_pb2.ModelSpec(
        observation=dynamics_pb2.ObservationSpec(shape=[3], dtype=tensor_pb2.DATA_TYPE_BOOL),
        action=dynamics_pb2.ActionSpec(kind=payload_pb2.ACTION_KIND_NONE),
        discount=0.99,
    )
    with pytest.raises(ContractError, match="observation dtype DATA_TYPE_BOOL"):
        model_spec_from_proto(message)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_condition_extras_must_be_finite(bad: float) -> None:
    from worldflux.rpc.convert import condition_from_proto
    from worldflux.v1 import payload_pb2

    message = payload_pb2.ConditionPayload()
    message.extras["wf.task.weight"].number = 0.5  # a finite extra decodes
    condition = condition_from_proto(message, "c")
    assert condition is not None and condition.extras["wf.task.weight"] == 0.5
    message.extras["wf.task.weight"].number = bad
    with pytest.raises(ContractError, match=r"c.extras\['wf.task.weight'\] is .*must be finite"):
        condition_from_proto(message, "c")
    message = payload_pb2.ConditionPayload()
    message.extras["wf.task.map"].tensor.CopyFrom(encode_tensor(torch.tensor([1.0, bad])))
    with pytest.raises(TensorCodecError, match="NaN or infinite"):
        condition_from_proto(message, "c")
