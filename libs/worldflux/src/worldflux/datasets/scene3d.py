"""A simple 3D scene seen from known camera poses (the renderer3d family's bundled data).

Each episode is one static scene: three spheres (radius 0.9, the first always red, the others
from a palette) at random positions in [-1, 1]^3, lit by a fixed directional light, in front of a
grey background. The camera sits on a circle of radius 4 at elevation 0.35 rad and looks at the
origin; the action a_t in [-1, 1] moves it to azimuth pi * a_t for the next frame (so every
frame's pose is known: pose(o_{t+1}) = pi * a_t; the first frame is seen from azimuth 0). The
reward is the fraction of the next frame the red sphere covers. Frames [3, 32, 32] are ray-cast
exactly in numpy, generated offline from the seed.
"""

from __future__ import annotations

import numpy as np

from worldflux.datasets.episodes import Episodes, episode_rows

FRAME = 32
RADIUS = 0.9
CAMERA_DISTANCE = 4.0
ELEVATION = 0.35
FOCAL = 1.6  # image-plane half-width 1 at focal length FOCAL
BACKGROUND = np.array([0.5, 0.5, 0.5], np.float32)
LIGHT = np.array([0.4, 0.8, 0.45]) / np.linalg.norm([0.4, 0.8, 0.45])
PALETTE = np.array([[0.1, 0.4, 0.95], [0.1, 0.85, 0.2], [0.95, 0.85, 0.1], [0.8, 0.2, 0.9]])
RED = np.array([0.95, 0.1, 0.1])
EPISODES = {"train": 60, "heldout": 12}
STEPS = 16


def camera(azimuth: float) -> tuple[np.ndarray, np.ndarray]:
    """Camera centre [3] and rotation [3, 3] (rows: right, up, forward) for an azimuth."""
    centre = CAMERA_DISTANCE * np.array(
        [
            np.cos(ELEVATION) * np.sin(azimuth),
            np.sin(ELEVATION),
            np.cos(ELEVATION) * np.cos(azimuth),
        ]
    )
    forward = -centre / np.linalg.norm(centre)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return centre, np.stack([right, up, forward])


def render(centres: np.ndarray, colours: np.ndarray, azimuth: float) -> tuple[np.ndarray, float]:
    """Ray-cast a frame [3, FRAME, FRAME] (float32 in [0, 1]) and the red sphere's coverage."""
    origin, rot = camera(azimuth)
    grid = (np.arange(FRAME) + 0.5) / FRAME * 2.0 - 1.0
    u, v = np.meshgrid(grid, -grid)  # image x right, y up
    dirs = u[..., None] * rot[0] + v[..., None] * rot[1] + FOCAL * rot[2]
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    best = np.full(u.shape, np.inf)
    image = np.broadcast_to(BACKGROUND, (*u.shape, 3)).copy()
    red = np.zeros(u.shape, bool)
    for k, (centre, colour) in enumerate(zip(centres, colours, strict=True)):
        oc = origin - centre
        b = (dirs * oc).sum(-1)
        disc = b * b - (oc * oc).sum() + RADIUS * RADIUS
        t = -b - np.sqrt(np.maximum(disc, 0.0))
        hit = (disc > 0) & (t > 0) & (t < best)
        normal = (origin + t[..., None] * dirs - centre) / RADIUS
        shade = 0.25 + 0.75 * np.clip((normal * LIGHT).sum(-1), 0.0, 1.0)
        image[hit] = (colour * shade[..., None])[hit]
        best = np.where(hit, t, best)
        red = np.where(hit, k == 0, red)
    return image.transpose(2, 0, 1).astype(np.float32), float(red.mean())


def scenes(split: str, seed: int) -> Episodes:
    rng = np.random.default_rng([seed, 0 if split == "train" else 1, 3])
    rows = []
    for _ in range(EPISODES[split]):
        centres = rng.uniform(-1.0, 1.0, size=(3, 3))
        colours = np.concatenate([RED[None], PALETTE[rng.choice(len(PALETTE), 2, replace=False)]])
        actions = rng.uniform(-1.0, 1.0, size=(STEPS, 1)).astype(np.float32)
        frames, rewards = [render(centres, colours, 0.0)[0]], []
        for a in actions[:, 0]:
            frame, coverage = render(centres, colours, float(np.pi * a))
            frames.append(frame)
            rewards.append(coverage)
        obs = (np.stack(frames) * 255.0).round().astype(np.uint8)
        rows.append(episode_rows(obs, actions, np.asarray(rewards, np.float32), terminated=False))
    return Episodes(**{k: np.concatenate([r[k] for r in rows]) for k in rows[0]})


def noise_scenes(split: str, seed: int) -> Episodes:
    """Nothing to learn: i.i.d. uniform pixels, uniform actions and uniform rewards with
    scene3d's shapes and episodes. A renderer3d gate run on it must fail."""
    rng = np.random.default_rng([seed, 0 if split == "train" else 1, 4])
    rows = []
    for _ in range(EPISODES[split]):
        obs = rng.integers(0, 256, size=(STEPS + 1, 3, FRAME, FRAME), dtype=np.uint8)
        actions = rng.uniform(-1.0, 1.0, size=(STEPS, 1)).astype(np.float32)
        rewards = rng.uniform(0.0, 0.2, size=STEPS).astype(np.float32)
        rows.append(episode_rows(obs, actions, rewards, terminated=False))
    return Episodes(**{k: np.concatenate([r[k] for r in rows]) for k in rows[0]})
