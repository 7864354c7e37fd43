"""The squashed Gaussian policy prior and the running 5-95 percentile Q scale."""

import numpy as np
import pytest
import torch
from torch.distributions import Normal, TanhTransform, TransformedDistribution

from worldflux.models.tdmpc2.policy import RunningScale, bounded_log_std, sample_squashed_gaussian

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def test_log_std_stays_in_bounds() -> None:
    raw = torch.linspace(-50, 50, 101)
    out = bounded_log_std(raw, -10.0, 2.0)
    assert out.min() >= -10.0 and out.max() <= 2.0
    assert out[0].item() == pytest.approx(-10.0) and out[-1].item() == pytest.approx(2.0)
    assert bounded_log_std(torch.zeros(1), -10.0, 2.0).item() == pytest.approx(-4.0)


def test_sample_matches_torch_tanh_normal_log_prob() -> None:
    torch.manual_seed(0)
    mean = torch.randn(64, 3) * 0.5
    log_std = torch.rand(64, 3) - 1.5
    eps = torch.randn(64, 3)
    s = sample_squashed_gaussian(mean, log_std, eps)
    assert bool((s.action.abs() < 1).all())
    assert torch.allclose(s.mean, torch.tanh(mean))
    dist = TransformedDistribution(Normal(mean, log_std.exp()), [TanhTransform()])
    expected = dist.log_prob(s.action).sum(-1, keepdim=True)
    # The official code adds 1e-6 inside the log-det; differences stay tiny away from +-1.
    assert torch.allclose(s.log_prob, expected, atol=1e-3)


def test_scaled_entropy_is_the_official_dimension_weighted_estimate() -> None:
    mean = torch.zeros(4, 6)
    log_std = torch.full((4, 6), -1.0)
    eps = torch.randn(4, 6)
    s = sample_squashed_gaussian(mean, log_std, eps)
    pre_tanh = (-0.5 * eps.pow(2) - log_std - 0.5 * np.log(2 * np.pi)).sum(-1, keepdim=True)
    assert torch.allclose(s.scaled_entropy, -pre_tanh * 6, atol=1e-4)


def test_gradient_reaches_mean_and_log_std() -> None:
    mean = torch.zeros(8, 2, requires_grad=True)
    log_std = torch.full((8, 2), -1.0, requires_grad=True)
    s = sample_squashed_gaussian(mean, log_std)
    (s.action.sum() + s.log_prob.sum()).backward()
    assert mean.grad is not None and mean.grad.abs().sum() > 0
    assert log_std.grad is not None and log_std.grad.abs().sum() > 0


def test_running_scale_tracks_the_percentile_range() -> None:
    scale = RunningScale(tau=0.01)
    assert scale.value.item() == 1.0
    x = torch.linspace(-500.0, 0.0, 1001).unsqueeze(-1)  # [N, 1] like Q at t = 0
    p5, p95 = np.percentile(x.numpy(), [5, 95])
    scale.update(x)
    assert scale.value.item() == pytest.approx(0.99 * 1.0 + 0.01 * (p95 - p5), rel=1e-5)
    for _ in range(2000):
        scale.update(x)
    assert scale.value.item() == pytest.approx(p95 - p5, rel=1e-4)
    assert torch.allclose(scale(x), x / scale.value)


def test_running_scale_is_at_least_one() -> None:
    scale = RunningScale(tau=1.0)
    scale.update(torch.full((10, 1), 3.0))
    assert scale.value.item() == 1.0
    assert "value" in scale.state_dict()
