import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from worldflux.models.dreamerv3.dists import (
    BoundedNormal,
    TwoHot,
    categorical_kl,
    straight_through_sample,
    symexp,
    symexp_bins,
    symlog,
    unimix_logits,
)


def test_symlog_symexp_inverse_and_shape() -> None:
    x = torch.tensor([-1e6, -3.0, -0.5, 0.0, 0.5, 3.0, 1e6], dtype=torch.float64)
    assert torch.allclose(symexp(symlog(x)), x, rtol=1e-9)
    assert symlog(torch.tensor(math.e - 1)).item() == pytest.approx(1.0)


def test_bins_uniform_in_symlog_space_and_symmetric() -> None:
    bins = symexp_bins(255)
    assert bins.shape == (255,)
    grid = symlog(bins.double())
    assert grid[0].item() == pytest.approx(-20.0) and grid[-1].item() == pytest.approx(20.0)
    steps = grid.diff()
    assert torch.allclose(steps, torch.full_like(steps, 40.0 / 254), atol=1e-4)
    assert torch.equal(bins, -bins.flip(0))
    assert bins[127].item() == 0.0


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_twohot_round_trip(value: float) -> None:
    twohot = TwoHot(255)
    target = torch.tensor([value])
    weights = twohot.encode(target)
    assert torch.allclose(weights.sum(-1), torch.ones(1))
    assert int((weights > 0).sum()) <= 2
    # Decoding the exact two-hot probabilities (as logits = log p) gives the value back.
    decoded = twohot.decode(torch.log(weights.clamp(min=1e-30)))
    assert decoded.item() == pytest.approx(value, rel=1e-4, abs=1e-4)


def test_twohot_clips_out_of_range_and_uniform_decodes_to_zero() -> None:
    twohot = TwoHot(255)
    big = twohot.encode(torch.tensor([1e12, -1e12]))
    assert big[0, -1].item() == 1.0 and big[1, 0].item() == 1.0
    assert twohot.decode(torch.zeros(3, 255)).abs().max().item() == 0.0


def test_twohot_loss_is_cross_entropy_minimised_at_target() -> None:
    twohot = TwoHot(255)
    target = torch.tensor([3.7, -120.0])
    logits = torch.zeros(2, 255, requires_grad=True)
    first = twohot.loss(logits, target).sum().item()
    # Plain gradient descent (torch.optim's first import costs seconds).
    for _ in range(300):
        (grad,) = torch.autograd.grad(twohot.loss(logits, target).sum(), logits)
        with torch.no_grad():
            logits -= 5.0 * grad
    assert twohot.loss(logits, target).sum().item() < 0.5 * first
    # The mass moves onto the two bins around each target.
    mass = (logits.detach().softmax(-1) * (twohot.encode(target) > 0)).sum(-1)
    assert (mass > 0.9).all()
    dense = -(twohot.encode(target) * logits.detach().log_softmax(-1)).sum(-1)
    assert torch.allclose(dense, twohot.loss(logits.detach(), target))


def test_unimix_lower_bounds_every_probability() -> None:
    logits = torch.tensor([[100.0, -100.0, -100.0, -100.0], [0.0, 0.0, 0.0, 0.0]])
    probs = unimix_logits(logits, 0.01).exp()
    assert torch.allclose(probs.sum(-1), torch.ones(2))
    assert probs.min().item() >= 0.01 / 4 - 1e-7
    assert probs[0, 1].item() == pytest.approx(0.0025, rel=1e-4)
    # Without unimix the same logits give a vanishing probability.
    assert unimix_logits(logits, 0.0).exp()[0, 1].item() < 1e-40


def test_straight_through_sample_is_one_hot_with_probability_gradient() -> None:
    logits = torch.randn(5, 3, 4, requires_grad=True)
    sample = straight_through_sample(unimix_logits(logits, 0.01))
    assert torch.equal(sample.detach().sum(-1), torch.ones(5, 3))
    assert set(sample.detach().unique().tolist()) <= {0.0, 1.0}
    (sample * torch.randn_like(sample)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_categorical_kl_zero_for_equal_positive_otherwise() -> None:
    p = unimix_logits(torch.randn(10, 6), 0.01)
    q = unimix_logits(torch.randn(10, 6), 0.01)
    assert torch.allclose(categorical_kl(p, p), torch.zeros(10), atol=1e-6)
    assert (categorical_kl(p, q) > 0).all()


def test_bounded_normal_std_range_and_log_prob() -> None:
    dist = BoundedNormal.from_raw(torch.randn(7, 2) * 10, torch.randn(7, 2) * 10, 0.1, 1.0)
    assert dist.mean.abs().max() <= 1.0
    assert dist.std.min() >= 0.1 and dist.std.max() <= 1.0
    x = dist.sample()
    ref = torch.distributions.Normal(dist.mean, dist.std)
    assert torch.allclose(dist.log_prob(x), ref.log_prob(x).sum(-1), atol=1e-5)
    assert torch.allclose(dist.entropy(), ref.entropy().sum(-1), atol=1e-5)
