"""Two-hot regression over 101 symlog bins: round trip, shape of the targets, soft CE."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from worldflux.models.tdmpc2.twohot import TwoHot, symexp, symlog

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs

TH = TwoHot(101, -10.0, 10.0)


def test_symlog_symexp_are_inverses() -> None:
    x = torch.tensor([-1e4, -3.5, -1.0, 0.0, 0.25, 7.0, 2e3], dtype=torch.float64)
    assert torch.allclose(symexp(symlog(x)), x, rtol=1e-12)
    assert symlog(torch.tensor(math.e - 1)).item() == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-2e4, max_value=2e4, allow_nan=False))
def test_round_trip_recovers_values_inside_the_range(value: float) -> None:
    x = torch.tensor([value], dtype=torch.float64)
    target = TH.encode(x)
    assert target.shape == (1, 101)
    assert bool((target >= 0).all()) and target.sum().item() == pytest.approx(1.0)
    assert int((target > 0).sum()) <= 2  # at most two neighbouring bins carry mass
    assert TH.decode_probs(target).item() == pytest.approx(value, rel=1e-9, abs=1e-9)


def test_values_beyond_the_range_clamp_to_the_end_bins() -> None:
    huge = torch.tensor([1e6, -1e6], dtype=torch.float64)
    target = TH.encode(huge)
    assert target[0, -1].item() == 1.0 and target[1, 0].item() == 1.0
    assert TH.decode_probs(target)[0].item() == pytest.approx(math.expm1(10.0))


def test_mass_is_split_linearly_between_neighbouring_bins() -> None:
    # symlog(x) = 0.05 sits a quarter of the way from bin 50 (0.0) to bin 51 (0.2).
    x = symexp(torch.tensor([0.05], dtype=torch.float64))
    target = TH.encode(x)[0]
    assert target[50].item() == pytest.approx(0.75) and target[51].item() == pytest.approx(0.25)


def test_soft_ce_is_smallest_at_the_target_and_has_gradients() -> None:
    x = torch.tensor([-4.0, 0.3, 12.0])
    exact = torch.log(TH.encode(x).clamp(min=1e-12))  # logits equal to the target's log
    wrong = torch.log(TH.encode(-x).clamp(min=1e-12))
    assert bool((TH.soft_ce(exact, x) < TH.soft_ce(wrong, x)).all())
    logits = torch.zeros(3, 101, requires_grad=True)
    loss = TH.soft_ce(logits, x)
    assert torch.allclose(loss, torch.full((3,), math.log(101)))  # uniform prediction
    loss.sum().backward()
    assert logits.grad is not None and bool(torch.isfinite(logits.grad).all())


def test_decode_of_logits_is_the_expected_bin_under_softmax() -> None:
    logits = torch.full((2, 101), -1e9)
    logits[0, 60] = 0.0  # all mass on bin 60 -> symlog 2.0
    logits[1, 40] = logits[1, 60] = 0.0  # half at -2, half at +2 -> 0
    out = TH.decode(logits)
    assert out[0].item() == pytest.approx(math.expm1(2.0), rel=1e-5)
    assert out[1].item() == pytest.approx(0.0, abs=1e-5)


def test_nan_targets_stay_nan_without_an_out_of_range_index() -> None:
    target = TH.encode(torch.tensor([0.5, float("nan")]))
    assert bool(torch.isfinite(target[0]).all())
    assert bool(target[1].isnan().any())
