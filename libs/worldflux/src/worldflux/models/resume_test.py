"""Both reference families resume exactly: a run stopped at its checkpoint and continued by a
fresh Trainer (fresh weights, other RNG states, as a new process would have) ends where the
uninterrupted run ends. Catches family state kept outside state_dict (target networks, running
scales, return normalisers, slow critics) and RNG streams the checkpoint does not restore."""

from pathlib import Path

import numpy as np
import pytest
import torch

# Imported so that Pants ships both families with the test (created below by name).
import worldflux.models.dreamerv3
import worldflux.models.tdmpc2  # noqa: F401
from worldflux.core import WorldModel, create_world_model
from worldflux.datasets import load_dataset
from worldflux.training import Trainer, TrainerConfig, seed_everything

torch.set_num_threads(1)  # tiny models: extra threads only add contention on shared CPUs


@pytest.fixture(scope="module")
def pendulum():
    return load_dataset("pendulum", "train", seed=0), load_dataset("pendulum", "heldout", seed=0)


def fresh(model_id: str, kwargs: dict, seed: int) -> WorldModel:
    seed_everything(seed)
    return create_world_model(model_id, **kwargs)


def config(output_dir: Path | None) -> TrainerConfig:
    return TrainerConfig(
        steps=8,
        batch_size=4,
        seq_len=8,
        eval_batches=1,
        eval_every=4,
        deterministic=True,
        seed=0,
        output_dir=str(output_dir) if output_dir else None,
        progress=False,
        tensorboard=False,
        threads=1,
    )


@pytest.mark.parametrize("model_id", ["tdmpc2:ci", "dreamerv3:ci"])
def test_a_resumed_run_matches_the_uninterrupted_run(pendulum, model_id: str, tmp_path) -> None:
    train, heldout = pendulum
    kwargs = train.spec.model_kwargs()
    straight = Trainer(fresh(model_id, kwargs, 0), config(None), train, heldout)
    expected = straight.fit()

    out = tmp_path / "run"
    Trainer(fresh(model_id, kwargs, 0), config(out), train, heldout).fit(until=4)
    torch.manual_seed(1234)
    np.random.seed(1234)
    resumed = Trainer(fresh(model_id, kwargs, 77), config(out), train, heldout)
    assert resumed.step == 4
    result = resumed.fit()

    assert result.history == expected.history  # every loss component, lr and grad norm
    assert result.final_eval == expected.final_eval
    after, want = resumed.model.state_dict(), straight.model.state_dict()
    assert after.keys() == want.keys()
    for name, value in want.items():
        assert torch.equal(value, after[name]), name


def test_dreamer_replay_context_resumes_exactly(pendulum, tmp_path) -> None:
    """The posteriors kept in the replay buffer are part of the checkpoint: a resumed run with
    replay context (official replay_context 1) repeats the uninterrupted one."""
    from worldflux.training import ReplayBuffer

    train, heldout = pendulum
    kwargs = train.spec.model_kwargs()

    def small_buffer() -> ReplayBuffer:
        """Two episodes, so that 8 short steps revisit rows whose posteriors they stored."""
        e, rows = train.episodes, int(train.episodes.starts[2])
        buffer = ReplayBuffer.for_spec(train.spec, rows)
        buffer.add_rows(
            e.obs[:rows],
            e.actions[:rows],
            e.rewards[:rows],
            e.continues[:rows],
            e.is_first[:rows],
            e.is_last[:rows],
        )
        return buffer

    straight_data = small_buffer()
    straight = Trainer(fresh("dreamerv3:ci", kwargs, 0), config(None), straight_data, heldout)
    expected = straight.fit()
    assert max(h["context_fraction"] for h in expected.history) > 0.0

    out = tmp_path / "run"
    data = small_buffer()
    Trainer(fresh("dreamerv3:ci", kwargs, 0), config(out), data, heldout).fit(until=4)
    torch.manual_seed(1234)
    resumed_data = small_buffer()  # a new process: no latents stored yet
    resumed = Trainer(fresh("dreamerv3:ci", kwargs, 77), config(out), resumed_data, heldout)
    assert resumed.step == 4 and int(resumed_data.has_latent.sum()) > 0
    result = resumed.fit()
    assert result.history == expected.history
    assert torch.equal(resumed_data.has_latent, straight_data.has_latent)
    assert torch.equal(resumed_data.latents["deter"], straight_data.latents["deter"])
