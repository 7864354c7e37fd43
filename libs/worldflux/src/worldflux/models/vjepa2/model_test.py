"""V-JEPA 2: tubelet tokens, mask pipeline, EMA, save/load parity, and training on the bundled
push clips."""

from pathlib import Path

import pytest
import torch

from worldflux.core import Batch, WorldModel, create_world_model
from worldflux.datasets import load_dataset
from worldflux.models.jepa.tokens import IMAGENET_MEAN
from worldflux.models.vjepa2 import VJEPA2
from worldflux.training import Trainer, TrainerConfig

torch.set_num_threads(1)


def batch(obs_shape: tuple[int, ...], b: int = 4, t: int = 6, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        torch.rand(b, t, *obs_shape, generator=g),
        torch.rand(b, t, 2, generator=g) * 2 - 1,
        torch.zeros(b, t),
        torch.ones(b, t),
        torch.zeros(b, t, dtype=torch.bool),
    )


def model(obs_shape: tuple[int, ...] = (3, 32, 32), **kw: object) -> VJEPA2:
    torch.manual_seed(0)
    m = create_world_model("vjepa2:ci", obs_shape=obs_shape, action_dim=2, **kw)
    assert isinstance(m, VJEPA2)
    return m


def test_tubelets_are_two_frames_by_a_patch() -> None:
    m = model(patch_size=16)
    assert m.grid == (2, 2, 2)  # 4 frames / tubelet 2, 32 px / 16 px patches
    tokenizer = m.encoder.tokenizer
    assert tokenizer.embed.in_features == 2 * 3 * 16 * 16
    # the mean colour standardises to zero input (jepa.tokens: ImageNet normalisation)
    clip = torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1).repeat(1, 4, 1, 32, 32)
    clip[0, 2, :, :16, 16:] = 1.0  # frame 2 (second tubelet), top-right patch
    tokens = tokenizer(clip) - tokenizer.embed.bias
    changed = tokens.abs().sum(-1)[0].nonzero().flatten().tolist()
    assert changed == [4 + 1]  # time step 1, row 0, column 1


@pytest.mark.parametrize("obs_shape", [(3, 32, 32), (6,)])
def test_loss_masks_and_shapes(obs_shape) -> None:
    m = model(obs_shape)
    b = batch(obs_shape)
    out = m.loss(b)
    assert torch.isfinite(out.total) and 0.0 < out.metrics["mask_ratio"] < 1.0
    out.total.backward()
    assert all(p.grad is None for p in m.target_encoder.parameters())
    assert m.encode(b.obs[:, 0])["z"].shape == (4, m.config.embed_dim)
    pred = m.predict_targets(b.obs, b.actions[:, 2:], 1)
    assert pred["predicted"].shape == pred["target"].shape == pred["context"].shape


def test_ema_uses_the_paper_momentum() -> None:
    m = model()
    online, target = next(m.encoder.parameters()), next(m.target_encoder.parameters())
    with torch.no_grad():
        online.add_(1.0)
    before = target.clone()
    m.after_optimizer_step(1)
    assert torch.allclose(target, 0.99925 * before + 0.00075 * online)


def test_save_and_reload_give_identical_outputs(tmp_path: Path) -> None:
    m = model()
    b = batch((3, 32, 32))
    again = WorldModel.from_pretrained(m.save_pretrained(tmp_path / "vjepa2"))
    m.eval(), again.eval()
    assert torch.equal(m.encode(b.obs[:, 0])["z"], again.encode(b.obs[:, 0])["z"])
    one, two = m.predict_targets(b.obs, b.actions, 1), again.predict_targets(b.obs, b.actions, 1)
    assert all(torch.equal(one[k], two[k]) for k in one)


def test_training_on_bundled_push_clips_improves_masked_prediction() -> None:
    train = load_dataset("push", split="train", seed=0)
    heldout = load_dataset("push", split="heldout", seed=0)
    torch.manual_seed(0)
    m = create_world_model("vjepa2:ci", **train.spec.model_kwargs())
    probe = heldout.sample(16, 6, torch.Generator().manual_seed(0))

    def error() -> float:
        m.eval()
        out = m.predict_targets(probe.obs, probe.actions, 0)
        m.train()
        return float((out["predicted"] - out["target"]).square().mean())

    before = error()
    config = TrainerConfig(
        steps=60,
        batch_size=8,
        seq_len=4,
        seed=0,
        eval_batches=2,
        progress=False,
        tensorboard=False,
        threads=1,
    )
    result = Trainer(m, config, train, heldout).fit()
    assert error() < 0.5 * before
    assert result.final_eval["representation_loss"] < result.initial_eval["representation_loss"]
    assert 0.0 < result.final_eval["mask_ratio"] < 1.0
