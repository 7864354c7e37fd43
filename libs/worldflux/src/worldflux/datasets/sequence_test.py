import numpy as np
import pytest
import torch

from worldflux.core.errors import ContractError
from worldflux.datasets.episodes import concat_episodes, episode_rows
from worldflux.datasets.sequence import SequenceDataset
from worldflux.datasets.spec import DatasetSpec

LENGTHS = (3, 9, 5, 12)  # transitions per episode
TERMINATED = (True, False, True, False)


def make_dataset(pixels: bool = False) -> SequenceDataset:
    """Observation = (episode id, step in episode), so every sample can be traced back."""
    parts = []
    for episode, (steps, terminated) in enumerate(zip(LENGTHS, TERMINATED, strict=True)):
        t = np.arange(steps + 1)
        obs: np.ndarray = np.stack([np.full_like(t, episode), t], 1).astype(np.float32)
        if pixels:
            frames = (obs[:, :, None, None] * 20).astype(np.uint8)
            obs = np.broadcast_to(frames, (steps + 1, 2, 4, 4)).copy()
        actions = np.arange(steps, dtype=np.int64) % 2
        rewards = np.arange(steps, dtype=np.float32) + 100 * episode
        parts.append(episode_rows(obs, actions, rewards, terminated))
    episodes = concat_episodes(parts)
    spec = DatasetSpec(
        name="fake",
        obs_shape=episodes.obs.shape[1:],
        action_dim=2,
        action_kind="discrete",
        modality="image" if pixels else "vector",
        num_episodes=episodes.num_episodes,
        num_steps=episodes.num_steps,
    )
    return SequenceDataset(spec, episodes)


def test_sample_shapes_and_dtypes():
    batch = make_dataset().sample(7, 4, torch.Generator().manual_seed(0))
    assert batch.obs.shape == (7, 4, 2) and batch.obs.dtype == torch.float32
    assert batch.actions.shape == (7, 4) and batch.actions.dtype == torch.int64
    assert batch.rewards.shape == batch.continues.shape == batch.is_first.shape == (7, 4)
    assert batch.is_first.dtype == torch.bool
    assert batch.extras["is_last"].shape == (7, 4)


def test_windows_stay_inside_one_episode_and_are_contiguous():
    batch = make_dataset().sample(512, 6, torch.Generator().manual_seed(1))
    episode, step = batch.obs[..., 0], batch.obs[..., 1]
    assert bool((episode == episode[:, :1]).all())
    assert bool((step.diff(dim=1) == 1).all())
    # The 3-transition episode (4 rows) is too short for 6 steps and is never drawn.
    assert not bool((episode == 0).any())
    # is_first exactly where a window begins an episode, continues 0 only at terminal steps.
    assert torch.equal(batch.is_first, step == 0)
    lengths = torch.tensor(LENGTHS, dtype=torch.float32)[episode.long()]
    terminated = torch.tensor(TERMINATED)[episode.long()]
    expected_continue = ~(terminated & (step >= lengths - 1))
    assert torch.equal(batch.continues.bool(), expected_continue)
    assert torch.equal(batch.extras["is_last"], step == lengths)
    # Rewards and actions are the rows' own (no misalignment from the indexing).
    padding = step == lengths
    assert torch.equal(batch.rewards[~padding], (step + 100 * episode)[~padding].to(torch.float32))


def test_every_valid_window_is_reachable_and_roughly_uniform():
    data = make_dataset()
    seq_len = 4
    batch = data.sample(6_000, seq_len, torch.Generator().manual_seed(2))
    starts = batch.obs[:, 0]
    windows = {(int(e), int(s)) for e, s in starts.tolist()}
    expected = {(e, s) for e, n in enumerate(LENGTHS) for s in range(n + 1 - seq_len + 1)}
    assert windows == expected
    counts = torch.unique(starts, dim=0, return_counts=True)[1].float()
    assert counts.min() > 0.6 * counts.mean()


def test_same_generator_seed_same_batch():
    data = make_dataset()
    a = data.sample(8, 3, torch.Generator().manual_seed(5))
    b = data.sample(8, 3, torch.Generator().manual_seed(5))
    c = data.sample(8, 3, torch.Generator().manual_seed(6))
    assert torch.equal(a.obs, b.obs) and torch.equal(a.actions, b.actions)
    assert not torch.equal(a.obs, c.obs)


def test_uint8_pixels_come_back_as_float_in_unit_range():
    batch = make_dataset(pixels=True).sample(16, 3, torch.Generator().manual_seed(0))
    assert batch.obs.dtype == torch.float32 and batch.obs.shape == (16, 3, 2, 4, 4)
    assert float(batch.obs.min()) >= 0.0 and float(batch.obs.max()) <= 1.0
    step = batch.obs[:, :, 1, 0, 0] * 255 / 20  # stored as step * 20, scaled by 1/255
    assert torch.allclose(step.diff(dim=1), torch.ones(16, 2))


def test_seq_len_longer_than_every_episode_is_a_clear_error():
    with pytest.raises(ContractError, match="longest has 13 rows"):
        make_dataset().sample(2, 14, torch.Generator())


@pytest.mark.parametrize("batch_size, seq_len", [(0, 4), (4, 0), (2.5, 4), (True, 3)])
def test_bad_sample_arguments(batch_size, seq_len):
    with pytest.raises(ContractError, match="positive int"):
        make_dataset().sample(batch_size, seq_len, torch.Generator())


def test_spec_and_stored_shape_must_agree():
    data = make_dataset()
    spec = DatasetSpec("fake", (3,), 2, "discrete", "vector", 4, data.spec.num_steps)
    with pytest.raises(ContractError, match="does not match spec"):
        SequenceDataset(spec, data.episodes)
