"""Datasets with nothing to learn, for proving that a gate cannot be fooled.

A gate that passes a model trained on these is measuring the training objective, not skill:
`wf-gate measure --dataset FAMILY=noise` (or `pendulum-shuffled`) must fail for every family.

- `noise`: i.i.d. Gaussian observations and rewards and uniform actions, with pendulum's
  episode structure (episode count, length, shapes). Every statistic is marginal.
- `pendulum-shuffled`: the real pendulum rows in a random order across the whole split, so
  the next observation is unrelated to the current one and to the action. Each observation
  keeps its reward (a function of that observation, so "reward from the current state" stays
  learnable); the actions are shuffled on their own, since a behaviour policy's action reveals
  the state it was taken in and would let a model read the rewards ahead off the actions. The
  marginals are pendulum's; the dynamics are gone.
"""

from __future__ import annotations

import numpy as np

from worldflux.datasets import classic
from worldflux.datasets.episodes import Episodes, concat_episodes, episode_rows

_SPLIT_STREAM = {"train": 0, "heldout": 1}
_STEPS = 200  # Pendulum-v1's time limit


def _rng(name: str, split: str, seed: int) -> np.random.Generator:
    tag = sum(ord(ch) for ch in name)
    return np.random.default_rng([tag, _SPLIT_STREAM[split], seed])


def noise(split: str, seed: int) -> Episodes:
    rng = _rng("noise", split, seed)
    episodes = []
    for _ in range(classic.PENDULUM_EPISODES[split]):
        obs = rng.standard_normal((_STEPS + 1, 3)).astype(np.float32)
        actions = rng.uniform(-1.0, 1.0, (_STEPS, 1)).astype(np.float32)
        rewards = rng.standard_normal(_STEPS).astype(np.float32)
        episodes.append(episode_rows(obs, actions, rewards, terminated=False))
    return concat_episodes(episodes)


def pendulum_shuffled(split: str, seed: int) -> Episodes:
    """Pendulum's observations (with their rewards) and actions, each permuted across the
    split; each episode's final padding row stays put (so the episode structure and the
    zero-padding convention are unchanged)."""
    episodes = classic.pendulum(split, seed)
    rows = np.flatnonzero(~episodes.is_last)
    rng = _rng("pendulum-shuffled", split, seed)
    states, actions = rng.permutation(rows), rng.permutation(rows)
    episodes.obs[rows] = episodes.obs[states]
    episodes.rewards[rows] = episodes.rewards[states]
    episodes.actions[rows] = episodes.actions[actions]
    episodes.check()
    return episodes
