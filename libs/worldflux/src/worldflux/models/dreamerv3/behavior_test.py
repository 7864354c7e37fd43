import pytest
import torch

from worldflux.models.dreamerv3.behavior import ReturnNormalizer, lambda_return


def nstep_lambda_return(
    rew: torch.Tensor, val: torch.Tensor, disc: float, lam: float
) -> torch.Tensor:
    """Reference: lambda-weighted mixture of n-step returns (no terminations)."""
    _, length = rew.shape
    out = []
    for t in range(length - 1):
        horizon = length - 1 - t
        total = torch.zeros(rew.shape[0], dtype=rew.dtype)
        for n in range(1, horizon + 1):
            g = sum(disc ** (k - 1) * rew[:, t + k] for k in range(1, n + 1))
            g = g + disc**n * val[:, t + n]
            weight = (1 - lam) * lam ** (n - 1) if n < horizon else lam ** (n - 1)
            total = total + weight * g
        out.append(total)
    return torch.stack(out, 1)


@pytest.mark.parametrize(("disc", "lam"), [(1.0, 0.95), (0.997, 0.95), (0.9, 0.0), (0.9, 1.0)])
def test_lambda_return_matches_nstep_mixture(disc: float, lam: float) -> None:
    torch.manual_seed(0)
    rew, val = torch.randn(3, 7, dtype=torch.float64), torch.randn(3, 7, dtype=torch.float64)
    zeros = torch.zeros_like(rew)
    ret = lambda_return(zeros, zeros, rew, val, val, disc, lam)
    assert ret.shape == (3, 6)
    assert torch.allclose(ret, nstep_lambda_return(rew, val, disc, lam))


def test_lambda_return_stops_at_terminal_and_last() -> None:
    rew = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    val = torch.tensor([[10.0, 10.0, 10.0, 10.0]])
    term = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    ret = lambda_return(torch.zeros_like(rew), term, rew, val, val, 1.0, 0.95)
    assert ret[0, 1].item() == pytest.approx(2.0)  # reward into the terminal state, no bootstrap
    last = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    boot = torch.tensor([[5.0, 6.0, 7.0, 8.0]])
    ret = lambda_return(last, torch.zeros_like(rew), rew, val, boot, 1.0, 0.95)
    assert ret[0, 1].item() == pytest.approx(2.0 + 7.0)  # episode boundary: bootstrap fully


def test_return_normalizer_tracks_percentiles_with_floor() -> None:
    norm = ReturnNormalizer(rate=0.5, limit=1.0, perclo=5.0, perchi=95.0)
    x = torch.linspace(0, 100, 1001)
    norm.update(x)
    lo, scale = norm.stats()
    assert lo.item() == pytest.approx(2.5, abs=1e-3)
    assert scale.item() == pytest.approx(0.5 * 95 - 0.5 * 5, abs=1e-3)
    small = ReturnNormalizer(rate=1.0, limit=1.0, perclo=5.0, perchi=95.0)
    small.update(torch.linspace(0, 0.1, 100))
    assert small.stats()[1].item() == 1.0  # small return ranges are not scaled up
    assert set(dict(norm.named_buffers())) == {"lo", "hi"}
