"""A short Trainer run on pendulum: the held-out denoising error (the diffusion gate's trend
metric) falls at every reported noise level, and one imagined step lands closer to the true next
observation than copying the last one does."""

import torch

import worldflux.models.catalog  # noqa: F401
from worldflux.core import create_world_model
from worldflux.datasets import load_dataset
from worldflux.training import Trainer, TrainerConfig


def one_step_error(model, batch) -> tuple[float, float]:
    """(imagined next-observation MSE, copy-last MSE) from 4 observed steps."""
    model.eval()
    with torch.no_grad():
        state = model.encode(batch.obs[:, 0])
        for t in range(1, 4):
            state = model.observe(state, batch.actions[:, t - 1], batch.obs[:, t])
        torch.manual_seed(0)
        rollout = model.rollout(state, batch.actions[:, 3:4])
        pred = rollout.latents["frames"][:, 0, -1]
    target = batch.obs[:, 4]
    return float((pred - target).square().mean()), float((batch.obs[:, 3] - target).square().mean())


def test_denoising_error_falls_and_imagination_beats_copy_last() -> None:
    train, heldout = load_dataset("pendulum", "train"), load_dataset("pendulum", "heldout")
    torch.manual_seed(0)
    model = create_world_model("diffusion:ci", **train.spec.model_kwargs(), lr=1e-3)
    probe = heldout.sample(64, 6, torch.Generator().manual_seed(1))
    before, copy_last = one_step_error(model, probe)
    config = TrainerConfig(steps=250, batch_size=16, seq_len=8, eval_batches=2, progress=False,
                           tensorboard=False, threads=1)  # fmt: skip
    result = Trainer(model, config, train_data=train, eval_data=heldout).fit()
    first, last = result.initial_eval, result.final_eval
    for name in ("denoise_error", "denoise_error_sigma0.1", "denoise_error_sigma0.5",
                 "denoise_error_sigma2"):  # fmt: skip
        assert last[name] < 0.5 * first[name], (name, first[name], last[name])
    after, _ = one_step_error(model, probe)
    assert after < before and after < copy_last, (before, after, copy_last)
