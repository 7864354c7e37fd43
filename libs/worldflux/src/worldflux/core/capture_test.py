"""The recording helpers, without a GPU: the simulated recording and the eager CapturedCall."""

from __future__ import annotations

import pytest
import torch

from worldflux.core import ContractError
from worldflux.core.capture import (
    CapturedCall,
    capturing,
    check_recordable,
    scalar,
    simulated,
)


def test_a_pure_tensor_program_is_recordable() -> None:
    x = torch.randn(4)
    out = check_recordable(lambda: (x * 2).softmax(0).cumsum(0))
    assert torch.allclose(out[-1], torch.tensor(1.0))


@pytest.mark.parametrize(
    "body",
    [
        lambda x: x.sum().item(),
        lambda x: bool((x > 0).any()),
        lambda x: float(x.mean()),
        lambda x: x + torch.tensor([1.0, 2.0, 3.0, 4.0]),
    ],
    ids=["item", "bool", "float", "host-data"],
)
def test_host_reads_and_host_data_are_refused(body) -> None:
    x = torch.randn(4)
    body(x)  # fine eagerly
    with pytest.raises(ContractError, match="CUDA graph"):
        check_recordable(lambda: body(x))


def test_capturing_only_inside_a_recording() -> None:
    assert not capturing()
    with simulated():
        assert capturing()
        assert isinstance(scalar(torch.tensor(2.0)), torch.Tensor)
    assert not capturing()
    assert scalar(torch.tensor(2.0)) == 2.0
    with pytest.raises(ContractError), simulated():
        raise ContractError("state is restored on errors too")
    assert not capturing()


def test_captured_call_runs_eagerly_on_a_cpu() -> None:
    buffer = torch.zeros(3)
    calls = []

    def fn() -> torch.Tensor:
        calls.append(1)
        return buffer + 1

    call = CapturedCall(fn, torch.device("cpu"), warmup=3)
    assert not call.graphed
    buffer.copy_(torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(call(), torch.tensor([2.0, 3.0, 4.0]))
    buffer.fill_(0)
    assert torch.equal(call(), torch.ones(3))
    assert len(calls) == 2 and call.warmup_s == 0.0  # no warm-up calls without a graph
