"""Procedural video clips: coloured balls bouncing in a box, one of them pushed by the action.

Ball 0 (red) accelerates with the 2-D action and feels drag; the other two bounce freely off
the walls. The reward is how close the red ball is to the centre after the push, so it
depends on the action. Frames are antialiased discs on black, uint8 [3, 64, 64].
"""

from __future__ import annotations

import zlib

import numpy as np

from worldflux.datasets.episodes import Episodes, concat_episodes, episode_rows
from worldflux.datasets.spec import SPLITS

FRAME = 64
CLIP_STEPS = 32  # transitions per clip (33 frames)
CLIPS = {"train": 96, "heldout": 24}
COLORS = np.array([[230, 60, 60], [60, 200, 80], [70, 110, 240]], np.float32)
PUSH = 0.6  # px/step^2 per unit action
DRAG = 0.95
MAX_SPEED = 4.0


def simulate(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positions [T+1, balls, 2], radii [balls], actions [T, 2] and rewards [T] of one clip."""
    balls = len(COLORS)
    radius = rng.uniform(4.0, 7.0, balls)
    low, high = radius[:, None], FRAME - radius[:, None]
    position = rng.uniform(low, high, (balls, 2))
    velocity = rng.uniform(-2.0, 2.0, (balls, 2))
    action = np.zeros(2)
    positions, actions, rewards = [position.copy()], [], []
    centre = np.full(2, FRAME / 2)
    for _ in range(CLIP_STEPS):
        # Smoothly varying pushes (an Ornstein-Uhlenbeck-like process), kept in [-1, 1].
        action = np.clip(0.8 * action + 0.5 * rng.standard_normal(2), -1.0, 1.0)
        velocity[0] = DRAG * (velocity[0] + PUSH * action)
        velocity = np.clip(velocity, -MAX_SPEED, MAX_SPEED)
        position = position + velocity
        # Elastic walls: reflect the overshoot and the velocity component.
        below, above = position < low, position > high
        position = np.where(below, 2 * low - position, position)
        position = np.where(above, 2 * high - position, position)
        velocity = np.where(below | above, -velocity, velocity)
        positions.append(position.copy())
        actions.append(action.astype(np.float32))
        rewards.append(1.0 - float(np.linalg.norm(position[0] - centre)) / (FRAME / 2))
    return np.stack(positions), radius, np.stack(actions), np.asarray(rewards, np.float32)


def render(positions: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Frames uint8 [F, 3, 64, 64] for ball positions [F, balls, 2] (x, y in pixels)."""
    positions = positions.astype(np.float32)
    centres = np.arange(FRAME, dtype=np.float32) + 0.5
    canvas = np.zeros((len(positions), FRAME, FRAME, 3), np.float32)
    for ball, color in enumerate(COLORS):
        dx = centres[None, None, :] - positions[:, ball, 0, None, None]
        dy = centres[None, :, None] - positions[:, ball, 1, None, None]
        alpha = np.clip(np.float32(radius[ball] + 0.5) - np.sqrt(dx * dx + dy * dy), 0, 1)[
            ..., None
        ]
        canvas = canvas * (1.0 - alpha) + color * alpha
    return np.round(canvas).astype(np.uint8).transpose(0, 3, 1, 2)


def bouncing_balls(split: str, seed: int) -> Episodes:
    root = np.random.SeedSequence([zlib.crc32(b"video"), SPLITS.index(split), seed])
    clips = []
    for child in root.spawn(CLIPS[split]):
        positions, radius, actions, rewards = simulate(np.random.default_rng(child))
        clips.append(episode_rows(render(positions, radius), actions, rewards, terminated=False))
    return concat_episodes(clips)
