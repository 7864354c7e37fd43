"""Pendulum-v1 rendered offscreen to 64x64 RGB frames."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from unittest import mock

import numpy as np

from worldflux.datasets import controllers
from worldflux.datasets.collect import collect, episode_seeds, make_env
from worldflux.datasets.episodes import Episodes

FRAME = 64
# Rendered at twice the size and averaged 2x2: antialiased, and cheaper than 500x500.
RENDER = 2 * FRAME
EPISODE_STEPS = 100
PIXEL_EPISODES = {"train": 30, "heldout": 8}


@contextlib.contextmanager
def cached_image_loads() -> Iterator[None]:
    """Gymnasium's Pendulum renderer reloads its arrow PNG from disk on every frame (about
    80% of the render time); while generating, serve repeated loads from memory."""
    import pygame  # pants: no-infer-dep (installed by gymnasium[classic-control])

    original = pygame.image.load
    loaded: dict[Any, Any] = {}

    def load(source: Any, *args: Any) -> Any:
        if args or not isinstance(source, str):
            return original(source, *args)
        if source not in loaded:
            loaded[source] = original(source)
        return loaded[source]

    with mock.patch.object(pygame.image, "load", load):
        yield


def frame(env: Any, obs: np.ndarray) -> np.ndarray:
    """The current render as uint8 [3, 64, 64]."""
    del obs
    rgb = env.render().astype(np.uint16)  # [128, 128, 3]
    total = rgb[0::2, 0::2] + rgb[1::2, 0::2] + rgb[0::2, 1::2] + rgb[1::2, 1::2]
    return ((total + 2) // 4).astype(np.uint8).transpose(2, 0, 1)  # rounded 2x2 mean


def pendulum_pixels(split: str, seed: int) -> Episodes:
    env = make_env("Pendulum-v1", render=True, max_episode_steps=EPISODE_STEPS)
    env.unwrapped.screen_dim = RENDER  # read when the first frame creates the surface
    seeds = episode_seeds("pendulum-pixels", split, seed)
    with cached_image_loads():
        episodes = collect(
            env, controllers.pendulum_policy, seeds, episodes=PIXEL_EPISODES[split], observe=frame
        )
    env.close()
    return episodes
