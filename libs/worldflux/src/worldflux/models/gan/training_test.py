"""A short Trainer run on the bundled pendulum: held-out next-observation error falls, and the
stability measures stay healthy (the discriminator neither wins outright nor sits at chance, the
generator does not collapse, gradients stay finite)."""

import math

import torch

from worldflux.core import create_world_model
from worldflux.datasets import load_dataset
from worldflux.training import Trainer, TrainerConfig


def test_training_on_pendulum_improves_prediction_and_stays_stable() -> None:
    train = load_dataset("pendulum", "train")
    heldout = load_dataset("pendulum", "heldout")
    torch.manual_seed(0)
    model = create_world_model("gan:ci", **train.spec.model_kwargs(), lr=1e-3, disc_lr=4e-3)
    config = TrainerConfig(steps=200, batch_size=16, seq_len=8, eval_batches=2, progress=False,
                           tensorboard=False, threads=1)  # fmt: skip
    result = Trainer(model, config, train_data=train, eval_data=heldout).fit()
    before, after = result.initial_eval, result.final_eval
    print({k: (round(before[k], 4), round(after[k], 4)) for k in after})
    assert all(math.isfinite(v) for v in after.values()), after
    assert after["next_obs"] < 0.3 * before["next_obs"], (before, after)
    assert after["d_margin"] < 2.0, after  # the discriminator has not won outright (hinge)
    assert after["d_accuracy"] > 0.5, after  # ... nor is it blind to the generated steps
    assert 0.5 < after["spread_ratio"] < 2.0, after  # no collapse, no explosion
    norms = [h["grad_norm_discriminator"] for h in result.history]
    assert all(math.isfinite(v) for v in norms) and max(norms) > 0
