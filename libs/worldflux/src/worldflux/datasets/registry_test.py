"""The real bundled datasets (held-out splits, generated once into a temporary cache)."""

import numpy as np
import pytest
import torch

from worldflux.core.config import WorldModelConfig
from worldflux.core.errors import ContractError
from worldflux.datasets import classic, list_datasets, load_dataset, registry
from worldflux.datasets.collect import episode_seeds

NAMES = [
    "cartpole",
    "mountaincar",
    "noise",
    "pendulum",
    "pendulum-pixels",
    "pendulum-shuffled",
    "push",
    "push-natural",
    "scene3d",
    "scene3d-noise",
    "tokens",
    "video",
]


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    return {name: load_dataset(name, "heldout", cache_dir=root) for name in NAMES}


def test_list_datasets():
    assert list_datasets() == NAMES


def test_bad_names_splits_and_seeds_are_clear_errors():
    with pytest.raises(ContractError, match="did you mean 'pendulum'"):
        load_dataset("pendlum")
    with pytest.raises(ContractError, match="split must be one of"):
        load_dataset("pendulum", split="test")
    with pytest.raises(ContractError, match="non-negative int"):
        load_dataset("pendulum", seed=-1)


@pytest.mark.parametrize("name", NAMES)
def test_spec_matches_the_samples(heldout, name):
    data = heldout[name]
    spec = data.spec
    info = registry.DATASETS[name]
    assert (spec.name, spec.split, spec.obs_shape) == (name, "heldout", info.obs_shape)
    assert spec.num_steps == len(data) and spec.num_episodes == data.episodes.num_episodes
    batch = data.sample(4, 8, torch.Generator().manual_seed(0))
    assert batch.obs.shape == (4, 8, *spec.obs_shape)
    if spec.obs_dtype == "int64":
        assert batch.obs.dtype == torch.int64
        assert int(batch.obs.min()) >= 0 and int(batch.obs.max()) < spec.vocab_size
    else:
        assert batch.obs.dtype == torch.float32
    if spec.action_kind == "discrete":
        assert batch.actions.shape == (4, 8) and batch.actions.dtype == torch.int64
        assert int(batch.actions.min()) >= 0 and int(batch.actions.max()) < spec.action_dim
    else:
        assert batch.actions.shape == (4, 8, spec.action_dim)
        assert float(batch.actions.abs().max()) <= 1.0
    # The spec feeds a model config directly.
    config = WorldModelConfig(**spec.model_kwargs())
    assert config.action_spec().embed_dim == spec.action_dim


@pytest.mark.parametrize("name", ["pendulum", "video"])
def test_generation_is_deterministic_and_seeded(heldout, name):
    build = registry.DATASETS[name].build
    again = build("heldout", 0)
    for field, value in heldout[name].episodes.arrays().items():
        assert np.array_equal(getattr(again, field), value), field
    other = build("heldout", 1)
    assert not np.array_equal(other.obs[:10], again.obs[:10])


def test_train_and_heldout_episodes_come_from_disjoint_seed_streams(monkeypatch):
    def reset_seeds(split: str) -> set[int]:
        stream = episode_seeds("pendulum", split, 0)
        return {next(stream)[0] for _ in range(500)}

    assert not reset_seeds("train") & reset_seeds("heldout")
    monkeypatch.setitem(classic.PENDULUM_EPISODES, "train", 5)
    train = classic.pendulum("train", 0).obs[::201]
    held = classic.pendulum("heldout", 0).obs[::201]
    assert not (train[:, None] == held[None]).all(-1).any()  # no shared initial state


def _angle(obs: np.ndarray) -> np.ndarray:
    return np.arctan2(obs[:, 1], obs[:, 0])


def test_pendulum_rewards_align_with_observation_and_action(heldout):
    ep = heldout["pendulum"].episodes
    assert (ep.lengths == 201).all()
    assert (ep.continues == 1).all()  # Pendulum-v1 only truncates: never a terminal step
    rows = ~ep.is_last
    torque = 2.0 * ep.actions[rows, 0]
    obs = ep.obs[rows]
    cost = _angle(obs) ** 2 + 0.1 * obs[:, 2] ** 2 + 0.001 * torque**2
    # Row t's reward is Pendulum-v1's cost of o_t and a_t: obs, action, reward are aligned.
    np.testing.assert_allclose(ep.rewards[rows], -cost, atol=1e-4)
    assert ep.rewards[rows].std() > 1.0
    # The controller swings up: a good share of steps are near upright.
    assert (obs[:, 0] > 0.95).mean() > 0.2


def test_mountaincar_has_goal_terminations_and_truncations(heldout):
    ep = heldout["mountaincar"].episodes
    ends = np.flatnonzero(ep.is_last)
    terminated = ep.terminated
    assert terminated.any() and not terminated.all()
    assert (ep.obs[ends[terminated], 0] >= 0.45).all()  # reached the flag
    assert (ep.rewards[ends[terminated] - 1] > 90).all()  # goal bonus on the terminal step
    assert (ep.continues[ends[terminated] - 1] == 0).all()
    assert (ep.lengths[~terminated] == 1000).all()  # 999-step TimeLimit
    assert (ep.continues[ends[~terminated] - 1] == 1).all()  # truncation is not termination


def test_cartpole_episodes_vary_and_end_both_ways(heldout):
    ep = heldout["cartpole"].episodes
    ends = np.flatnonzero(ep.is_last)
    terminated = ep.terminated
    assert terminated.any() and not terminated.all()
    assert len(set(ep.lengths.tolist())) > 3
    final = ep.obs[ends[terminated]]
    assert ((np.abs(final[:, 0]) > 2.4) | (np.abs(final[:, 2]) > 0.2095)).all()
    assert (ep.lengths[~terminated] == 501).all()
    assert (ep.rewards[~ep.is_last] == 1).all()


def test_pendulum_pixels_are_rendered_frames(heldout):
    data = heldout["pendulum-pixels"]
    batch = data.sample(8, 10, torch.Generator().manual_seed(0))
    assert float(batch.obs.min()) >= 0.0 and float(batch.obs.max()) <= 1.0
    assert float(batch.obs.mean()) > 0.8  # white background, a thin rod
    assert float((batch.obs[:, 1:] - batch.obs[:, :-1]).abs().amax()) > 0.5  # it moves
    assert (data.episodes.lengths == 101).all()


def test_video_reward_tracks_the_pushed_red_ball(heldout):
    ep = heldout["video"].episodes
    assert (ep.lengths == 33).all()
    frames = ep.obs.astype(np.int32)
    red = (frames[:, 0] > 150) & (frames[:, 1] < 120) & (frames[:, 2] < 120)  # [N, 64, 64]
    ys, xs = np.mgrid[0:64, 0:64] + 0.5
    count = red.sum((1, 2))
    cx = (red * xs).sum((1, 2)) / np.maximum(count, 1)
    cy = (red * ys).sum((1, 2)) / np.maximum(count, 1)
    estimate = 1.0 - np.hypot(cx - 32, cy - 32) / 32
    # Reward of row t is measured after the push: compare with the frame of row t + 1.
    rows = np.flatnonzero(~ep.is_last)
    visible = count[rows + 1] > 20
    error = np.abs(estimate[rows + 1] - ep.rewards[rows])[visible]
    assert visible.mean() > 0.9 and np.median(error) < 0.03


def test_token_quantisation():
    obs = np.array([[1.0, 0.0, 0.0], [-1.0, 1e-3, 7.99], [-1.0, -1e-3, -8.0]], np.float32)
    tokens = classic.pendulum_tokens(obs)
    assert tokens.tolist() == [[32, 64 + 16], [63, 64 + 31], [0, 64]]


def test_tokens_split_vocabulary_between_angle_and_velocity(heldout):
    data = heldout["tokens"]
    obs = data.episodes.obs
    assert obs.dtype == np.int64 and data.spec.vocab_size == 96
    assert ((obs[:, 0] >= 0) & (obs[:, 0] < 64)).all()
    assert ((obs[:, 1] >= 64) & (obs[:, 1] < 96)).all()
    assert len(np.unique(obs[:, 0])) > 40  # trajectories cover the circle
