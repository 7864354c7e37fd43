"""Each loss term: finite, differentiable, weighted as the paper says, touching only its modules."""

import math

import pytest
import torch

from worldflux.core import Batch, ContractError
from worldflux.models.tdmpc2.fixtures_testutil import random_batch, small_model, train_steps
from worldflux.models.tdmpc2.loss import split_windows

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def _grads(loss: torch.Tensor, module: torch.nn.Module) -> list[torch.Tensor | None]:
    return list(
        torch.autograd.grad(loss, list(module.parameters()), retain_graph=True, allow_unused=True)
    )


def _touches(loss: torch.Tensor, module: torch.nn.Module) -> bool:
    return any(g is not None and bool(g.abs().sum() > 0) for g in _grads(loss, module))


def test_every_component_is_finite_and_differentiable() -> None:
    model = small_model()
    train_steps(model, 3)  # move Q and reward heads off their zero init
    batch = random_batch(model, seed=10)
    out = model.loss(batch)
    assert set(out.components) == {"consistency", "reward", "value"}  # pi: its own optimizer
    policy = model.optimizer_loss("policy", batch, out)
    assert set(policy.components) == {"pi"}
    out.check_finite()
    policy.check_finite()
    components = {**out.components, "pi": policy.total}
    expected = {
        "consistency": ("encoder", "dynamics"),
        "reward": ("reward_head", "encoder", "dynamics"),
        "value": ("q", "encoder", "dynamics"),
        "pi": ("pi_head",),
    }
    for name, modules in expected.items():
        for module in modules:
            assert _touches(components[name], getattr(model, module)), (name, module)


def test_policy_term_moves_no_q_parameter_and_the_model_terms_no_policy_parameter() -> None:
    model = small_model()
    train_steps(model, 3)
    batch = random_batch(model, seed=11)
    out = model.loss(batch)
    pi = model.optimizer_loss("policy", batch, out).total
    assert not out.aux["policy.latents"].requires_grad  # the policy trains on detached latents
    assert all(g is None for g in _grads(pi, model.q))
    for module in ("encoder", "dynamics", "reward_head"):
        assert all(g is None for g in _grads(pi, getattr(model, module)))
    for name in ("consistency", "reward", "value"):
        assert all(g is None for g in _grads(out.components[name], model.pi_head))


def test_total_is_the_weighted_world_model_loss_and_moves_no_policy_parameter() -> None:
    model = small_model()
    train_steps(model, 2)
    out = model.loss(random_batch(model, seed=12))
    c = out.components
    expected = 20 * c["consistency"] + 0.1 * c["reward"] + 0.1 * c["value"]
    assert out.total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert all(g is None for g in _grads(out.total, model.pi_head))


def test_evaluation_reports_the_policy_term_without_adding_it() -> None:
    model = small_model()
    train_steps(model, 2)
    model.eval()
    with torch.no_grad():
        out = model.loss(random_batch(model, seed=12))
    c = out.components
    assert "pi" in c and math.isfinite(c["pi"].item())
    expected = 20 * c["consistency"] + 0.1 * c["reward"] + 0.1 * c["value"]
    assert out.total.item() == pytest.approx(expected.item(), rel=1e-6)


def test_consistency_is_rho_weighted_and_averaged_over_the_horizon() -> None:
    model = small_model(rho=0.0).eval()  # rho 0: only the first step counts
    batch = random_batch(model, seq_len=4, seed=13)
    with torch.no_grad():
        out = model.loss(batch)
        z0 = model.encode_obs(batch.obs[:, 0])
        z1 = model.next(z0, model.normalize_action(batch.actions[:, 0]))
        first = torch.mean((z1 - model.encode_obs(batch.obs[:, 1])) ** 2)
    assert out.components["consistency"].item() == pytest.approx(first.item() / 3, rel=1e-5)


def test_rho_weights_later_steps_geometrically() -> None:
    model = small_model().eval()
    batch = random_batch(model, seq_len=3, seed=14)
    with torch.no_grad():
        z = model.encode_obs(batch.obs[:, 0])
        mse = []
        for t in range(2):
            z = model.next(z, batch.actions[:, t])
            mse.append(torch.mean((z - model.encode_obs(batch.obs[:, t + 1])) ** 2))
        out = model.loss(batch)
    expected = (mse[0] + 0.5 * mse[1]) / 2
    assert out.components["consistency"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_td_targets_use_the_min_of_two_target_qs_and_respect_continues() -> None:
    model = small_model(num_q=2, discount=0.9).eval()
    # Target member 0 predicts symlog 1 (bin 55), member 1 symlog 2 (bin 60); online stays 0.
    with torch.no_grad():
        model.q.target_bias_2.zero_()
        model.q.target_bias_2[0, 55] = 50.0
        model.q.target_bias_2[1, 60] = 50.0
    batch = random_batch(model, seq_len=4, seed=15)
    out = model.loss(batch)
    rewards = batch.rewards[:, :3]
    expected = rewards.mean() + 0.9 * math.expm1(1.0)
    assert out.metrics["td_target_mean"] == pytest.approx(expected.item(), rel=1e-4)
    ended = Batch(batch.obs, batch.actions, batch.rewards, torch.zeros(8, 4), batch.is_first)
    out = model.loss(ended)
    assert out.metrics["td_target_mean"] == pytest.approx(rewards.mean().item(), rel=1e-4)


def test_steps_after_an_episode_boundary_do_not_count() -> None:
    model = small_model().eval()
    batch = random_batch(model, seq_len=4, seed=16)
    batch.is_first[:, 2] = True  # obs 2 starts a new episode: only transition 0 is valid
    torch.manual_seed(0)
    before = model.loss(batch)
    changed = Batch(
        batch.obs.clone(), batch.actions, batch.rewards.clone(), batch.continues, batch.is_first
    )
    changed.obs[:, 2:] += 5.0
    changed.rewards[:, 1:] -= 3.0
    torch.manual_seed(0)
    after = model.loss(changed)
    assert before.metrics["valid_fraction"] == pytest.approx(1 / 3)
    for name in ("consistency", "reward", "value"):
        assert torch.allclose(before.components[name], after.components[name]), name


def test_running_scale_moves_in_training_only() -> None:
    model = small_model()
    train_steps(model, 5)
    batch = random_batch(model, seed=17)
    model.eval()
    with torch.no_grad():
        value = model.scale.value.clone()
        model.loss(batch)
    assert torch.equal(model.scale.value, value)
    model.train()
    with torch.no_grad():
        model.q.weight_2.normal_(0.0, 3.0)  # Qs spread over states -> percentile range > 1
    model.optimizer_loss("policy", batch, model.loss(batch))  # the policy update moves it
    assert not torch.equal(model.scale.value, value)


def test_episodic_config_adds_the_termination_term() -> None:
    model = small_model(episodic=True)
    batch = random_batch(model, seed=18)
    batch.continues[:, 1] = 0.0
    out = model.loss(batch)
    assert "termination" in out.components
    assert _touches(out.components["termination"], model.termination_head)
    out.check_finite()


def test_image_observations_train() -> None:
    model = small_model(obs_shape=(3, 64, 64), num_channels=8)
    out = model.loss(random_batch(model, batch_size=4, seq_len=3))
    out.total.backward()
    assert model.encoder.convs[0].weight.grad is not None
    out.check_finite()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.obs.__setitem__((0, 1, 0), float("nan")), "NaN"),
        (lambda b: b.rewards.__setitem__((0, 0), float("inf")), "rewards"),
    ],
)
def test_non_finite_inputs_are_clear_errors(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    model = small_model()
    batch = random_batch(model)
    mutate(batch)
    with pytest.raises(ContractError, match=message):
        model.loss(batch)


def test_bad_shapes_are_clear_errors() -> None:
    model = small_model()
    good = random_batch(model)
    with pytest.raises(ContractError, match="at least 2 steps"):
        model.loss(random_batch(model, seq_len=1))
    wrong_obs = Batch(
        torch.zeros(8, 4, 5), good.actions, good.rewards, good.continues, good.is_first
    )
    with pytest.raises(ContractError, match="batch.obs"):
        model.loss(wrong_obs)
    wrong_act = Batch(good.obs, torch.zeros(8, 4, 2), good.rewards, good.continues, good.is_first)
    with pytest.raises(ContractError, match="actions"):
        model.loss(wrong_act)


def _slice(batch: Batch, lo: int, hi: int) -> Batch:
    return Batch(
        batch.obs[:, lo:hi],
        batch.actions[:, lo:hi],
        batch.rewards[:, lo:hi],
        batch.continues[:, lo:hi],
        batch.is_first[:, lo:hi],
    )


def test_long_sequences_train_on_windows_of_the_official_horizon() -> None:
    model = small_model().eval()
    assert model.config.horizon == 3
    batch = random_batch(model, seq_len=7, seed=19)
    windows = split_windows(batch, 3)
    assert windows.obs.shape == (16, 4, 3)  # 8 sequences x windows starting at 0 and 3
    assert torch.equal(windows.obs[1], batch.obs[0, 3:7])
    with torch.no_grad():
        whole = model.loss(batch)
        first, second = model.loss(_slice(batch, 0, 4)), model.loss(_slice(batch, 3, 7))
    for name in ("consistency", "reward"):
        expected = (first.components[name] + second.components[name]) / 2
        assert whole.components[name].item() == pytest.approx(expected.item(), rel=1e-5), name
    assert split_windows(random_batch(model, seq_len=32), 3).obs.shape[:2] == (80, 4)
