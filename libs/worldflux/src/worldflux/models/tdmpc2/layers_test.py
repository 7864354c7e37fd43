"""SimNorm on the simplex per group, NormedLinear's layer order, the MLP and pixel encoders."""

import torch
import torch.nn.functional as F
from torch import nn

from worldflux.models.tdmpc2.layers import (
    NormedLinear,
    PixelEncoder,
    ShiftAug,
    SimNorm,
    conv_out_size,
    mlp,
)

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def test_simnorm_puts_each_group_of_8_on_the_simplex() -> None:
    x = torch.randn(5, 7, 64) * 10
    y = SimNorm(8)(x)
    groups = y.reshape(5, 7, 8, 8)
    assert bool((groups >= 0).all())
    assert torch.allclose(groups.sum(-1), torch.ones(5, 7, 8), atol=1e-6)
    # Groups are independent: changing one group leaves the others untouched.
    x2 = x.clone()
    x2[..., :8] += 3.0 * torch.randn(5, 7, 8)
    assert torch.equal(SimNorm(8)(x2)[..., 8:], y[..., 8:])
    assert not torch.allclose(SimNorm(8)(x2)[..., :8], y[..., :8])


def test_simnorm_cpu_layout_is_the_groupwise_softmax_with_its_gradient() -> None:
    x = (torch.randn(3, 536, 64) * 5).requires_grad_(True)
    y = SimNorm(8)(x)
    expected = torch.softmax(x.reshape(3, 536, 8, 8), dim=-1).reshape(3, 536, 64)
    torch.testing.assert_close(y, expected)
    w = torch.randn_like(y)
    (g,) = torch.autograd.grad((y * w).sum(), x)
    (expected_g,) = torch.autograd.grad((expected * w).sum(), x)
    torch.testing.assert_close(g, expected_g)


def test_normed_linear_is_linear_dropout_layernorm_mish() -> None:
    torch.manual_seed(0)
    layer = NormedLinear(6, 16, dropout=0.5)
    x = torch.randn(4, 6)
    layer.eval()
    expected = F.mish(F.layer_norm(F.linear(x, layer.weight, layer.bias), (16,)))
    assert torch.allclose(layer(x), expected, atol=1e-6)
    layer.train()
    torch.manual_seed(1)
    dropped = layer(x)
    torch.manual_seed(1)
    manual = F.mish(layer.ln(F.dropout(F.linear(x, layer.weight, layer.bias), 0.5, True)))
    assert torch.allclose(dropped, manual, atol=1e-6)


def test_mlp_structure_matches_the_official_builder() -> None:
    net = mlp(10, [32, 32], 5)
    assert [type(m) for m in net] == [NormedLinear, NormedLinear, nn.Linear]
    enc = mlp(10, [32], 16, act=SimNorm(8))
    assert isinstance(enc[-1], NormedLinear) and isinstance(enc[-1].act, SimNorm)
    out = enc(torch.randn(3, 10))
    assert torch.allclose(out.reshape(3, 2, 8).sum(-1), torch.ones(3, 2), atol=1e-6)


def test_pixel_encoder_matches_the_official_conv_shapes() -> None:
    assert conv_out_size(64) == 4  # 32 channels x 4 x 4 = 512 = latent of the 5m size
    torch.manual_seed(0)
    exact = PixelEncoder((3, 64, 64), 32, 512, 8)
    assert isinstance(exact.proj, nn.Identity)
    projected = PixelEncoder((3, 64, 64), 8, 32, 8).eval()
    z = projected(torch.rand(2, 3, 64, 64))
    assert z.shape == (2, 32)
    assert torch.allclose(z.reshape(2, 4, 8).sum(-1), torch.ones(2, 4), atol=1e-6)


def test_shift_aug_shifts_in_training_only() -> None:
    aug = ShiftAug(pad=3)
    x = torch.rand(16, 3, 64, 64)
    aug.eval()
    assert torch.equal(aug(x), x)
    aug.train()
    torch.manual_seed(0)
    shifted = aug(x)
    assert shifted.shape == x.shape
    assert not torch.allclose(shifted, x)
    # A shift moves pixels, it does not invent values: the range stays within the input's.
    assert shifted.min() >= x.min() - 1e-5 and shifted.max() <= x.max() + 1e-5
