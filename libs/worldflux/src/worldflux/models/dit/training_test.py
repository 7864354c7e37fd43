"""A short Trainer run on the bundled pendulum pixels: the held-out denoise error (the diffusion
gate's trend metric) falls at every fixed noise level, and the reward head learns. The model
denoises the change from the current frame, so even untrained it is near copy-last (denoise
error about 0.006, not a frame model's 0.4): the fall is a few percent to a fifth per level."""

import math

import torch

from worldflux.core import create_world_model
from worldflux.datasets import load_dataset
from worldflux.training import Trainer, TrainerConfig


def test_training_on_pendulum_pixels_lowers_the_denoise_error() -> None:
    train = load_dataset("pendulum-pixels", "train")
    heldout = load_dataset("pendulum-pixels", "heldout")
    torch.manual_seed(0)
    model = create_world_model("dit:ci", **train.spec.model_kwargs(), lr=1e-3)
    config = TrainerConfig(steps=80, batch_size=8, seq_len=3, eval_batches=2, progress=False,
                           tensorboard=False, threads=1)  # fmt: skip
    result = Trainer(model, config, train_data=train, eval_data=heldout).fit()
    before, after = result.initial_eval, result.final_eval
    print({k: (round(before[k], 4), round(after[k], 4)) for k in after})
    assert all(math.isfinite(v) for v in after.values()), after
    assert after["denoise_error"] < 0.95 * before["denoise_error"], (before, after)
    assert after["reward"] < 0.5 * before["reward"], (before, after)
    for level in ("0.1", "0.5", "2"):
        key = f"denoise_error_sigma{level}"
        assert after[key] < before[key], (key, before, after)
