"""The vectorised Q ensemble: one batched matmul per layer, equal to a per-member loop."""

import pytest
import torch
from torch import nn

from worldflux.models.tdmpc2.ensemble import QEnsemble
from worldflux.models.tdmpc2.layers import NormedLinear

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def _randomised(ensemble: QEnsemble) -> QEnsemble:
    with torch.no_grad():
        for p in ensemble.parameters():
            p.normal_(0, 0.3)
    return ensemble


def _member(ensemble: QEnsemble, i: int) -> nn.Sequential:
    """Member i as the official per-member module: NormedLinear, NormedLinear, Linear."""
    d = ensemble.dims
    net = nn.Sequential(NormedLinear(d[0], d[1]), NormedLinear(d[1], d[2]), nn.Linear(d[2], d[3]))
    with torch.no_grad():
        for layer in range(3):
            net[layer].weight.copy_(getattr(ensemble, f"weight_{layer}")[i].T)
            net[layer].bias.copy_(getattr(ensemble, f"bias_{layer}")[i])
            if layer < 2:
                net[layer].ln.weight.copy_(getattr(ensemble, f"norm_weight_{layer}")[i])
                net[layer].ln.bias.copy_(getattr(ensemble, f"norm_bias_{layer}")[i])
    return net.eval()


def test_is_vectorised_not_a_module_list() -> None:
    ens = QEnsemble(10, [32, 32], 101, num_members=5, dropout=0.01)
    assert not any(isinstance(m, nn.ModuleList | nn.Linear) for m in ens.modules())
    assert ens.weight_0.shape == (5, 10, 32) and ens.weight_2.shape == (5, 32, 101)


def test_matches_a_per_member_loop() -> None:
    torch.manual_seed(0)
    ens = _randomised(QEnsemble(10, [32, 32], 101, num_members=5, dropout=0.01)).eval()
    x = torch.randn(4, 7, 10)
    out = ens(x)
    assert out.shape == (5, 4, 7, 101)
    loop = torch.stack([_member(ens, i)(x) for i in range(5)])
    assert torch.allclose(out, loop, atol=1e-5)
    assert not torch.allclose(out[0], out[1])  # members really differ


def test_official_init_zeroes_the_output_layer() -> None:
    ens = QEnsemble(10, [32, 32], 101, num_members=3)
    assert bool((ens.weight_2 == 0).all()) and bool((ens.bias_2 == 0).all())
    assert ens.weight_0.std().item() == pytest.approx(0.02, rel=0.1)


def test_dropout_only_in_training_and_never_for_targets() -> None:
    torch.manual_seed(0)
    ens = _randomised(QEnsemble(10, [32, 32], 8, num_members=4, dropout=0.5))
    ens.update_target(1.0)  # targets = online weights
    x = torch.randn(16, 10)
    ens.eval()
    clean = ens(x)
    ens.train()
    noisy = ens(x)
    assert not torch.allclose(noisy, clean)
    assert torch.allclose(ens(x, params=ens.target_params(), dropout=False), clean, atol=1e-6)


def test_each_member_draws_its_own_dropout_mask() -> None:
    torch.manual_seed(0)
    ens = _randomised(QEnsemble(10, [32, 32], 8, num_members=4, dropout=0.5))
    with torch.no_grad():
        for p in ens.parameters():
            p.copy_(p[:1].expand_as(p))  # four identical members
    x = torch.randn(16, 10)
    ens.eval()
    same = ens(x)
    assert torch.allclose(same[0], same[3])
    ens.train()
    out = ens(x)
    assert not torch.allclose(out[0], out[3])


def test_polyak_update_math() -> None:
    torch.manual_seed(0)
    ens = QEnsemble(6, [8, 8], 5, num_members=2)
    before = {k: v.clone() for k, v in ens.target_params().items()}
    assert all(torch.equal(before[k], p) for k, p in ens.named_parameters())
    with torch.no_grad():
        for p in ens.parameters():
            p.add_(torch.randn_like(p))
    online = {k: p.detach().clone() for k, p in ens.named_parameters()}
    ens.update_target(0.01)
    for k, target in ens.target_params().items():
        assert torch.allclose(target, 0.99 * before[k] + 0.01 * online[k], atol=1e-7)
    for _ in range(2000):
        ens.update_target(0.01)
    for k, target in ens.target_params().items():
        assert torch.allclose(target, online[k], atol=1e-6)


def test_targets_are_buffers_and_take_no_gradient() -> None:
    ens = _randomised(QEnsemble(6, [8, 8], 5, num_members=2))
    names = {n for n, _ in ens.named_buffers()}
    assert names == {f"target_{n}" for n, _ in ens.named_parameters()}
    out = ens(torch.randn(3, 6), params=ens.target_params())
    assert not out.requires_grad
    detached = ens(torch.randn(3, 6, requires_grad=True), params=ens.online_params(detach=True))
    detached.sum().backward()
    assert all(p.grad is None for p in ens.parameters())


def test_selected_members_equal_the_same_rows_of_the_full_ensemble() -> None:
    torch.manual_seed(0)
    ens = _randomised(QEnsemble(10, [32, 32], 101, num_members=5)).eval()
    ens.update_target(0.5)
    x = torch.randn(6, 10)
    pick = torch.tensor([4, 1])
    assert torch.allclose(ens(x, params=ens.online_params(members=pick)), ens(x)[pick], atol=1e-6)
    full_target = ens(x, params=ens.target_params(), dropout=False)
    subset = ens(x, params=ens.target_params(members=pick), dropout=False)
    assert torch.allclose(subset, full_target[pick], atol=1e-6)
