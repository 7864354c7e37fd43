import pytest
import torch

from worldflux.rpc.codec import TensorCodecError, decode_tensor, encode_tensor
from worldflux.v1 import tensor_pb2


@pytest.mark.parametrize(
    "tensor",
    [
        torch.randn(3, 4, generator=torch.Generator().manual_seed(0)),
        torch.randn(2, 5, dtype=torch.float16, generator=torch.Generator().manual_seed(1)),
        torch.randn(7, dtype=torch.bfloat16, generator=torch.Generator().manual_seed(2)),
        torch.tensor([[1, -2], [3, 2**40]], dtype=torch.int64),
        torch.tensor([True, False, True]),
        torch.arange(6, dtype=torch.uint8).reshape(1, 2, 3),
        torch.tensor(3.5, dtype=torch.float64),
        torch.empty(0, 4),
    ],
    ids=["float32", "float16", "bfloat16", "int64", "bool", "uint8", "scalar", "empty"],
)
def test_round_trip_is_exact(tensor: torch.Tensor) -> None:
    message = encode_tensor(tensor)
    wire = tensor_pb2.Tensor.FromString(message.SerializeToString())
    decoded = decode_tensor(wire)
    assert decoded.dtype == tensor.dtype
    assert decoded.shape == tensor.shape
    assert torch.equal(decoded, tensor)


def test_non_contiguous_input_is_encoded_in_logical_order() -> None:
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    decoded = decode_tensor(encode_tensor(base.t()))
    assert torch.equal(decoded, base.t())


def test_bytes_are_little_endian_row_major() -> None:
    message = encode_tensor(torch.tensor([1, 256], dtype=torch.int32))
    assert message.data == b"\x01\x00\x00\x00\x00\x01\x00\x00"
    assert message.dtype == tensor_pb2.DATA_TYPE_INT32


def test_shape_bytes_mismatch_names_field_and_sizes() -> None:
    message = encode_tensor(torch.zeros(2, 3))
    message.data = message.data[:-1]
    with pytest.raises(
        TensorCodecError, match=r"observation: shape \[2, 3\] of float32 needs 24 bytes, got 23"
    ):
        decode_tensor(message, field="observation")


def test_unspecified_dtype_is_rejected() -> None:
    with pytest.raises(TensorCodecError, match="DATA_TYPE_UNSPECIFIED is not supported"):
        decode_tensor(tensor_pb2.Tensor(shape=[1], data=b"\x00" * 4))


def test_negative_dimension_is_rejected() -> None:
    message = tensor_pb2.Tensor(dtype=tensor_pb2.DATA_TYPE_FLOAT32, shape=[-1, 2], data=b"")
    with pytest.raises(TensorCodecError, match="negative dimension"):
        decode_tensor(message)


def test_forged_huge_shape_is_rejected_before_allocation() -> None:
    message = tensor_pb2.Tensor(
        dtype=tensor_pb2.DATA_TYPE_FLOAT32, shape=[1 << 20, 1 << 20], data=b""
    )
    with pytest.raises(TensorCodecError, match="more than the limit"):
        decode_tensor(message, max_elements=1 << 24)


def test_non_finite_values_rejected_on_request() -> None:
    message = encode_tensor(torch.tensor([1.0, float("nan"), float("inf")]))
    assert torch.isnan(decode_tensor(message)).sum() == 1
    with pytest.raises(TensorCodecError, match="2 of 3 values are NaN or infinite"):
        decode_tensor(message, require_finite=True)


def test_unsupported_dtype_cannot_be_encoded() -> None:
    with pytest.raises(TensorCodecError, match="no wire encoding"):
        encode_tensor(torch.zeros(2, dtype=torch.complex64))


def test_too_many_dimensions_is_a_codec_error_at_the_limit_and_over() -> None:
    from worldflux.rpc.codec import MAX_DIMS

    ok = tensor_pb2.Tensor(dtype=tensor_pb2.DATA_TYPE_FLOAT32, shape=[1] * MAX_DIMS, data=b"\0" * 4)
    assert decode_tensor(ok).shape == (1,) * MAX_DIMS
    for dims in (MAX_DIMS + 1, 200):
        bad = tensor_pb2.Tensor(
            dtype=tensor_pb2.DATA_TYPE_FLOAT32, shape=[1] * dims, data=b"\0" * 4
        )
        with pytest.raises(TensorCodecError, match=f"shape has {dims} dimensions, at most 16"):
            decode_tensor(bad, field="x")


def test_zero_elements_with_a_huge_dimension_is_a_codec_error() -> None:
    limit = 1000
    fits = tensor_pb2.Tensor(dtype=tensor_pb2.DATA_TYPE_FLOAT32, shape=[0, limit], data=b"")
    assert decode_tensor(fits, max_elements=limit).shape == (0, limit)
    for shape in ([0, limit + 1], [0, 1 << 62], [1 << 62, 0, 1 << 62]):
        bad = tensor_pb2.Tensor(dtype=tensor_pb2.DATA_TYPE_FLOAT32, shape=shape, data=b"")
        with pytest.raises(TensorCodecError, match="dimension larger than the element limit"):
            decode_tensor(bad, field="x", max_elements=limit)
