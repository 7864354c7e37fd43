"""Bad input over a real socket: precise INVALID_ARGUMENT / RESOURCE_EXHAUSTED, and the server
keeps serving after any amount of garbage."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
import torch

from worldflux.rpc.codec import encode_tensor
from worldflux.rpc.conftest import StartDynamics, toy_model
from worldflux.rpc.dynamics_servicer import DynamicsLimits
from worldflux.v1 import dynamics_pb2, payload_pb2, tensor_pb2

SERVICE = "/worldflux.v1.DynamicsService/"
RESPONSES: dict[str, Any] = {
    "GetSpec": dynamics_pb2.GetSpecResponse,
    "Encode": dynamics_pb2.EncodeResponse,
    "Rollout": dynamics_pb2.RolloutResponse,
    "Observe": dynamics_pb2.ObserveResponse,
    "Propose": dynamics_pb2.ProposeResponse,
}
Call = Callable[[str, Any], Any]


@pytest.fixture
def call(start_dynamics: StartDynamics) -> Iterator[Call]:
    """call(method, request message or raw bytes) on a toy (obs [3], 2 continuous actions)."""
    server = start_dynamics(limits=DynamicsLimits(max_candidates=1000, max_tensor_elements=1 << 20))
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")

    def send(method: str, request: Any) -> Any:
        raw = request if isinstance(request, bytes) else request.SerializeToString()
        stub = channel.unary_unary(
            SERVICE + method,
            request_serializer=lambda b: b,
            response_deserializer=RESPONSES[method].FromString,
        )
        return stub(raw, timeout=10)

    yield send
    channel.close()


def state(batch: int = 1, dim: int = 16, dtype: torch.dtype = torch.float32, name: str = "z"):
    message = payload_pb2.LatentState()
    message.tensors[name].CopyFrom(encode_tensor(torch.zeros(batch, dim, dtype=dtype)))
    return message


def continuous(tensor: torch.Tensor) -> payload_pb2.ActionPayload:
    return payload_pb2.ActionPayload(
        kind=payload_pb2.ACTION_KIND_CONTINUOUS, tensor=encode_tensor(tensor)
    )


def rollout(actions: payload_pb2.ActionPayload | None = None, **kw: Any) -> Any:
    kw.setdefault("state", state())
    if actions is not None:
        kw["actions"] = actions
    return dynamics_pb2.RolloutRequest(**kw)


def valid_rollout() -> Any:
    return rollout(continuous(torch.zeros(4, 3, 2)))


def encode(tensor: torch.Tensor) -> Any:
    return dynamics_pb2.EncodeRequest(observation=encode_tensor(tensor))


NAN = float("nan")
INVALID = grpc.StatusCode.INVALID_ARGUMENT
TOO_LARGE = grpc.StatusCode.RESOURCE_EXHAUSTED
CASES = [
    # (method, request, code, message fragment)
    ("Encode", dynamics_pb2.EncodeRequest(), INVALID, "EncodeRequest.observation is missing"),
    ("Encode", encode(torch.zeros(2, 4)), INVALID, "shape [2, 4], expected [B, 3]"),
    ("Encode", encode(torch.zeros(2, 3, 1)), INVALID, "shape [2, 3, 1], expected [B, 3]"),
    ("Encode", encode(torch.zeros(2, 3, dtype=torch.int64)), INVALID, "is int64, but the model"),
    ("Encode", encode(torch.tensor([[0.0, NAN, 1.0]])), INVALID, "1 of 3 values are NaN"),
    ("Encode", encode(torch.zeros(0, 3)), INVALID, "empty (batch size 0)"),
    ("Rollout", rollout(state=None), INVALID, "RolloutRequest.state is missing"),
    ("Rollout", rollout(), INVALID, "RolloutRequest.actions is missing"),
    (
        "Rollout",
        rollout(
            payload_pb2.ActionPayload(
                kind=payload_pb2.ACTION_KIND_DISCRETE,
                tokens=encode_tensor(torch.zeros(4, 3).long()),
            )
        ),
        INVALID,
        "has kind discrete, but the model takes continuous actions",
    ),
    ("Rollout", rollout(continuous(torch.zeros(4, 3, 5))), INVALID, "expected [N, H, 2]"),
    (
        "Rollout",
        rollout(continuous(torch.zeros(4, 2))),
        INVALID,
        "shape [4, 2], expected [N, H, 2]",
    ),
    (
        "Rollout",
        rollout(continuous(torch.zeros(4, 3, 2, dtype=torch.float64))),
        INVALID,
        "float64; send float32",
    ),
    (
        "Rollout",
        rollout(continuous(torch.full((4, 3, 2), NAN))),
        INVALID,
        "24 of 24 values are NaN",
    ),
    ("Rollout", rollout(continuous(torch.zeros(0, 3, 2))), INVALID, "empty (shape [0, 3, 2])"),
    (
        "Rollout",
        rollout(continuous(torch.zeros(3, 3, 2)), state=state(batch=2)),
        INVALID,
        "N=3 candidates cannot be split evenly over the B=2 states",
    ),
    (
        "Rollout",
        rollout(continuous(torch.zeros(4, 3, 2)), state=state(name="h")),
        INVALID,
        "must hold the tensors ['z'] (missing ['z'], unexpected ['h'])",
    ),
    (
        "Rollout",
        rollout(continuous(torch.zeros(4, 3, 2)), state=state(dim=7)),
        INVALID,
        "RolloutRequest.state.tensors['z'] is float32 [1, 7], expected float32 [B, 16]",
    ),
    (
        "Rollout",
        rollout(continuous(torch.zeros(4, 3, 2)), state=state(dtype=torch.float64)),
        INVALID,
        "is float64 [1, 16], expected float32 [B, 16]",
    ),
    ("Rollout", rollout(continuous(torch.zeros(1001, 1, 2))), TOO_LARGE, "candidates N is 1001"),
    (
        "Rollout",
        rollout(
            payload_pb2.ActionPayload(
                kind=payload_pb2.ACTION_KIND_CONTINUOUS,
                tensor=tensor_pb2.Tensor(
                    dtype=tensor_pb2.DATA_TYPE_FLOAT32, shape=[1 << 20, 1 << 20, 2]
                ),
            )
        ),
        TOO_LARGE,
        "more than the limit",
    ),
    ("Rollout", valid_rollout().SerializeToString()[:-3], INVALID, "malformed worldflux.v1"),
    ("Rollout", b"\xff\xff\xff\xff", INVALID, "malformed worldflux.v1.RolloutRequest"),
    (
        "Observe",
        dynamics_pb2.ObserveRequest(
            state=state(batch=2),
            action=continuous(torch.zeros(3, 2)),
            observation=encode_tensor(torch.zeros(2, 3)),
        ),
        INVALID,
        "ObserveRequest.action has batch 3, the state has batch 2",
    ),
    (
        "Observe",
        dynamics_pb2.ObserveRequest(
            state=state(batch=2),
            action=continuous(torch.zeros(2, 2)),
            observation=encode_tensor(torch.zeros(1, 3)),
        ),
        INVALID,
        "ObserveRequest.observation has batch 1, the state has batch 2",
    ),
    (
        "Propose",
        dynamics_pb2.ProposeRequest(state=state(), horizon=0, num_samples=4),
        INVALID,
        "ProposeRequest.horizon must be >= 1, got 0",
    ),
    (
        "Propose",
        dynamics_pb2.ProposeRequest(state=state(batch=2), horizon=3, num_samples=600),
        TOO_LARGE,
        "B * num_samples is 1200",
    ),
]


@pytest.mark.parametrize(
    ("method", "request_", "code", "fragment"),
    CASES,
    ids=[f"{i:02d}-{case[0]}-{case[2].name}" for i, case in enumerate(CASES)],
)
def test_bad_request_gets_precise_status(
    call: Call, method: str, request_: Any, code: grpc.StatusCode, fragment: str
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(method, request_)
    assert info.value.code() == code, info.value.details()
    assert fragment in (info.value.details() or "")
    assert call("Rollout", valid_rollout()).rewards.shape == [4, 3]  # still serving


def test_valid_requests_succeed(call: Call) -> None:
    spec = call("GetSpec", dynamics_pb2.GetSpecRequest()).spec
    assert list(spec.observation.shape) == [3] and spec.fingerprint
    encoded = call("Encode", encode(torch.zeros(2, 3))).state
    assert list(encoded.tensors["z"].shape) == [2, 16]
    response = call("Rollout", valid_rollout())
    assert list(response.latents.tensors["z"].shape) == [4, 3, 16]
    proposal = call("Propose", dynamics_pb2.ProposeRequest(state=state(), horizon=2, num_samples=2))
    assert not proposal.HasField("actions")  # the toy has no policy prior


def _mutations(rng: random.Random) -> Iterator[tuple[str, bytes]]:
    valid = {
        "Encode": encode(torch.zeros(2, 3)).SerializeToString(),
        "Rollout": valid_rollout().SerializeToString(),
        "Observe": dynamics_pb2.ObserveRequest(
            state=state(),
            action=continuous(torch.zeros(1, 2)),
            observation=encode_tensor(torch.zeros(1, 3)),
        ).SerializeToString(),
        "Propose": dynamics_pb2.ProposeRequest(
            state=state(), horizon=2, num_samples=2
        ).SerializeToString(),
    }
    wrong_dtypes = [d for d in tensor_pb2.DataType.values() if d != tensor_pb2.DATA_TYPE_FLOAT32]
    for i in range(240):
        method = rng.choice(sorted(valid))
        raw = valid[method]
        kind = i % 6
        if kind == 0:  # random bytes
            yield method, rng.randbytes(rng.randint(0, 200))
        elif kind == 1:  # truncated
            yield method, raw[: rng.randint(0, len(raw) - 1)]
        elif kind == 2:  # bit flips
            data = bytearray(raw)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            yield method, bytes(data)
        elif kind == 3:  # random bytes appended (unknown fields or garbage)
            yield method, raw + rng.randbytes(rng.randint(1, 20))
        else:  # well-formed protobuf with wrong dtypes and shapes
            request = dynamics_pb2.RolloutRequest.FromString(valid["Rollout"])
            tensor = request.actions.tensor if kind == 4 else request.state.tensors["z"]
            tensor.dtype = rng.choice([*wrong_dtypes, tensor_pb2.DATA_TYPE_FLOAT32])
            tensor.shape[:] = [rng.randint(-2, 5) for _ in range(rng.randint(0, 4))]
            yield "Rollout", request.SerializeToString()


def test_fuzzed_requests_never_crash_the_server(call: Call) -> None:
    rng = random.Random(1234)
    seen: dict[str, int] = {}
    for method, raw in _mutations(rng):
        try:
            call(method, raw)
            code = "OK"  # a mutation can still be a valid request
        except grpc.RpcError as err:
            code = err.code().name
            assert err.code() in (INVALID, TOO_LARGE), (method, raw, err.details())
            assert err.details()
        seen[code] = seen.get(code, 0) + 1
    assert seen.get("INVALID_ARGUMENT", 0) > 150, seen
    response = call("Rollout", valid_rollout())
    assert list(response.rewards.shape) == [4, 3]
    assert torch.isfinite(torch.tensor(list(response.rewards.data))).all()


def test_oversized_message_is_resource_exhausted(start_dynamics: StartDynamics) -> None:
    server = start_dynamics(toy_model(obs_shape=(1000,)), max_message_mb=0.5)
    channel = grpc.insecure_channel(
        f"127.0.0.1:{server.port}", options=[("grpc.max_send_message_length", 64 << 20)]
    )
    stub: Any = channel.unary_unary(
        SERVICE + "Encode",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=dynamics_pb2.EncodeResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as info:
        stub(encode(torch.zeros(200, 1000)), timeout=10)  # 800 kB > 0.5 MB
    assert info.value.code() == TOO_LARGE
    assert "larger than max" in (info.value.details() or "")
    assert list(stub(encode(torch.zeros(2, 1000)), timeout=10).state.tensors["z"].shape) == [2, 16]
    channel.close()
