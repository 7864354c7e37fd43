"""The unlearnable datasets keep pendulum's shapes and episodes and lose what can be learned."""

import numpy as np

from worldflux.datasets import classic
from worldflux.datasets.unlearnable import noise, pendulum_shuffled


def test_noise_has_pendulums_shapes_and_episodes_and_independent_steps() -> None:
    episodes = noise("train", 0)
    real = classic.pendulum("train", 0)
    assert episodes.obs.shape == real.obs.shape and episodes.actions.shape == real.actions.shape
    assert np.array_equal(episodes.is_first, real.is_first)
    rows = ~episodes.is_last[:-1]
    lag1 = np.corrcoef(episodes.obs[:-1][rows, 0], episodes.obs[1:][rows, 0])[0, 1]
    assert abs(lag1) < 0.03  # consecutive observations are unrelated
    assert not np.array_equal(noise("heldout", 0).obs[:100], episodes.obs[:100])
    assert np.array_equal(noise("train", 0).obs, episodes.obs)  # deterministic


def test_shuffled_pendulum_keeps_each_state_with_its_reward_and_loses_the_dynamics() -> None:
    real = classic.pendulum("train", 0)
    shuffled = pendulum_shuffled("train", 0)
    rows = np.flatnonzero(~real.is_last)
    # The same multiset of rows, each observation still with its own reward ...
    pairs = lambda e: sorted(map(tuple, np.column_stack([e.obs[rows], e.rewards[rows]])))  # noqa
    assert pairs(real) == pairs(shuffled)
    assert sorted(real.actions[rows, 0]) == sorted(shuffled.actions[rows, 0])
    # ... but the next observation no longer follows from this one (pendulum's lag-1
    # correlation of the angle's cosine is near 1), and padding rows stay where they were.
    step = rows[rows + 1 < len(real.obs)]
    step = step[~real.is_last[step + 1]]
    before = np.corrcoef(real.obs[step, 0], real.obs[step + 1, 0])[0, 1]
    after = np.corrcoef(shuffled.obs[step, 0], shuffled.obs[step + 1, 0])[0, 1]
    assert before > 0.9 and abs(after) < 0.05
    assert np.array_equal(shuffled.obs[real.is_last], real.obs[real.is_last])
