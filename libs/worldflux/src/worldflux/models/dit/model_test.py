"""DiT-family properties: adaLN-Zero makes every block the identity and the untrained network
output zero whatever the conditioning (the denoiser is then EDM's c_skip x); the noise level
and the action reach every block through the conditioning once the zero layers move; the
rollout samples frames of the right shape in [0, 1]; save/load parity."""

import torch

from worldflux.core import LatentState, WorldModel
from worldflux.models.dit import DiT, DiTConfig


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
    out = b(frames, frames, torch.randn(2), torch.randn(2, 1))
    assert torch.equal(out, torch.zeros_like(out))


def test_noise_level_and_action_condition_the_output_once_trained_off_zero() -> None:
    m = model()
    for block in m.backbone.blocks:
        torch.nn.init.normal_(block.ada[1].weight, std=0.1)
    torch.nn.init.normal_(m.backbone.final.linear.weight, std=0.1)
    frames = torch.rand(1, 3, 32, 32)
    base = m.backbone(frames, frames, torch.zeros(1), torch.zeros(1, 1))
    other_action = m.backbone(frames, frames, torch.zeros(1), torch.ones(1, 1))
    other_noise = m.backbone(frames, frames, torch.ones(1), torch.zeros(1, 1))
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
