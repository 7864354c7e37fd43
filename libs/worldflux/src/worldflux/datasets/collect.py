"""Seeded episode collection from gymnasium environments.

Every episode gets its own child of one SeedSequence keyed by (dataset, split, seed), which
seeds both the environment reset and the policy's noise. Train and held-out splits therefore
never share an episode, and regenerating a split reproduces it exactly.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from worldflux.datasets.episodes import Episodes, concat_episodes, episode_rows
from worldflux.datasets.spec import SPLITS

# (stored action, action passed to env.step)
Policy = Callable[[np.ndarray], tuple[Any, Any]]
PolicyFactory = Callable[[np.random.Generator], Policy]


def episode_seeds(name: str, split: str, seed: int) -> Iterator[tuple[int, np.random.Generator]]:
    """Endless (env reset seed, policy rng) pairs for one dataset split."""
    root = np.random.SeedSequence([zlib.crc32(name.encode()), SPLITS.index(split), seed])
    while True:
        (child,) = root.spawn(1)
        yield int(child.generate_state(1)[0] & 0x7FFFFFFF), np.random.default_rng(child)


def make_env(env_id: str, render: bool = False, **kwargs: Any) -> Any:
    """A gymnasium env with its TimeLimit, rendering offscreen when asked."""
    import gymnasium as gym

    if render:
        # pygame needs no display for rgb_array; the dummy driver keeps it headless.
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        kwargs["render_mode"] = "rgb_array"
    return gym.make(env_id, disable_env_checker=True, **kwargs)


def run_episode(
    env: Any,
    policy: Policy,
    reset_seed: int,
    observe: Callable[[Any, np.ndarray], np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """One episode to its end (termination or TimeLimit truncation), as dataset rows.

    `observe(env, obs)` turns the env observation into the stored one (e.g. a rendered frame).
    """
    obs, _ = env.reset(seed=reset_seed)
    stored = [observe(env, obs) if observe else obs]
    actions, rewards = [], []
    while True:
        action, env_action = policy(obs)
        obs, reward, terminated, truncated, _ = env.step(env_action)
        actions.append(action)
        rewards.append(reward)
        stored.append(observe(env, obs) if observe else obs)
        if terminated or truncated:
            break
    return episode_rows(np.stack(stored), np.stack(actions), np.asarray(rewards), bool(terminated))


def collect(
    env: Any,
    policy_factory: PolicyFactory,
    seeds: Iterator[tuple[int, np.random.Generator]],
    *,
    episodes: int | None = None,
    min_steps: int | None = None,
    observe: Callable[[Any, np.ndarray], np.ndarray] | None = None,
) -> Episodes:
    """A fixed number of episodes, or whole episodes until at least `min_steps` rows."""
    if (episodes is None) == (min_steps is None):
        raise ValueError("give exactly one of episodes / min_steps")
    rows: list[dict[str, np.ndarray]] = []
    total = 0
    while (episodes is not None and len(rows) < episodes) or (
        min_steps is not None and total < min_steps
    ):
        reset_seed, rng = next(seeds)
        rows.append(run_episode(env, policy_factory(rng), reset_seed, observe))
        total += len(rows[-1]["obs"])
    return concat_episodes(rows)
