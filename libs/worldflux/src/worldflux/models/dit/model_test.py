"""DiT-family properties: adaLN-Zero makes every block the identity and the untrained network
output zero whatever the conditioning (the denoiser is then EDM's c_skip x, so an untrained
model, which denoises the change from the current frame, repeats the current frame); the noise
level and the action reach the output once the zero layers move; the state keeps the last
`context_frames` frames, and training contexts are padded at a window's or an episode's start
as `encode` pads a fresh state; the rollout samples frames of the right shape in [0, 1];
save/load parity."""

import pytest
import torch

from worldflux.core import ContractError, LatentState, WorldModel
from worldflux.models.dit import DiT, DiTConfig
from worldflux.models.dit.loss import context_windows


def model() -> DiT:
    torch.manual_seed(0)
    return DiT(DiTConfig(obs_shape=(3, 32, 32), action_dim=1))


def test_adaln_zero_starts_every_block_as_the_identity() -> None:
    m = model()
    b = m.backbone
    x = torch.randn(2, 16, b.width)
    c = b.condition(torch.randn(2), torch.randn(2, 1))
    for block in b.blocks:
        assert torch.equal(block(x, c), x)
    frames = torch.rand(2, 3, 32, 32)
    context = torch.rand(2, 6, 32, 32)  # two observed frames
    out = b(frames, context, torch.randn(2), torch.randn(2, 1))
    assert torch.equal(out, torch.zeros_like(out))


def test_an_untrained_model_repeats_the_current_frame() -> None:
    m = DiT(DiTConfig(obs_shape=(3, 32, 32), action_dim=1, sampling_steps=1))
    state = m.encode(torch.rand(3, 3, 32, 32))
    torch.manual_seed(0)
    frames = m.rollout(state, torch.rand(3, 2, 1)).latents["frame"]
    # c_skip at sigma_max 5 is 0.0006: the sampled change is about zero.
    assert (frames - state["frame"][:, None]).abs().max() < 0.01
    residual_off = DiT(
        DiTConfig(obs_shape=(3, 32, 32), action_dim=1, sampling_steps=1, residual=False)
    )
    torch.manual_seed(0)
    frames = residual_off.rollout(residual_off.encode(state["frame"]), torch.rand(3, 2, 1))
    assert (frames.latents["frame"] - state["frame"][:, None]).abs().max() > 0.1


def test_the_state_keeps_the_last_frames_oldest_first() -> None:
    m = model()
    first, second, third = torch.rand(3, 2, 3, 32, 32).unbind(0)
    state = m.encode(first)
    assert torch.equal(state["history"], first[:, None]) and torch.equal(state["frame"], first)
    state = m.observe(m.observe(state, torch.zeros(2, 1), second), torch.zeros(2, 1), third)
    assert torch.equal(state["history"], second[:, None]) and torch.equal(state["frame"], third)
    rollout = m.rollout(state, torch.rand(2, 3, 1))
    assert rollout.latents["history"].shape == (2, 3, 1, 3, 32, 32)
    assert torch.equal(rollout.latents["history"][:, 0, 0], third)
    assert torch.equal(rollout.latents["history"][:, 1, 0], rollout.latents["frame"][:, 0])
    with pytest.raises(ContractError, match="history"):
        m.rollout(LatentState({"frame": third}), torch.rand(2, 3, 1))


def test_training_contexts_stop_at_the_window_and_episode_start() -> None:
    frames = torch.arange(5.0).view(1, 5, 1).expand(2, 5, 1).clone()  # frame t holds t
    is_first = torch.tensor([[False] * 5, [False, False, True, False, False]])
    stacks = context_windows(frames, is_first, 3)[..., 0]  # [B, T, K]
    assert stacks[0].tolist() == [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4]]
    assert stacks[1].tolist() == [[0, 0, 0], [0, 0, 1], [2, 2, 2], [2, 2, 3], [2, 3, 4]]


def test_noise_level_and_action_condition_the_output_once_trained_off_zero() -> None:
    m = model()
    for block in m.backbone.blocks:
        torch.nn.init.normal_(block.ada[1].weight, std=0.1)
    torch.nn.init.normal_(m.backbone.final.linear.weight, std=0.1)
    frames, context = torch.rand(1, 3, 32, 32), torch.rand(1, 6, 32, 32)
    base = m.backbone(frames, context, torch.zeros(1), torch.zeros(1, 1))
    other_action = m.backbone(frames, context, torch.zeros(1), torch.ones(1, 1))
    other_noise = m.backbone(frames, context, torch.ones(1), torch.zeros(1, 1))
    assert not torch.allclose(base, other_action)
    assert not torch.allclose(base, other_noise)


def test_rollout_samples_frames_and_save_load_parity(tmp_path) -> None:
    m = model()
    state = m.encode(torch.rand(2, 3, 32, 32))
    actions = torch.rand(4, 2, 1)
    torch.manual_seed(1)
    before = m.rollout(state, actions)
    frames = before.latents["frame"].detach()
    assert frames.shape == (4, 2, 3, 32, 32)
    assert float(frames.min()) >= 0.0 and float(frames.max()) <= 1.0
    loaded = WorldModel.from_pretrained(m.save_pretrained(tmp_path / "dit"))
    torch.manual_seed(1)
    after = loaded.rollout(LatentState(dict(state.tensors)), actions)
    assert torch.equal(frames, after.latents["frame"])
    assert torch.equal(before.rewards, after.rewards)
