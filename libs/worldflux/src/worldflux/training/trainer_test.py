"""Trainer behaviour on the toy family and the real bundled pendulum data."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from plugin_family.toy_family import ToyConfig, ToyWorldModel

from worldflux.core.errors import CheckpointError, ContractError, NonFiniteLossError
from worldflux.core.model import OptimizerSpec
from worldflux.datasets import load_dataset
from worldflux.datasets.episodes import concat_episodes, episode_rows
from worldflux.datasets.sequence import SequenceDataset
from worldflux.datasets.spec import DatasetSpec
from worldflux.serialization import load_pretrained
from worldflux.training import Callback, ReplayBuffer, Trainer, TrainerConfig, seed_everything
from worldflux.training import progress as progress_module

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


@pytest.fixture(scope="module")
def pendulum(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return load_dataset("pendulum", "train", cache_dir=cache), load_dataset(
        "pendulum", "heldout", cache_dir=cache
    )


class NoisyToy(ToyWorldModel):
    """Toy with DreamerV3's optimizer settings and a loss that draws from the global torch
    RNG (like latent sampling), so a resume that lost any RNG state would diverge."""

    family = "toy"

    def optimizer_spec(self):
        return OptimizerSpec(
            name="laprop", lr=3e-3, eps=1e-20, clip="agc", clip_value=0.3, warmup_steps=5
        )

    def parameter_groups(self):
        encoder = list(self.encoder.parameters())
        rest = [p for n, p in self.named_parameters() if not n.startswith("encoder.")]
        return [{"params": encoder, "lr_scale": 0.3}, {"params": rest}]

    def loss(self, batch):
        noisy = batch.obs + 0.01 * torch.randn_like(batch.obs)
        return super().loss(dataclasses.replace(batch, obs=noisy))


def toy(cls=ToyWorldModel, seed: int = 0):
    seed_everything(seed)
    return cls(ToyConfig(obs_shape=(3,), action_dim=1))


def config(**overrides) -> TrainerConfig:
    base = dict(steps=20, batch_size=8, seq_len=8, eval_batches=2, progress=False)
    return TrainerConfig(**{**base, **overrides})


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


class FastToy(ToyWorldModel):
    family = "toy"

    def optimizer_spec(self):
        return OptimizerSpec(lr=3e-3)


def test_heldout_loss_falls_on_pendulum(pendulum):
    """Train on the train split, evaluate on held-out episodes (measured: 10.6 -> 0.4)."""
    train, heldout = pendulum
    trainer = Trainer(
        toy(FastToy), config(steps=100, batch_size=16, seq_len=16, eval_batches=4), train, heldout
    )
    result = trainer.fit()
    first, last = result.initial_eval, result.final_eval
    assert set(first) >= {"total", "recon", "dynamics", "reward"}
    assert last["total"] < 0.25 * first["total"], (first, last)
    assert last["recon"] < first["recon"] and last["reward"] < first["reward"]
    assert result.steps == 100 and len(result.history) == 100
    assert result.steps_per_second > 0 and result.seconds > 0


def test_same_seed_same_losses_bit_for_bit(pendulum):
    train, heldout = pendulum
    runs = [
        Trainer(toy(seed=s), config(seed=s, deterministic=True), train, heldout).fit()
        for s in (0, 0, 1)
    ]
    totals = [[h["total"] for h in r.history] for r in runs]
    assert totals[0] == totals[1]  # exact float equality, every step
    assert runs[0].final_eval == runs[1].final_eval
    assert totals[0] != totals[2]
    assert not torch.are_deterministic_algorithms_enabled()  # restored after fit


def test_resumed_run_matches_uninterrupted_run(pendulum, tmp_path):
    train, heldout = pendulum
    settings = dict(steps=24, eval_every=5, schedule="cosine", deterministic=True)
    straight = Trainer(toy(NoisyToy), config(**settings), train, heldout)
    expected = straight.fit()

    out = tmp_path / "run"
    first = Trainer(toy(NoisyToy), config(output_dir=out, **settings), train, heldout)
    first.fit(until=12)
    assert (out / "checkpoint" / "trainer.json").is_file()
    # A new process would start from fresh weights and fresh RNGs: so does this Trainer.
    torch.manual_seed(1234)
    np.random.seed(1234)
    resumed = Trainer(toy(NoisyToy, seed=77), config(output_dir=out, **settings), train, heldout)
    assert resumed.step == 12
    result = resumed.fit()

    assert result.history == expected.history  # every loss component, lr and grad norm
    assert result.final_eval == expected.final_eval
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    for p, q in zip(straight.params, resumed.params, strict=True):
        a, b = straight.optimizer.state[p], resumed.optimizer.state[q]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def feed(replay: ReplayBuffer, source: SequenceDataset, index: int) -> None:
    ep = source.episodes
    start, length = int(ep.starts[index]), int(ep.lengths[index])
    replay.add_rows(**{k: v[start : start + length] for k, v in ep.arrays().items()})


class FeedReplay(Callback):
    """Simulated online collection: adds one episode per step, chosen by the step number."""

    def __init__(self, source: SequenceDataset) -> None:
        self.source = source

    def on_step_end(self, trainer, step, metrics):
        feed(trainer.train_data, self.source, step % 10)


def test_resume_restores_replay_contents_and_cursor(pendulum, tmp_path):
    _, heldout = pendulum

    def run(out, until=None, seed_model=0):
        replay = ReplayBuffer.for_spec(heldout.spec, capacity=700)  # evicts as it fills
        feed(replay, heldout, 0)
        cfg = config(steps=10, output_dir=out)
        trainer = Trainer(toy(seed=seed_model), cfg, replay, None, [FeedReplay(heldout)])
        return trainer, trainer.fit(until=until)

    straight, expected = run(tmp_path / "a")
    run(tmp_path / "b", until=4)
    resumed, result = run(tmp_path / "b", seed_model=5)
    assert result.history == expected.history
    assert resumed.train_data.cursor == straight.train_data.cursor
    assert torch.equal(resumed.train_data.obs, straight.train_data.obs)


class NaNAt(ToyWorldModel):
    family = "toy"
    bad_step = 3
    calls = 0

    def loss(self, batch):
        out = super().loss(batch)
        type(self).calls += 1
        if type(self).calls == self.bad_step:
            out.components["reward"] = out.components["reward"] * math.nan
        return out


def test_nan_loss_stops_with_step_and_component(pendulum):
    train, _ = pendulum
    NaNAt.calls = 0
    trainer = Trainer(toy(NaNAt), config(steps=10), train)
    before = {}

    class Snapshot(Callback):
        def on_step_end(self, t, step, metrics):
            before.update(weights(t.model))

    trainer.callbacks.append(Snapshot())
    with pytest.raises(NonFiniteLossError, match="'reward' is nan at step 3") as info:
        trainer.fit()
    assert (info.value.step, info.value.component) == (3, "reward")
    assert trainer.step == 2
    after = weights(trainer.model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # the bad step changed nothing


class InfGrad(ToyWorldModel):
    family = "toy"

    def loss(self, batch):
        out = super().loss(batch)
        bad = torch.sqrt(self.reward[0].weight.sum() * 0.0)  # finite value, infinite gradient
        return type(out)(out.total + bad, out.components)


def test_infinite_gradient_stops_before_the_update(pendulum):
    train, _ = pendulum
    trainer = Trainer(toy(InfGrad), config(), train)
    start = weights(trainer.model)
    with pytest.raises(NonFiniteLossError, match="grad_norm.*step 1"):
        trainer.fit()
    assert all(torch.equal(start[k], v) for k, v in weights(trainer.model).items())


class Recorder(Callback):
    def __init__(self, stop_at=None):
        self.steps, self.evals, self.checkpoints = [], [], []
        self.stop_at = stop_at

    def on_step_end(self, trainer, step, metrics):
        assert {"total", "lr", "grad_norm"} <= set(metrics)
        self.steps.append(step)
        if step == self.stop_at:
            trainer.should_stop = True

    def on_eval(self, trainer, step, metrics):
        self.evals.append(step)

    def on_checkpoint(self, trainer, step, path):
        assert Path(path, "trainer.json").is_file()
        self.checkpoints.append(step)


def test_periodic_checkpoints_without_a_directory_are_refused_before_training(pendulum):
    train, _ = pendulum
    with pytest.raises(ContractError, match="checkpoint_every needs output_dir"):
        Trainer(toy(), config(steps=10, checkpoint_every=3), train)
    Trainer(toy(), config(steps=10, checkpoint_every=0), train).fit()  # none asked: fine


def test_callbacks_see_steps_evals_checkpoints_and_can_stop(pendulum, tmp_path):
    train, heldout = pendulum
    recorder = Recorder()
    cfg = config(steps=10, eval_every=4, checkpoint_every=3, output_dir=tmp_path)
    Trainer(toy(), cfg, train, heldout, [recorder]).fit()
    assert recorder.steps == list(range(1, 11))
    assert recorder.evals == [0, 4, 8, 10]
    assert recorder.checkpoints == [3, 6, 9, 10]

    stopper = Recorder(stop_at=4)
    result = Trainer(toy(), config(steps=10), train, heldout, [stopper]).fit()
    assert stopper.steps == [1, 2, 3, 4] and result.steps == 4


def test_logs_and_resume_after_a_crash_do_not_duplicate_rows(pendulum, tmp_path):
    train, heldout = pendulum

    class Crash(Callback):
        def on_step_end(self, trainer, step, metrics):
            if step == 10:
                raise KeyboardInterrupt

    cfg = config(steps=14, log_every=1, eval_every=5, checkpoint_every=8, output_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        Trainer(toy(), cfg, train, heldout, [Crash()]).fit()
    rows = (tmp_path / "train.csv").read_text().splitlines()
    assert rows[0].split(",")[:2] == ["step", "total"] and len(rows) == 11  # logged 1..10
    result = Trainer(toy(), cfg, train, heldout).fit()
    steps = [int(r.split(",")[0]) for r in (tmp_path / "train.csv").read_text().splitlines()[1:]]
    assert steps == list(range(1, 15))
    evals = [int(r.split(",")[0]) for r in (tmp_path / "eval.csv").read_text().splitlines()[1:]]
    assert evals == [0, 5, 10, 14]
    assert [e["step"] for e in result.eval_history] == [0, 5, 10, 14]
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_final_model_is_saved_and_reloads_exactly(pendulum, tmp_path):
    import plugin_family.toy_family  # noqa: F401  (registers the family load_pretrained needs)

    train, _ = pendulum
    trainer = Trainer(toy(), config(steps=5, output_dir=tmp_path), train)
    trainer.fit()
    loaded = load_pretrained(tmp_path / "model")
    obs = torch.randn(4, 3)
    assert torch.equal(loaded.encode(obs)["z"], trainer.model.encode(obs)["z"])


def test_evaluation_uses_fixed_batches_and_leaves_training_alone(pendulum):
    train, heldout = pendulum
    trainer = Trainer(toy(), config(), train, heldout)
    assert trainer.evaluate() == trainer.evaluate()
    quiet = Trainer(toy(), config(eval_every=0), train, heldout).fit()
    busy = Trainer(toy(), config(eval_every=1), train, heldout).fit()
    assert busy.history == quiet.history
    assert len(busy.eval_history) == 21


def test_group_lr_scales_and_warmup_reach_the_optimizer(pendulum):
    train, _ = pendulum
    trainer = Trainer(toy(NoisyToy), config(steps=7), train)
    lrs = []

    class Lr(Callback):
        def on_step_end(self, t, step, metrics):
            lrs.append([g["lr"] for g in t.optimizer.param_groups])

    trainer.callbacks.append(Lr())
    result = trainer.fit()
    # Warmup over 5 steps to the spec's lr, each group at its lr_scale.
    warm = [3e-3 * k / 5 for k in (1, 2, 3, 4, 5)] + [3e-3, 3e-3]
    assert [h["lr"] for h in result.history] == pytest.approx(warm)
    assert lrs[0] == pytest.approx([0.3 * 3e-3 * 2 / 5, 3e-3 * 2 / 5])  # after step 1
    assert lrs[-1] == pytest.approx([0.3 * 3e-3, 3e-3])


def tiny_dataset(obs_dim: int, discrete: bool) -> SequenceDataset:
    obs = np.zeros((11, obs_dim), np.float32)
    actions = np.zeros(10, np.int64) if discrete else np.zeros((10, 1), np.float32)
    episodes = concat_episodes([episode_rows(obs, actions, np.zeros(10, np.float32), False)])
    kind = "discrete" if discrete else "continuous"
    spec = DatasetSpec("tiny", (obs_dim,), 2 if discrete else 1, kind, "vector", 1, 11)
    return SequenceDataset(spec, episodes)


def test_data_that_cannot_feed_the_model_fails_before_training():
    with pytest.raises(ContractError, match="train_data does not fit model toy:ci.*shape"):
        Trainer(toy(), config(), tiny_dataset(4, discrete=False))
    with pytest.raises(ContractError, match="eval_data does not fit.*continuous actions"):
        Trainer(toy(), config(), tiny_dataset(3, False), tiny_dataset(3, discrete=True))
    with pytest.raises(ContractError, match="seq_len 20 is longer than every episode"):
        Trainer(toy(), config(seq_len=20), tiny_dataset(3, False))


def test_corrupt_or_foreign_checkpoints_are_clear_errors(pendulum, tmp_path):
    train, _ = pendulum
    Trainer(toy(), config(steps=3, output_dir=tmp_path), train).fit()
    weights_file = tmp_path / "checkpoint" / "model.safetensors"
    original = weights_file.read_bytes()
    weights_file.write_bytes(original[:-100])
    with pytest.raises(CheckpointError, match="model.safetensors: sha256 does not match"):
        Trainer(toy(), config(steps=6, output_dir=tmp_path), train)
    weights_file.write_bytes(original)
    wide = ToyWorldModel(ToyConfig(obs_shape=(3,), action_dim=1, hidden_dim=64))
    with pytest.raises(CheckpointError, match="fingerprint"):
        Trainer(wide, config(steps=6, output_dir=tmp_path), train)
    # resume=False ignores the checkpoint and starts over.
    assert Trainer(wide, config(steps=6, output_dir=tmp_path, resume=False), train).step == 0


@pytest.mark.parametrize(
    "bad", [{"steps": 0}, {"batch_size": -1}, {"seq_len": 2.5}, {"schedule": "linear"}]
)
def test_config_validation(bad):
    with pytest.raises(ContractError):
        config(**bad)


def test_progress_bar_only_on_a_terminal_and_long_runs(monkeypatch):
    from rich.console import Console

    assert not progress_module.ProgressBar(1000, 0, enabled=True).active  # pytest: no TTY
    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    bar = progress_module.ProgressBar(1000, 0, enabled=True)
    assert bar.active
    bar.update(10, 1.5)
    bar.close()
    assert not progress_module.ProgressBar(1000, 0, enabled=False).active
    assert not progress_module.ProgressBar(50, 0, enabled=True).active
