import numpy as np
import pytest
import torch

from worldflux.core.errors import CheckpointError, ContractError
from worldflux.datasets.spec import DatasetSpec
from worldflux.training.replay import ReplayBuffer


def add_episode(buffer: ReplayBuffer, episode: int, steps: int, terminated: bool) -> None:
    """Observation = (episode id, step), so samples can be traced back."""
    t = np.arange(steps + 1, dtype=np.float32)
    obs = np.stack([np.full_like(t, episode), t], 1)
    buffer.add_episode(obs, np.arange(steps) % 3, np.arange(steps, dtype=np.float32), terminated)


def make(capacity: int = 100) -> ReplayBuffer:
    return ReplayBuffer(capacity, obs_shape=(2,), action_shape=(), action_dtype=torch.int64)


def assert_windows_valid(batch) -> None:
    episode, step = batch.obs[..., 0], batch.obs[..., 1]
    assert bool((episode == episode[:, :1]).all())
    assert bool((step.diff(dim=1) == 1).all())
    assert torch.equal(batch.is_first, step == 0)


def test_sampled_windows_stay_inside_episodes():
    buffer = make()
    for e, (steps, term) in enumerate([(5, True), (9, False), (2, True), (12, False)]):
        add_episode(buffer, e, steps, term)
    assert len(buffer) == 6 + 10 + 3 + 13
    batch = buffer.sample(400, 5, torch.Generator().manual_seed(0))
    assert_windows_valid(batch)
    assert set(batch.obs[:, 0, 0].long().tolist()) == {0, 1, 3}  # episode 2 is too short
    # Terminal transition of episode 0 (step 4 -> 5) has continues 0; truncated ones never do.
    ep0 = batch.obs[..., 0] == 0
    assert torch.equal(batch.continues[ep0] == 0, batch.obs[..., 1][ep0] >= 4)
    assert bool((batch.continues[batch.obs[..., 0] == 1] == 1).all())
    assert batch.actions.dtype == torch.int64 and batch.actions.shape == (400, 5)


def test_fifo_eviction_keeps_the_newest_rows_and_a_partial_tail():
    buffer = make(capacity=20)
    for e in range(4):
        add_episode(buffer, e, 7, False)  # 8 rows each, 32 in total
    assert len(buffer) == 20 and buffer.added == 32 and buffer.cursor == 12
    batch = buffer.sample(500, 3, torch.Generator().manual_seed(1))
    assert_windows_valid(batch)
    episodes = set(batch.obs[:, 0, 0].long().tolist())
    assert episodes == {1, 2, 3}  # episode 0 evicted; episode 1 survives from step 4 on
    tail = batch.obs[batch.obs[:, 0, 0] == 1]
    assert int(tail[:, :, 1].min()) == 4
    assert not bool(batch.is_first[batch.obs[:, 0, 0] == 1].any())  # its start is gone


def test_online_steps_and_windows_across_the_ring_seam():
    buffer = make(capacity=10)
    for t in range(25):
        first = t % 12 == 0
        buffer.add_step(np.array([t // 12, t % 12], np.float32), t % 3, 0.5, 1.0, first)
    batch = buffer.sample(300, 4, torch.Generator().manual_seed(2))
    assert_windows_valid(batch)
    assert int(batch.obs[..., 0].min()) >= 1  # everything older than 10 rows is gone


def test_oversized_write_keeps_only_the_newest_rows():
    buffer = make(capacity=8)
    add_episode(buffer, 0, 19, False)
    batch = buffer.sample(50, 8, torch.Generator().manual_seed(0))
    assert torch.equal(batch.obs[0, :, 1], torch.arange(12, 20, dtype=torch.float32))


def test_bad_rows_are_rejected_and_nothing_is_written():
    buffer = make()
    with pytest.raises(ContractError, match="must have is_first"):
        buffer.add_step(np.zeros(2, np.float32), 0, 0.0, 1.0, is_first=False)
    with pytest.raises(ContractError, match="obs must have shape"):
        buffer.add_step(np.zeros(3, np.float32), 0, 0.0, 1.0, is_first=True)
    with pytest.raises(ContractError, match="NaN"):
        buffer.add_step(np.array([np.nan, 0], np.float32), 0, 0.0, 1.0, is_first=True)
    with pytest.raises(ContractError, match="integer indices"):
        buffer.add_step(np.zeros(2, np.float32), 0.5, 0.0, 1.0, is_first=True)
    assert len(buffer) == 0
    with pytest.raises(ContractError, match="no window of 3 steps"):
        buffer.sample(2, 3, torch.Generator())


def test_state_dict_round_trip_restores_contents_and_cursor():
    buffer = make(capacity=30)
    for e in range(5):
        add_episode(buffer, e, 8, e % 2 == 0)
    meta, tensors = buffer.state_dict()
    restored = make(capacity=30)
    restored.load_state_dict(meta, tensors)
    assert (restored.cursor, restored.added) == (buffer.cursor, buffer.added)
    a = buffer.sample(16, 4, torch.Generator().manual_seed(3))
    b = restored.sample(16, 4, torch.Generator().manual_seed(3))
    assert torch.equal(a.obs, b.obs) and torch.equal(a.continues, b.continues)
    add_episode(buffer, 9, 3, True)
    add_episode(restored, 9, 3, True)
    assert torch.equal(buffer.episode, restored.episode)
    with pytest.raises(CheckpointError, match="capacity"):
        make(capacity=31).load_state_dict(meta, tensors)


def test_for_spec_builds_matching_storage():
    spec = DatasetSpec("x", (3,), 1, "continuous", "vector", 1, 10)
    buffer = ReplayBuffer.for_spec(spec, 50)
    assert buffer.actions.shape == (50, 1) and buffer.actions.dtype == torch.float32
    spec = DatasetSpec("t", (2,), 5, "discrete", "tokens", 1, 10, obs_dtype="int64", vocab_size=9)
    buffer = ReplayBuffer.for_spec(spec, 50)
    assert buffer.obs.dtype == torch.int64 and buffer.actions.shape == (50,)


def test_uint8_pixels_are_scaled_like_dataset_samples():
    spec = DatasetSpec("px", (3, 4, 4), 1, "continuous", "image", 1, 3)
    buffer = ReplayBuffer.for_spec(spec, 10)
    frames = np.full((3, 3, 4, 4), 255, np.uint8)
    frames[1] = 51
    buffer.add_episode(frames, np.zeros((2, 1), np.float32), np.zeros(2, np.float32), False)
    batch = buffer.sample(1, 3, torch.Generator().manual_seed(0))
    assert batch.obs.dtype == torch.float32
    assert batch.obs[0, :, 0, 0, 0].tolist() == pytest.approx([1.0, 0.2, 1.0])


def test_stored_latents_come_back_as_the_context_of_the_next_window():
    """Replay context: a window gets the latent stored with the row just before it, with that
    row's action, reward and continue flag; never across an episode start."""
    buffer = make(capacity=40)
    add_episode(buffer, 0, 9, False)  # rows 0..9
    add_episode(buffer, 1, 9, True)  # rows 10..19
    assert "context.valid" not in buffer.sample(4, 3, torch.Generator()).extras  # none stored
    slots = torch.arange(20).reshape(1, 20)
    latent = buffer.obs[:20].clone().reshape(1, 20, 2) * 10  # (episode, step) * 10
    buffer.store_latents(slots, {"deter": latent})
    batch = buffer.sample(200, 3, torch.Generator().manual_seed(0))
    valid = batch.extras["context.valid"]
    step = batch.obs[:, 0, 1]
    assert torch.equal(valid, step > 0)  # a window starting an episode has no context
    expected = (batch.obs[:, 0] - torch.tensor([0.0, 1.0])) * 10  # the previous row's latent
    assert torch.equal(batch.extras["context.deter"][valid], expected[valid])
    prev = batch.extras["replay.slots"][:, 0] - 1
    assert torch.equal(batch.extras["context.action"][valid], buffer.actions[prev][valid])
    assert torch.equal(batch.extras["context.reward"][valid], buffer.rewards[prev][valid])


def test_overwritten_rows_forget_their_latent_and_latents_survive_a_checkpoint():
    buffer = make(capacity=12)
    add_episode(buffer, 0, 9, False)  # rows 0..9
    buffer.store_latents(torch.arange(10).reshape(2, 5), {"z": torch.ones(2, 5, 3)})
    meta, tensors = buffer.state_dict()
    restored = make(capacity=12)
    restored.load_state_dict(meta, tensors)
    assert torch.equal(restored.latents["z"], buffer.latents["z"])
    assert torch.equal(restored.has_latent, buffer.has_latent)
    add_episode(buffer, 1, 4, False)  # 5 rows: overwrite slots 10, 11, 0, 1, 2
    assert buffer.has_latent.tolist() == [False] * 3 + [True] * 7 + [False] * 2
    with pytest.raises(ContractError, match="leading dims"):
        buffer.store_latents(torch.arange(4).reshape(2, 2), {"z": torch.ones(2, 3, 3)})


def test_from_dataset_holds_the_same_rows_and_keeps_pixels_compact():
    from worldflux.datasets.episodes import Episodes, episode_rows
    from worldflux.datasets.sequence import SequenceDataset

    frames = np.arange(4 * 3 * 4 * 4, dtype=np.uint8).reshape(4, 3, 4, 4)
    rows = episode_rows(frames, np.zeros((3, 1), np.float32), np.ones(3, np.float32), False)
    spec = DatasetSpec("px", (3, 4, 4), 1, "continuous", "image", 1, 4)
    dataset = SequenceDataset(spec, Episodes(**rows))
    buffer = ReplayBuffer.from_dataset(dataset)
    assert len(buffer) == len(dataset) and buffer.obs.dtype == torch.uint8
    batch = buffer.sample(2, 4, torch.Generator().manual_seed(0))
    assert torch.equal(batch.obs, dataset.rows(torch.arange(4).expand(2, 4)).obs)
