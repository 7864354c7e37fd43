"""A short Trainer run on the bundled scene3d views: the held-out novel-view error (frames of
the encoded frame's scene from poses the encoder never saw) falls; on i.i.d. noise frames of
the same shapes it never gets below the error of the training mean frame. (Beating the mean
frame clearly takes a few hundred steps: the docs page and the gate run show it.)"""

import math

import torch

from worldflux.core import create_world_model
from worldflux.datasets import load_dataset
from worldflux.training import Trainer, TrainerConfig

STEPS = 30


def train(dataset: str) -> tuple[dict[str, float], dict[str, float], float]:
    """Initial and final held-out evaluations, and the held-out error of the mean frame on
    the same novel views."""
    data, heldout = load_dataset(dataset, "train"), load_dataset(dataset, "heldout")
    torch.manual_seed(0)
    model = create_world_model("renderer3d:ci", **data.spec.model_kwargs(), lr=6e-3)
    config = TrainerConfig(steps=STEPS, batch_size=8, seq_len=5, eval_batches=4,
                           progress=False, tensorboard=False, threads=1)  # fmt: skip
    result = Trainer(model, config, train_data=data, eval_data=heldout).fit()
    gen = torch.Generator().manual_seed(0)
    mean = torch.cat([data.sample(32, 4, gen).obs.flatten(0, 1) for _ in range(4)]).mean(0)
    batch = heldout.sample(64, 6, torch.Generator().manual_seed(1))
    episode = batch.is_first.float().cumsum(1)
    keep = (episode[:, 2:] == episode[:, 1:2]).float()
    error = (batch.obs[:, 2:] - mean).square().mean((2, 3, 4))
    return result.initial_eval, result.final_eval, float((error * keep).sum() / keep.sum())


def test_training_on_scene3d_lowers_the_novel_view_error() -> None:
    before, after, mean_frame = train("scene3d")
    print({k: (round(before[k], 5), round(after[k], 5)) for k in after}, mean_frame)
    assert all(math.isfinite(v) for v in after.values()), after
    assert after["novel_view_error"] < 0.9 * before["novel_view_error"], (before, after)
    assert after["render"] < 0.9 * before["render"], (before, after)


def test_noise_frames_never_beat_the_mean_frame() -> None:
    before, after, mean_frame = train("scene3d-noise")
    print({k: (round(before[k], 5), round(after[k], 5)) for k in after}, mean_frame)
    assert math.isfinite(after["novel_view_error"])
    assert after["novel_view_error"] > 0.98 * mean_frame, (after, mean_frame)
