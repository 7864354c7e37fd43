"""Physics-family properties: the closed-form potential gradient is autograd's, leapfrog with
zero action conserves the learned Hamiltonian over long rollouts (bounded error, no drift) and
is time-reversible; save/load parity."""

import pytest
import torch

from worldflux.core import ContractError, LatentState, WorldModel
from worldflux.models.physics import Physics, PhysicsConfig
from worldflux.models.physics.hamiltonian import Potential


def model(**overrides) -> Physics:
    torch.manual_seed(0)
    return Physics(PhysicsConfig(obs_shape=(3,), action_dim=1, **overrides))


@pytest.mark.parametrize("periodic", [False, True])
def test_closed_form_potential_gradient_matches_autograd(periodic: bool) -> None:
    torch.manual_seed(0)
    potential = Potential(3, 16, 2, periodic)
    q = 3 * torch.randn(5, 3, requires_grad=True)
    value, grad = potential(q)
    (expected,) = torch.autograd.grad(value.sum(), q)
    assert torch.allclose(grad, expected, atol=1e-6)


@pytest.mark.parametrize(("angle_coords", "signed_inv_mass"), [(False, None), (True, None),
                                                              (True, -1.3)])  # fmt: skip
def test_leapfrog_conserves_the_learned_energy_and_is_reversible(
    angle_coords: bool, signed_inv_mass: float | None
) -> None:
    m = model(angle_coords=angle_coords, signed_mass=signed_inv_mass is not None)
    with torch.no_grad():
        z0 = m.encode(torch.randn(16, 3))["z"].double()
        assert m.hamiltonian is not None
        h = m.hamiltonian.double()
        if signed_inv_mass is not None:
            h.log_inv_mass.fill_(signed_inv_mass)
        zero = torch.zeros(16, 1, dtype=torch.float64)
        z, energies = z0, [h.energy(z0)]
        for _ in range(2000):
            z = h.leapfrog(z, zero, 0.05, 2)
            energies.append(h.energy(z))
        e = torch.stack(energies, 1)
        error = (e - e[:, :1]).abs()
        # bounded: the last quarter's error is no larger than the first quarter's (no drift)
        assert float(error.max()) < 1e-2 * float(e.abs().mean() + 1)
        assert float(error[:, 1500:].max()) <= 2 * float(error[:, :500].max()) + 1e-12
        # reversible: flip the momenta, integrate back, flip again
        q, p = z.split(m.config.coords, -1)
        back = torch.cat([q, -p], -1)
        for _ in range(2000):
            back = h.leapfrog(back, zero, 0.05, 2)
        q, p = back.split(m.config.coords, -1)
        assert torch.allclose(torch.cat([q, -p], -1), z0, atol=1e-6)


def test_signed_mass_starts_at_zero_and_may_turn_negative() -> None:
    m = model(signed_mass=True, coords=1)
    assert m.hamiltonian is not None
    z = torch.tensor([[0.3, 1.0]])
    zero = torch.zeros(1, 1)
    with torch.no_grad():
        assert float(m.hamiltonian.inv_mass()) == 0.0  # no orientation assumed: q starts still
        assert float(m.hamiltonian.leapfrog(z, zero, 0.05, 2)[0, 0]) == pytest.approx(0.3)
        m.hamiltonian.log_inv_mass.fill_(-2.0)
        # a negative inverse mass moves q against p, and H's kinetic term is negative
        assert float(m.hamiltonian.inv_mass()) == -2.0
        stepped = m.hamiltonian.leapfrog(z, zero, 0.05, 2)
        assert float(stepped[0, 0]) < 0.3 - 0.05
        kinetic = m.hamiltonian.energy(z) - m.hamiltonian.potential(z[:, :1])[0]
        assert float(kinetic) == pytest.approx(-1.0)
    # it needs a training signal: the inverse mass gets a gradient at zero
    m.hamiltonian.log_inv_mass.data.zero_()
    m.hamiltonian.leapfrog(z, zero, 0.05, 2)[0, 0].backward()
    assert m.hamiltonian.log_inv_mass.grad is not None
    assert float(m.hamiltonian.log_inv_mass.grad.abs()) > 0
    plain = model(coords=1)  # default: exp(parameter), never negative
    assert plain.hamiltonian is not None
    with torch.no_grad():
        plain.hamiltonian.log_inv_mass.fill_(-2.0)
        assert float(plain.hamiltonian.inv_mass()) > 0


def test_angle_coordinates_are_periodic() -> None:
    m = model(angle_coords=True)
    obs = torch.randn(4, 3)
    z = m.encode(obs)["z"]
    q, p = z.split(m.config.coords, -1)
    assert float(q.detach().abs().max()) <= torch.pi
    turned = LatentState({"z": torch.cat([q + 2 * torch.pi, p], -1)})
    # a full turn of every angle is the same state: same observation, reward and dynamics
    assert torch.allclose(m.decode(turned), m.decode(LatentState({"z": z})), atol=1e-5)
    action = torch.rand(4, 1)
    assert torch.allclose(m.reward(turned["z"], action), m.reward(z, action), atol=1e-5)
    assert torch.allclose(m.step(turned["z"], action) - m.step(z, action),
                          torch.cat([torch.full_like(q, 2 * torch.pi), torch.zeros_like(p)], -1),
                          atol=1e-4)  # fmt: skip
    plain = model()
    plain_z = plain.encode(obs)["z"]
    plain_turned = plain_z + torch.cat([torch.full_like(q, 2 * torch.pi), torch.zeros_like(p)], -1)
    assert not torch.allclose(plain.decode(LatentState({"z": plain_turned})),
                              plain.decode(LatentState({"z": plain_z})), atol=1e-2)  # fmt: skip


def test_save_load_parity(tmp_path) -> None:
    for dynamics in ("hamiltonian", "mlp"):
        m = model(dynamics=dynamics)
        state = m.encode(torch.randn(2, 3))
        actions = torch.rand(2, 6, 1)
        before = m.rollout(state, actions)
        loaded = WorldModel.from_pretrained(m.save_pretrained(tmp_path / dynamics))
        after = loaded.rollout(LatentState(dict(state.tensors)), actions)
        assert torch.equal(before.latents["z"], after.latents["z"])
        assert torch.equal(before.rewards, after.rewards)


def reward_only_grads(reward_on_predicted: bool) -> tuple[dict[str, torch.Tensor], set[str]]:
    """Gradients of the reward term alone (the other coefficients zero) on a random batch."""
    from worldflux.core import Batch

    m = model(recon_coef=0.0, predict_coef=0.0, reward_coef=1.0,
              reward_on_predicted=reward_on_predicted)  # fmt: skip
    g = torch.Generator().manual_seed(1)
    batch = Batch(
        obs=torch.randn(4, 6, 3, generator=g),
        actions=torch.rand(4, 6, 1, generator=g) * 2 - 1,
        rewards=torch.randn(4, 6, generator=g),
        continues=torch.ones(4, 6),
        is_first=torch.zeros(4, 6, dtype=torch.bool),
    )
    out = m.loss(batch)
    out.total.backward()
    grads = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
    return grads, set(out.components)


def test_reward_on_predicted_latents_leaves_the_dynamics_untouched() -> None:
    with_pred, components = reward_only_grads(True)
    without, plain_components = reward_only_grads(False)
    assert "reward_predicted" in components and "reward_predicted" not in plain_components
    # the reward term never reaches the Hamiltonian or its force (predicted latents detached)
    assert not any(n.startswith("hamiltonian.") and float(v.abs().max()) > 0
                   for n, v in with_pred.items())  # fmt: skip
    # ...but it does train the reward head on the predicted latents: its gradient changes
    head = "reward_head.0.weight"
    assert not torch.allclose(with_pred[head], without[head])
    # the encoder's gradient comes from the encoded-latent term only, halved by the average
    assert torch.allclose(with_pred["encoder.0.weight"], 0.5 * without["encoder.0.weight"],
                          atol=1e-7)  # fmt: skip


def test_reward_standardisation_is_fitted_once_on_the_first_training_batch(tmp_path) -> None:
    from worldflux.core import Batch

    def batch(scale: float, shift: float) -> Batch:
        g = torch.Generator().manual_seed(2)
        return Batch(
            obs=torch.randn(4, 6, 3, generator=g),
            actions=torch.rand(4, 6, 1, generator=g) * 2 - 1,
            rewards=shift + scale * torch.randn(4, 6, generator=g),
            continues=torch.ones(4, 6),
            is_first=torch.zeros(4, 6, dtype=torch.bool),
        )

    m = model(reward_norm=True)
    m.eval()
    m.loss(batch(5.0, -8.0))  # evaluation never fits it
    assert float(m.reward_loc) == 0.0 and float(m.reward_scale) == 1.0
    m.train()
    first = batch(5.0, -8.0)
    m.loss(first)
    assert torch.isclose(m.reward_loc, first.rewards.mean())
    assert torch.isclose(m.reward_scale, first.rewards.std())
    m.loss(batch(1.0, 3.0))  # later batches leave it
    assert torch.isclose(m.reward_loc, first.rewards.mean())
    z, a = torch.randn(3, 4), torch.rand(3, 1)
    head = m.reward_head(torch.cat([z, a], -1)).squeeze(-1)
    assert torch.allclose(m.reward(z, a), m.reward_loc + m.reward_scale * head)
    loaded = WorldModel.from_pretrained(m.save_pretrained(tmp_path / "norm"))
    assert isinstance(loaded, Physics)
    assert torch.equal(loaded.reward(z, a), m.reward(z, a))
    plain = model()  # off by default
    plain.loss(first)
    assert float(plain.reward_loc) == 0.0 and float(plain.reward_scale) == 1.0


def reward_batch():
    from worldflux.core import Batch

    g = torch.Generator().manual_seed(4)
    return Batch(
        obs=torch.randn(4, 6, 3, generator=g),
        actions=torch.rand(4, 6, 1, generator=g) * 2 - 1,
        rewards=torch.randn(4, 6, generator=g),
        continues=torch.ones(4, 6),
        is_first=torch.zeros(4, 6, dtype=torch.bool),
    )


def test_reward_read_from_the_decoded_observation_trains_only_the_head() -> None:
    m = model(reward_input="obs", recon_coef=0.0, predict_coef=0.0, reward_coef=1.0)
    z, a = torch.randn(5, 4), torch.rand(5, 1)
    head = m.reward_head(torch.cat([m.decode_z(z), a], -1)).squeeze(-1)
    assert torch.allclose(m.reward(z, a), head)
    m.loss(reward_batch()).total.backward()
    touched = {n.split(".")[0] for n, p in m.named_parameters()
               if p.grad is not None and float(p.grad.abs().max()) > 0}  # fmt: skip
    # the reward's gradient trains the head and nothing it reads through
    assert touched == {"reward_head"}, touched
    # with the default (latent input) the same term reaches the encoder
    plain = model(recon_coef=0.0, predict_coef=0.0, reward_coef=1.0)
    plain.loss(reward_batch()).total.backward()
    assert plain.encoder[0].weight.grad is not None
    assert float(plain.encoder[0].weight.grad.abs().max()) > 0
    with pytest.raises(ContractError, match="reward_input"):
        model(reward_input="pixels")


def test_eval_mode_reads_the_averaged_weights(tmp_path) -> None:
    m = model(ema_decay=0.9)
    assert m.averaged is not None
    trained = {id(p) for g in m.parameter_groups() for p in g["params"]}
    assert not any(id(p) in trained or p.requires_grad for p in m.averaged.parameters())
    obs, actions = torch.randn(3, 3), torch.rand(3, 5, 1)

    def outputs() -> tuple[torch.Tensor, torch.Tensor]:
        out = m.rollout(m.encode(obs), actions)
        return m.decode(LatentState(dict(out.latents))), out.rewards

    m.eval()
    before = outputs()
    start = [p.clone() for p in m.averaged.parameters()]
    with torch.no_grad():
        for p in m.parameters():
            if p.requires_grad:
                p.add_(1.0)
    # the online weights moved; eval mode still computes with the average
    assert all(torch.equal(x, y) for x, y in zip(outputs(), before, strict=True))
    m.train()
    assert not torch.allclose(outputs()[0], before[0])
    m.after_optimizer_step(0)  # decay ramps from (1 + 0) / (10 + 0) = 0.1
    for avg, old in zip(m.averaged.parameters(), start, strict=True):
        torch.testing.assert_close(avg, old + 0.9)
    m.after_optimizer_step(10**6)  # the ramp is capped at ema_decay
    for avg, old in zip(m.averaged.parameters(), start, strict=True):
        torch.testing.assert_close(avg, old + 0.9 + 0.1 * (1 - 0.9))
    m.eval()
    moved = outputs()
    assert not torch.allclose(moved[0], before[0])
    loaded = WorldModel.from_pretrained(m.save_pretrained(tmp_path / "ema"))
    loaded.eval()
    out = loaded.rollout(loaded.encode(obs), actions)
    assert torch.equal(out.rewards, moved[1])
    plain = model()  # off by default: eval mode computes with the online weights
    assert plain.averaged is None
    plain.eval()
    z = plain.encode(obs)["z"]
    with torch.no_grad():
        plain.encoder[0].bias.add_(1.0)
    assert not torch.allclose(plain.encode(obs)["z"], z)
    with pytest.raises(ContractError, match="ema_decay"):
        model(ema_decay=1.0)
    with pytest.raises(ContractError, match="ema_warmup"):
        model(ema_decay=0.9, ema_warmup=1.0)


def test_averaging_ramp_follows_ema_warmup() -> None:
    m = model(ema_decay=0.999, ema_warmup=4.0)
    assert m.averaged is not None
    start = [p.clone() for p in m.averaged.parameters()]
    with torch.no_grad():
        for p in m.parameters():
            if p.requires_grad:
                p.add_(1.0)
    m.after_optimizer_step(2)  # decay (1 + 2) / (4 + 2) = 0.5
    for avg, old in zip(m.averaged.parameters(), start, strict=True):
        torch.testing.assert_close(avg, old + 0.5)


def test_activation_option_sets_the_mlps_but_not_the_potential() -> None:
    m = model(activation="silu")
    for net in (m.encoder, m.decoder, m.reward_head):
        assert any(isinstance(layer, torch.nn.SiLU) for layer in net)
        assert not any(isinstance(layer, torch.nn.Tanh) for layer in net)
    # V(q) stays tanh: its closed-form gradient assumes it
    assert m.hamiltonian is not None
    z = torch.randn(4, 4, requires_grad=True)
    q = z[:, :2]
    value, grad = m.hamiltonian.potential(q)
    (expected,) = torch.autograd.grad(value.sum(), q)
    assert torch.allclose(grad, expected, atol=1e-6)
    assert not any(isinstance(layer, torch.nn.SiLU) for layer in model().encoder)
    with pytest.raises(ContractError, match="activation"):
        model(activation="relu6")


def test_adam_beta2_reaches_the_optimizer() -> None:
    from worldflux.training.optim import build_optimizer

    m = model(adam_beta2=0.99)
    assert m.optimizer_spec().betas == (0.9, 0.99)
    assert build_optimizer(m).param_groups[0]["betas"] == (0.9, 0.99)
    assert build_optimizer(model()).param_groups[0]["betas"] == (0.9, 0.999)
    with pytest.raises(ContractError, match="adam_beta2"):
        model(adam_beta2=1.0)


def test_reward_activation_sets_the_reward_head_only() -> None:
    m = model(activation="silu", reward_input="obs", reward_activation="relu")
    assert any(isinstance(layer, torch.nn.ReLU) for layer in m.reward_head)
    assert not any(isinstance(layer, torch.nn.SiLU) for layer in m.reward_head)
    for net in (m.encoder, m.decoder):
        assert any(isinstance(layer, torch.nn.SiLU) for layer in net)
        assert not any(isinstance(layer, torch.nn.ReLU) for layer in net)
    # "" (the default) follows `activation`
    default = model(activation="silu", reward_input="obs")
    assert any(isinstance(layer, torch.nn.SiLU) for layer in default.reward_head)
    with pytest.raises(ContractError, match="reward_activation"):
        model(reward_activation="gelu")


def test_relu_reward_head_fits_the_pendulum_reward_kink_that_a_smooth_head_rounds_off() -> None:
    """-(theta^2) with theta = atan2(sin, cos) bends at theta = +-pi: fitted the same way, the
    ReLU head's error there is a fraction of the SiLU head's."""
    theta = torch.linspace(-torch.pi, torch.pi, 401)
    inputs = torch.stack([theta.cos(), theta.sin(), *torch.zeros(2, 401)], -1)  # obs, action
    target = -theta.square()
    errors = {}
    for head in ("", "relu"):
        m = model(activation="silu", reward_input="obs", reward_activation=head)
        optimizer = torch.optim.Adam(m.reward_head.parameters(), lr=5e-3)
        for _ in range(300):
            loss = (m.reward_head(inputs).squeeze(-1) - target).square().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            err = (m.reward_head(inputs).squeeze(-1) - target).square()
        errors[head or "silu"] = float(err[theta.abs() > 3.0].mean())
    assert errors["relu"] < 0.2 * errors["silu"], errors
