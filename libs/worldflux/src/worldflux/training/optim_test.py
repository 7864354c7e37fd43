import numpy as np
import pytest
import torch
from plugin_family.toy_family import ToyConfig, ToyWorldModel

from worldflux.core.errors import ContractError
from worldflux.core.model import OptimizerSpec
from worldflux.training.optim import LaProp, build_optimizer

torch.set_num_threads(1)


def reference_laprop(grads, lr, beta1, beta2, eps):
    """DreamerV3's chain written out in numpy: scale_by_rms, then scale_by_momentum."""
    param, mu, nu = 1.0, 0.0, 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        nu = beta2 * nu + (1 - beta2) * g * g
        u = g / (np.sqrt(nu / (1 - beta2**t)) + eps)
        mu = beta1 * mu + (1 - beta1) * u
        param -= lr * mu / (1 - beta1**t)
        out.append(param)
    return out


def test_laprop_matches_the_reference_update():
    grads = [0.5, -2.0, 3.0, 0.1, -0.7]
    param = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = LaProp([param], lr=0.1, betas=(0.9, 0.99), eps=1e-20)
    got = []
    for g in grads:
        param.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        got.append(float(param.detach()))
    np.testing.assert_allclose(got, reference_laprop(grads, 0.1, 0.9, 0.99, 1e-20), rtol=1e-12)


def test_laprop_differs_from_adam():
    """Adam averages raw gradients then normalises; LaProp normalises first."""
    grads = [0.5, -2.0, 3.0]
    results = []
    for cls in (LaProp, torch.optim.Adam):
        param = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        opt = cls([param], lr=0.1, betas=(0.9, 0.99), eps=1e-20)
        for g in grads:
            param.grad = torch.tensor([g], dtype=torch.float64)
            opt.step()
        results.append(float(param.detach()))
    assert abs(results[0] - results[1]) > 1e-3


def test_laprop_decoupled_weight_decay_shrinks_weights_without_gradient_signal():
    param = torch.nn.Parameter(torch.tensor([2.0]))
    opt = LaProp([param], lr=0.1, weight_decay=0.5)
    param.grad = torch.zeros(1)
    opt.step()
    assert float(param.detach()) == pytest.approx(2.0 * (1 - 0.1 * 0.5))


def test_laprop_rejects_bad_settings():
    with pytest.raises(ValueError):
        LaProp([torch.nn.Parameter(torch.zeros(1))], betas=(0.9, 1.0))


class ScaledToy(ToyWorldModel):
    family = "toy"
    spec_name = "adam"

    def optimizer_spec(self):
        return OptimizerSpec(name=self.spec_name, lr=1e-3, weight_decay=0.01)

    def parameter_groups(self):
        encoder = list(self.encoder.parameters())
        rest = [p for n, p in self.named_parameters() if not n.startswith("encoder.")]
        return [{"params": encoder, "lr_scale": 0.3}, {"params": rest, "lr_scale": 1.0}]


@pytest.mark.parametrize(
    "name, cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("laprop", LaProp)]
)
def test_build_optimizer_uses_spec_and_group_lr_scales(name, cls):
    model = ScaledToy(ToyConfig(obs_shape=(3,), action_dim=1))
    model.spec_name = name
    opt = build_optimizer(model)
    assert isinstance(opt, cls)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([3e-4, 1e-3])
    assert all(g["weight_decay"] == 0.01 for g in opt.param_groups)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_unknown_optimizer_is_rejected():
    model = ScaledToy(ToyConfig(obs_shape=(3,), action_dim=1))
    with pytest.raises(ContractError, match="unknown optimizer 'sgd'"):
        build_optimizer(model, OptimizerSpec(name="sgd"))


def test_groups_must_cover_every_trainable_parameter_once():
    model = ToyWorldModel(ToyConfig(obs_shape=(3,), action_dim=1))
    model.parameter_groups = lambda: [{"params": list(model.encoder.parameters())}]  # type: ignore[method-assign]
    with pytest.raises(ContractError, match="leaves trainable parameters out"):
        build_optimizer(model)
    encoder = list(model.encoder.parameters())
    model.parameter_groups = lambda: [  # type: ignore[method-assign]
        {"params": list(model.parameters())},
        {"params": encoder},
    ]
    with pytest.raises(ContractError, match="repeats a parameter"):
        build_optimizer(model)
    # Frozen parameters may be left out.
    for p in model.decoder.parameters():
        p.requires_grad_(False)
    model.parameter_groups = lambda: [  # type: ignore[method-assign]
        {"params": [p for n, p in model.named_parameters() if not n.startswith("decoder.")]}
    ]
    assert build_optimizer(model).param_groups[0]["lr"] == pytest.approx(3e-4)
