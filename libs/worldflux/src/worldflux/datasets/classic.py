"""State-based classic-control datasets and their quantised token variant."""

from __future__ import annotations

import math

import numpy as np

from worldflux.datasets import controllers
from worldflux.datasets.collect import collect, episode_seeds, make_env
from worldflux.datasets.episodes import Episodes

# Sizes (rows) per split; see docs/content/datasets.md.
STATE_SIZES = {"train": 20_000, "heldout": 4_000}
PENDULUM_EPISODES = {"train": 100, "heldout": 20}
TOKEN_EPISODES = {"train": 60, "heldout": 15}


def pendulum(split: str, seed: int) -> Episodes:
    env = make_env("Pendulum-v1")
    seeds = episode_seeds("pendulum", split, seed)
    return collect(env, controllers.pendulum_policy, seeds, episodes=PENDULUM_EPISODES[split])


def mountaincar(split: str, seed: int) -> Episodes:
    env = make_env("MountainCarContinuous-v0")
    seeds = episode_seeds("mountaincar", split, seed)
    return collect(env, controllers.mountaincar_policy, seeds, min_steps=STATE_SIZES[split])


def cartpole(split: str, seed: int) -> Episodes:
    env = make_env("CartPole-v1")
    seeds = episode_seeds("cartpole", split, seed)
    episodes = collect(env, controllers.cartpole_policy, seeds, min_steps=STATE_SIZES[split])
    episodes.obs = episodes.obs.astype(np.float32)
    return episodes


ANGLE_BINS = 64
VELOCITY_BINS = 32
VOCAB_SIZE = ANGLE_BINS + VELOCITY_BINS


def pendulum_tokens(obs: np.ndarray) -> np.ndarray:
    """Pendulum observations [N, 3] to two tokens each: angle bin, then 64 + velocity bin."""
    angle = np.arctan2(obs[:, 1], obs[:, 0])  # [-pi, pi]
    angle_bin = np.floor((angle + math.pi) / (2 * math.pi) * ANGLE_BINS).astype(np.int64)
    velocity_bin = np.floor((obs[:, 2] + 8.0) / 16.0 * VELOCITY_BINS).astype(np.int64)
    return np.stack(
        [angle_bin % ANGLE_BINS, ANGLE_BINS + np.clip(velocity_bin, 0, VELOCITY_BINS - 1)], 1
    )


def tokens(split: str, seed: int) -> Episodes:
    env = make_env("Pendulum-v1")
    seeds = episode_seeds("tokens", split, seed)
    episodes = collect(
        env, controllers.pendulum_discrete_policy, seeds, episodes=TOKEN_EPISODES[split]
    )
    episodes.obs = pendulum_tokens(episodes.obs)
    return episodes
