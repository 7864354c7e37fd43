"""TD-MPC2 under the generic Trainer on bundled pendulum data: held-out loss falls."""

from pathlib import Path

import torch

from worldflux.core import WorldModel, create_world_model
from worldflux.datasets import load_dataset
from worldflux.models.tdmpc2 import TDMPC2, discount_for_episode_length
from worldflux.training import Trainer, TrainerConfig

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


def test_trainer_fits_pendulum_and_held_out_loss_falls(tmp_path: Path) -> None:
    train = load_dataset("pendulum", split="train", seed=0)
    heldout = load_dataset("pendulum", split="heldout", seed=0)
    episode_length = train.spec.num_steps // train.spec.num_episodes - 1
    model = create_world_model(
        "tdmpc2:ci",
        **train.spec.model_kwargs(),
        discount=discount_for_episode_length(episode_length),
    )
    assert isinstance(model, TDMPC2) and model.spec.discount == 0.975
    targets_before = model.q.target_weight_2.clone()
    config = TrainerConfig(
        steps=120,
        batch_size=64,
        seq_len=4,  # horizon 3, as the official config
        seed=0,
        eval_batches=2,
        output_dir=str(tmp_path / "run"),
        progress=False,
        tensorboard=False,
        threads=1,
    )
    trainer = Trainer(model, config, train_data=train, eval_data=heldout)
    groups = {g["name"]: g for g in trainer.optimizer.param_groups}
    assert groups["encoder"]["lr"] == 0.3 * 3e-4 and groups["world_model"]["lr"] == 3e-4
    assert groups["policy"]["eps"] == 1e-5
    result = trainer.fit()

    first, last = result.initial_eval, result.final_eval
    assert last["total"] < 0.9 * first["total"], (first, last)
    assert last["reward"] < first["reward"] and last["value"] < first["value"]
    for row in result.history:
        assert all(torch.isfinite(torch.tensor(v)) for v in row.values())
    # after_optimizer_step ran: the Polyak targets moved off their initial copy.
    assert not torch.equal(model.q.target_weight_2, targets_before)
    # The trained model saved by the Trainer reloads with identical weights and buffers.
    reloaded = WorldModel.from_pretrained(tmp_path / "run" / "model")
    for key, value in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value), key
