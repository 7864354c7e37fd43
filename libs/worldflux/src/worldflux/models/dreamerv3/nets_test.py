import pytest
import torch

from worldflux.models.dreamerv3.nets import MLP, BlockLinear, Linear, RMSNorm


def test_block_linear_is_block_diagonal() -> None:
    torch.manual_seed(0)
    layer = BlockLinear(16, 24, blocks=4)
    x = torch.randn(16)
    jac = torch.autograd.functional.jacobian(layer, x)  # [out, in]
    assert jac.shape == (24, 16)
    for i in range(4):
        for j in range(4):
            block = jac[6 * i : 6 * (i + 1), 4 * j : 4 * (j + 1)]
            if i == j:
                assert block.abs().sum() > 0
            else:
                assert torch.equal(block, torch.zeros_like(block))
    # Same map as the dense block-diagonal matrix.
    assert torch.allclose(layer(x), x @ layer.dense_weight() + layer.bias, atol=1e-6)
    assert sum(p.numel() for p in layer.parameters()) == 4 * 4 * 6 + 24


def test_block_linear_rejects_indivisible_sizes() -> None:
    with pytest.raises(ValueError, match="must divide by 8 blocks"):
        BlockLinear(12, 16, blocks=8)


def test_rms_norm_unit_rms_and_channel_dim() -> None:
    norm = RMSNorm(6, eps=0.0)
    x = torch.randn(5, 6) * 7
    y = norm(x)
    assert torch.allclose(y.square().mean(-1), torch.ones(5), atol=1e-4)
    assert sum(p.numel() for p in norm.parameters()) == 6  # scale only, no shift
    conv_norm = RMSNorm(3, eps=0.0, channel_dim=1)
    img = torch.randn(2, 3, 4, 4)
    out = conv_norm(img)
    assert torch.allclose(out.square().mean(1), torch.ones(2, 4, 4), atol=1e-4)


def test_initialisation_fan_in_and_zero_outscale() -> None:
    torch.manual_seed(0)
    layer = Linear(1000, 300)
    std = 1.1368 / 1000**0.5
    assert layer.weight.abs().max() <= 2 * std + 1e-7
    assert layer.weight.std().item() == pytest.approx(std * 0.88, rel=0.05)  # truncation
    assert torch.equal(layer.bias, torch.zeros(300))
    assert torch.equal(Linear(10, 4, outscale=0.0).weight, torch.zeros(4, 10))


def test_mlp_structure() -> None:
    mlp = MLP(5, layers=3, units=8)
    assert len(mlp) == 3 and mlp(torch.randn(2, 5)).shape == (2, 8)
