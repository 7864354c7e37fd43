"""A synthetic dataset of any shape, for the examples' --obs-dim/--action-dim runs: a stable
linear system x' = A x + B a + noise with reward -|x|^2 / D, drawn from a seed (no files, no
environment)."""

from __future__ import annotations

import numpy as np

from worldflux.datasets import DatasetSpec, Episodes, SequenceDataset, episode_rows

EPISODES = {"train": 32, "heldout": 8}
LENGTH = 64


def linear_system(obs_dim: int, action_dim: int, split: str, seed: int = 0) -> SequenceDataset:
    system = np.random.default_rng([seed, obs_dim, action_dim])
    q, _ = np.linalg.qr(system.normal(size=(obs_dim, obs_dim)))
    a = 0.95 * q  # a damped rotation
    b = system.normal(size=(obs_dim, action_dim)) / np.sqrt(action_dim)
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    rows = []
    for _ in range(EPISODES[split]):
        x = rng.normal(size=obs_dim)
        actions = rng.uniform(-1, 1, size=(LENGTH, action_dim)).astype(np.float32)
        obs, rewards = [x], []
        for act in actions:
            rewards.append(-float(x @ x) / obs_dim)
            x = a @ x + 0.3 * b @ act + 0.01 * rng.normal(size=obs_dim)
            obs.append(x)
        rows.append(episode_rows(np.asarray(obs, np.float32), actions, np.asarray(rewards), False))
    episodes = Episodes(**{k: np.concatenate([r[k] for r in rows]) for k in rows[0]})
    spec = DatasetSpec(
        name=f"linear-{obs_dim}x{action_dim}",
        obs_shape=(obs_dim,),
        action_dim=action_dim,
        action_kind="continuous",
        modality="vector",
        num_episodes=episodes.num_episodes,
        num_steps=episodes.num_steps,
        split=split,
        seed=seed,
    )
    return SequenceDataset(spec, episodes)
