"""The SSM family's defining property: the parallel scan (training) and the recurrent step
(imagination) are the same dynamics; plus save/load parity."""

import torch

from worldflux.core import LatentState, WorldModel
from worldflux.models.ssm import SSM, SSMConfig
from worldflux.models.ssm.s4d import S4D, associative_scan


def model(**overrides) -> SSM:
    torch.manual_seed(0)
    return SSM(SSMConfig(obs_shape=(3,), action_dim=1, **overrides))


def test_associative_scan_matches_the_sequential_recurrence() -> None:
    g = torch.Generator().manual_seed(0)
    for length in (1, 2, 5, 8, 13):
        a, b = torch.rand(2, length, 3, generator=g), torch.randn(2, length, 3, generator=g)
        h, expected = torch.zeros(2, 3), []
        for t in range(length):
            h = a[:, t] * h + b[:, t]
            expected.append(h)
        assert torch.allclose(associative_scan(a, b), torch.stack(expected, 1), atol=1e-6)


def test_s4d_layer_parallel_equals_recurrent_from_a_nonzero_state() -> None:
    torch.manual_seed(0)
    layer = S4D(8, 16, 1e-3, 1e-1)
    u, h0 = torch.randn(3, 37, 8), torch.randn(3, 8, 16)
    y_par, h_par = layer.parallel(u, h0)
    h, ys, hs = h0, [], []
    for t in range(u.shape[1]):
        y, h = layer.step(u[:, t], h)
        ys.append(y)
        hs.append(h)
    assert torch.allclose(y_par, torch.stack(ys, 1), atol=1e-4)
    assert torch.allclose(h_par, torch.stack(hs, 1), atol=1e-4)


def test_training_path_equals_observe_step_by_step() -> None:
    """The loss's teacher-forced parallel pass gives the states and predictions that encode +
    observe (the recurrent path the gates and services use) reach step by step."""
    m = model()
    perturb_delta_head(m)
    obs, actions = torch.randn(2, 12, 3), torch.rand(2, 12, 1) * 2 - 1
    states, predicted, rewards = m.sequence(m.zero_state(2), obs, actions)
    state = m.encode(obs[:, 0])
    for t in range(11):
        h, o_pred, r = m.step(state["h"], state["obs"], actions[:, t])
        assert torch.allclose(h, states[:, t], atol=1e-4)
        assert torch.allclose(o_pred, predicted[:, t], atol=1e-4)
        assert torch.allclose(r, rewards[:, t], atol=1e-4)
        state = m.observe(state, actions[:, t], obs[:, t + 1])
    # and imagination from the same state continues the recurrent path
    rollout = m.rollout(state, actions[:, 11:])
    h, o_pred, r = m.step(state["h"], state["obs"], actions[:, 11])
    assert torch.allclose(rollout.latents["obs"][:, 0], o_pred, atol=1e-5)
    assert not torch.allclose(o_pred, state["obs"])  # the prediction is not copy-last


def perturb_delta_head(m: SSM) -> None:
    """The delta head starts at zero (copy-last); give it weights so that comparisons see it."""
    with torch.no_grad():
        m.delta[-1].weight.normal_(0.0, 0.5)


def test_an_untrained_model_predicts_copy_last() -> None:
    m = model()
    obs = torch.randn(4, 3)
    rollout = m.rollout(m.encode(obs), torch.rand(4, 5, 1))
    assert torch.equal(rollout.latents["obs"], obs[:, None].expand(4, 5, 3))


def test_a_reset_mask_restarts_the_state() -> None:
    m = model()
    perturb_delta_head(m)
    obs, actions = torch.randn(1, 8, 3), torch.rand(1, 8, 1)
    keep = torch.ones(1, 8)
    keep[0, 4] = 0.0
    _, joined, _ = m.sequence(m.zero_state(1), obs, actions, keep)
    _, fresh, _ = m.sequence(m.zero_state(1), obs[:, 4:], actions[:, 4:])
    _, carried, _ = m.sequence(m.zero_state(1), obs, actions)
    assert torch.allclose(joined[:, 4:], fresh, atol=1e-5)
    assert not torch.allclose(carried[:, 4:], fresh, atol=1e-5)  # without the reset: differs


def test_save_load_parity(tmp_path) -> None:
    m = model()
    perturb_delta_head(m)
    state = m.encode(torch.randn(2, 3))
    actions = torch.rand(2, 6, 1)
    before = m.rollout(state, actions)
    loaded = WorldModel.from_pretrained(m.save_pretrained(tmp_path / "ssm"))
    after = loaded.rollout(LatentState(dict(state.tensors)), actions)
    assert torch.equal(before.latents["obs"], after.latents["obs"])
    assert torch.equal(before.rewards, after.rewards)
