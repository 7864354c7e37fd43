"""Dynamics calls are seeded from their inputs: the same question gets the same answer, and the
caller's random stream is left alone."""

import torch

from worldflux.core import LatentState
from worldflux.planners.dynamics import content_seed, seeded


def test_the_seed_is_a_function_of_the_values_asked_about() -> None:
    state = LatentState({"z": torch.arange(6.0).reshape(2, 3)})
    actions = torch.linspace(-1, 1, 8).reshape(2, 4, 1)
    seed = content_seed(state, actions)
    assert seed == content_seed(LatentState({"z": torch.arange(6.0).reshape(2, 3)}), actions)
    # The same values in another width (a float64 client, a float32 wire) hash the same.
    assert seed == content_seed(
        LatentState({"z": torch.arange(6.0, dtype=torch.float64).reshape(2, 3)}), actions.double()
    )
    assert seed != content_seed(state, actions.flip(0))
    assert seed != content_seed(state, actions.reshape(2, 2, 2))  # shape counts
    assert content_seed(state, 3, 4) != content_seed(state, 4, 3)
    assert 0 <= seed < 2**63


def test_seeded_calls_repeat_and_leave_the_callers_rng_alone() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    with seeded(7, torch.device("cpu")):
        a = torch.randn(4)
    with seeded(7, torch.device("cpu")):
        b = torch.randn(4)
    assert torch.equal(a, b)
    assert torch.equal(torch.rand(3), expected_next)
