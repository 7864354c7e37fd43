"""I-JEPA under the generic Trainer on bundled data: held-out representation prediction
improves against the mean-target baseline, and the embeddings do not collapse."""

import torch

from worldflux.core import create_world_model
from worldflux.datasets import load_dataset
from worldflux.models.jepa import JEPA
from worldflux.training import Trainer, TrainerConfig

torch.set_num_threads(1)


def heldout_errors(model: JEPA, heldout) -> tuple[float, float]:
    """(model MSE, mean-target MSE) of predict_targets on fixed held-out windows."""
    batch = heldout.sample(32, 4, torch.Generator().manual_seed(0))
    model.eval()
    out = model.predict_targets(batch.obs, batch.actions[:, 2:], 1)
    target = out["target"]
    model.train()
    return (
        float((out["predicted"] - target).square().mean()),
        float((target - target.mean(0)).square().mean()),
    )


def test_training_on_pendulum_improves_representation_prediction() -> None:
    train = load_dataset("pendulum", split="train", seed=0)
    heldout = load_dataset("pendulum", split="heldout", seed=0)
    torch.manual_seed(0)
    model = create_world_model("jepa:ci", **train.spec.model_kwargs(), momentum_steps=100)
    assert isinstance(model, JEPA)
    before, _ = heldout_errors(model, heldout)
    config = TrainerConfig(
        steps=100,
        batch_size=16,
        seq_len=4,
        seed=0,
        eval_batches=2,
        progress=False,
        tensorboard=False,
        threads=1,
    )
    result = Trainer(model, config, train, heldout).fit()
    after, mean_baseline = heldout_errors(model, heldout)
    assert after < 0.2 * before and after < 0.5 * mean_baseline, (before, after, mean_baseline)
    assert result.final_eval["representation_loss"] < result.initial_eval["representation_loss"]
    assert result.final_eval["embedding_std"] > 1e-3
