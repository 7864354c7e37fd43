import pytest
import torch

from worldflux.core.errors import ContractError
from worldflux.training.clip import clip_grad_agc_, clip_gradients


def param(value: list[float], grad: list[float]) -> torch.nn.Parameter:
    p = torch.nn.Parameter(torch.tensor(value))
    p.grad = torch.tensor(grad)
    return p


def test_agc_clips_each_tensor_relative_to_its_own_norm():
    big = param([3.0, 4.0], [30.0, 40.0])  # ||p|| = 5, ||g|| = 50 > 0.3 * 5
    small = param([3.0, 4.0], [0.3, 0.4])  # ||g|| = 0.5 <= 1.5: untouched
    norm = clip_grad_agc_([big, small], clip=0.3)
    assert float(norm) == pytest.approx((50.0**2 + 0.5**2) ** 0.5)
    assert float(big.grad.norm()) == pytest.approx(1.5)
    assert torch.allclose(big.grad / big.grad.norm(), torch.tensor([0.6, 0.8]))  # direction kept
    assert torch.equal(small.grad, torch.tensor([0.3, 0.4]))


def test_agc_floor_lets_zero_initialised_parameters_move():
    zero = param([0.0, 0.0], [3.0, 4.0])
    clip_grad_agc_([zero], clip=0.3, floor=1e-3)
    assert float(zero.grad.norm()) == pytest.approx(0.3 * 1e-3)


def test_norm_clipping_is_global():
    a, b = param([1.0], [3.0]), param([1.0], [4.0])
    norm = clip_gradients([a, b], "norm", 1.0)
    assert float(norm) == pytest.approx(5.0)
    assert float(a.grad) == pytest.approx(0.6, rel=1e-5) and float(b.grad) == pytest.approx(
        0.8, rel=1e-5
    )


def test_none_only_measures():
    a = param([1.0], [3.0])
    assert float(clip_gradients([a], "none", 0.0)) == pytest.approx(3.0)
    assert float(a.grad) == 3.0


def test_unknown_clip_kind():
    with pytest.raises(ContractError, match="unknown gradient clipping"):
        clip_gradients([param([1.0], [1.0])], "value", 1.0)
