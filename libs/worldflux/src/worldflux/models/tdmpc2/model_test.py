"""The WorldModel interface: encode, rollout, propose, training hooks, checkpoints, devices."""

from pathlib import Path

import pytest
import torch

from worldflux.core import ContractError, LatentState, WorldModel, create_world_model
from worldflux.models.tdmpc2 import TDMPC2
from worldflux.models.tdmpc2.fixtures_testutil import random_batch, small_model, train_steps

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def test_encode_gives_simnorm_latents() -> None:
    model = small_model().eval()
    state = model.encode(torch.randn(5, 3))
    z = state["z"]
    assert z.shape == (5, 32)
    groups = z.reshape(5, 4, 8)
    assert bool((groups >= 0).all()) and torch.allclose(groups.sum(-1), torch.ones(5, 4))


@pytest.mark.parametrize(
    ("obs", "message"),
    [
        (torch.zeros(5, 4), "shape"),
        (torch.full((2, 3), float("nan")), "NaN"),
        (torch.zeros(3), "shape"),
    ],
)
def test_encode_rejects_bad_observations(obs: torch.Tensor, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        small_model().encode(obs)


def test_rollout_matches_the_components_step_by_step() -> None:
    model = small_model(action_low=-2.0, action_high=2.0).eval()
    train_steps(model, 3)
    model.eval()
    state = model.encode(torch.randn(2, 3))
    actions = 4 * torch.rand(6, 3, 1) - 2  # env units in [-2, 2]
    torch.manual_seed(7)
    out = model.rollout(state, actions)
    assert out.latents["z"].shape == (6, 3, 32)
    assert out.rewards is not None and out.rewards.shape == (6, 3)
    assert out.values is not None and out.values.shape == (6,)
    assert out.continues is None  # non-episodic: no continue head
    # Candidates are grouped per state: 0-2 start from state 0, 3-5 from state 1.
    z = state["z"].repeat_interleave(3, dim=0)
    a = actions / 2  # normalised to [-1, 1]
    with torch.no_grad():
        for t in range(3):
            assert torch.allclose(out.rewards[:, t], model.reward(z, a[:, t]), atol=1e-6)
            z = model.next(z, a[:, t])
            assert torch.allclose(out.latents["z"][:, t], z, atol=1e-6)
        torch.manual_seed(7)
        pi_action = model.pi(z).action
        both = model.twohot.decode(model.q_logits(z, pi_action))  # num_q 2: both are drawn
    assert out.values is not None and torch.allclose(out.values, both.mean(0), atol=1e-5)


def test_rollout_computes_the_shared_start_latents_once_per_state() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    model = small_model().eval()
    state = model.encode(torch.randn(1, 3))
    actions = 2 * torch.rand(64, 1, 1) - 1
    with torch.no_grad(), FlopCounterMode(display=False) as fast:
        model.rollout(state, actions)
    z = state["z"].repeat_interleave(64, dim=0)
    with torch.no_grad(), FlopCounterMode(display=False) as naive:
        model.reward(z, actions[:, 0])
        z1 = model.next(z, actions[:, 0])
        model.q_value(z1, model.pi(z1).action, reduce="avg")
    # The latent half of both first layers (2 x 64 x 32 x 64 multiply-adds) is done once.
    saved = naive.get_total_flops() - fast.get_total_flops()
    assert saved == 2 * 2 * 63 * 32 * 64


def test_rollout_rejects_bad_actions_and_states() -> None:
    model = small_model()
    state = model.encode(torch.randn(2, 3))
    with pytest.raises(ContractError, match="continuous actions"):
        model.rollout(state, torch.zeros(4, 3, 2))
    with pytest.raises(ContractError, match="evenly"):
        model.rollout(state, torch.zeros(3, 3, 1))
    with pytest.raises(ContractError, match="NaN"):
        model.rollout(state, torch.full((4, 3, 1), float("nan")))
    with pytest.raises(ContractError, match="'z'"):
        model.rollout(LatentState({"z": torch.zeros(2, 7)}), torch.zeros(2, 3, 1))


def test_propose_rolls_the_policy_through_the_dynamics() -> None:
    model = small_model(action_low=-2.0, action_high=2.0).eval()
    train_steps(model, 3)
    model.eval()
    state = model.encode(torch.randn(2, 3))
    torch.manual_seed(3)
    with torch.no_grad():
        plans = model.propose(state, horizon=3, num_samples=4)
    assert plans.shape == (8, 3, 1)
    assert bool((plans.abs() <= 2.0).all())
    torch.manual_seed(3)
    with torch.no_grad():
        z = state["z"].repeat_interleave(4, dim=0)
        a0 = model.pi(z).action
        a1 = model.pi(model.next(z, a0)).action
    assert torch.allclose(plans[:, 0], 2 * a0, atol=1e-6)
    assert torch.allclose(plans[:, 1], 2 * a1, atol=1e-6)
    with pytest.raises(ContractError, match="horizon"):
        model.propose(state, horizon=0, num_samples=4)


def test_spec_declares_value_and_policy_prior() -> None:
    spec = small_model(discount=0.975).spec
    assert spec.family == "tdmpc2" and spec.model_id == "tdmpc2:ci"
    assert spec.has_reward and spec.has_value and spec.has_policy_prior
    assert not spec.has_continue and spec.discount == 0.975
    assert dict(spec.latent) == {"z": (32,)}
    assert small_model(episodic=True).spec.has_continue


def test_episodic_rollout_predicts_continues() -> None:
    model = small_model(episodic=True).eval()
    out = model.rollout(model.encode(torch.randn(2, 3)), torch.zeros(4, 2, 1))
    assert out.continues is not None and out.continues.shape == (4, 2)
    assert set(out.continues.unique().tolist()) <= {0.0, 1.0}


def test_optimizer_hooks_follow_the_official_settings() -> None:
    model = small_model()
    spec = model.optimizer_spec()
    assert (spec.name, spec.lr, spec.clip, spec.clip_value) == ("adam", 3e-4, "norm", 20.0)
    groups = {g["name"]: g for g in model.parameter_groups()}
    assert groups["encoder"]["lr_scale"] == 0.3
    assert groups["world_model"]["lr_scale"] == 1.0 and groups["policy"]["lr_scale"] == 1.0
    assert {id(p) for p in groups["encoder"]["params"]} == {
        id(p) for p in model.encoder.parameters()
    }
    seen = [id(p) for g in groups.values() for p in g["params"]]
    assert sorted(seen) == sorted(id(p) for p in model.parameters())  # each exactly once


def test_after_optimizer_step_polyak_averages_the_targets() -> None:
    model = small_model()
    with torch.no_grad():
        model.q.weight_1.add_(1.0)
    before = model.q.target_weight_1.clone()
    model.after_optimizer_step(0)
    expected = 0.99 * before + 0.01 * model.q.weight_1.detach()
    assert torch.allclose(model.q.target_weight_1, expected, atol=1e-7)


def _forward_outputs(model: TDMPC2, obs: torch.Tensor, actions: torch.Tensor) -> list[torch.Tensor]:
    model.eval()
    torch.manual_seed(11)
    with torch.no_grad():
        state = model.encode(obs)
        rollout = model.rollout(state, actions)
        proposal = model.propose(state, 3, 2)
        loss = model.loss(random_batch(model, seed=99))
    assert rollout.rewards is not None and rollout.values is not None
    return [state["z"], rollout.latents["z"], rollout.rewards, rollout.values, proposal, loss.total]


def test_save_load_parity(tmp_path: Path) -> None:
    model = small_model()
    train_steps(model, 4)  # targets and the Q scale differ from their init
    model.scale.value.fill_(3.7)  # a running scale that a fresh model would not have
    obs, actions = torch.randn(2, 3), torch.rand(8, 3, 1) * 2 - 1
    before = _forward_outputs(model, obs, actions)
    model.save_pretrained(tmp_path / "ckpt")
    loaded = WorldModel.from_pretrained(tmp_path / "ckpt")
    assert isinstance(loaded, TDMPC2)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    after = _forward_outputs(loaded, obs, actions)
    for a, b in zip(before, after, strict=True):
        assert torch.equal(a, b)


def test_device_is_a_parameter() -> None:
    model = create_world_model("tdmpc2:ci", obs_shape=(3,), action_dim=1, device="cpu")
    assert model.device == torch.device("cpu")
    assert model.q.target_weight_0.device == torch.device("cpu")
    with torch.device("meta"):
        meta = create_world_model("tdmpc2:1m", obs_shape=(3,), action_dim=1)
    assert meta.device == torch.device("meta")
