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


def _small_trainer(steps: int = 2) -> tuple[TDMPC2, Trainer]:
    train = load_dataset("pendulum", split="train", seed=0)
    model = create_world_model("tdmpc2:ci", **train.spec.model_kwargs())
    assert isinstance(model, TDMPC2)
    config = TrainerConfig(
        steps=steps, batch_size=8, seq_len=4, seed=0, eval_batches=0, progress=False, threads=1
    )
    return model, Trainer(model, config, train_data=train)


def test_policy_updates_after_the_world_model_step_with_the_new_q_weights() -> None:
    """Official order: optimizer step on the world model, then update_pi on detached latents."""
    model, trainer = _small_trainer()
    trainer.fit(until=1)  # move the Q heads off their zero-initialised output layer
    before = model.q.weight_2.detach().clone()
    seen: dict[str, torch.Tensor] = {}
    original = model.optimizer_loss

    def spy(name, batch, first):  # type: ignore[no-untyped-def]
        seen["q"] = model.q.weight_2.detach().clone()
        seen["latents_grad"] = torch.tensor(first.aux["policy.latents"].requires_grad)
        return original(name, batch, first)

    model.optimizer_loss = spy  # type: ignore[method-assign]
    metrics = trainer.train_step()
    assert not torch.equal(seen["q"], before)  # the world-model step came first
    assert torch.equal(seen["q"], model.q.weight_2)  # and the policy step moved no Q weight
    assert not bool(seen["latents_grad"])
    assert {"pi", "grad_norm", "grad_norm_policy"} <= set(metrics)


def test_world_model_and_policy_gradients_are_clipped_separately(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each of the two official optimizers clips its own gradients at 20."""
    import worldflux.training.trainer as trainer_module

    calls: list[tuple[set[int], str, float]] = []
    real = trainer_module.clip_gradients

    def record(params, kind, value):  # type: ignore[no-untyped-def]
        calls.append(({id(p) for p in params}, kind, value))
        return real(params, kind, value)

    monkeypatch.setattr(trainer_module, "clip_gradients", record)
    model, trainer = _small_trainer()
    trainer.train_step()
    policy = {id(p) for p in model.pi_head.parameters()}
    world = {id(p) for p in model.parameters() if p.requires_grad} - policy
    assert calls == [(world, "norm", 20.0), (policy, "norm", 20.0)]
