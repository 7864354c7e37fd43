"""Procedural video clips where content fills the frame and the action moves it by a patch.

Each clip is a random mosaic (coloured rectangles of 10-24 px, redrawn per clip, static within
it) with a white square on top that the 2-D action drives directly:
`position += STEP * action` (up to STEP pixels per axis per step), clamped to the frame.

Why this world, next to `video` (balls on black): for joint-embedding families the held-out
gate compares the predictor with the target encoder fed another clip's content at the masked
positions. On mostly-black frames that baseline is nearly exact, so nothing can beat it; here
every patch differs between clips (but on the mosaic little of a masked patch follows from
its neighbours: see `push-natural` below). For the action-conditioned family a push moves the
square by up to 1.25 ci patches (8 px) per step, so the actions visibly decide the next
frame. Frames are uint8 [3, 48, 48].

`push-natural` is the same world (square, pushes, rewards) in front of a random colour field
with the 1/f amplitude spectrum of natural images instead of the mosaic. The mosaic's
rectangles are 1-3 ci patches wide and independently coloured, so what a masked block holds
is barely implied by its context (on 96 frames under the ci masks, the best shrunk
nearest-context fill predicts a masked patch's mean colour 8% better than the mean patch); in
a 1/f field, as in a photograph, the frame's colour and its large-scale shading continue
under the mask (17%). The joint-embedding families are gated on it; `vjepa2-ac` keeps the
mosaic (its action gate needs only the square).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

from worldflux.datasets.episodes import Episodes, concat_episodes, episode_rows
from worldflux.datasets.spec import SPLITS

FRAME = 48
CLIP_STEPS = 32  # transitions per clip (33 frames)
# 384 training backgrounds (88 MB of frames): with 96, a jepa:ci predictor memorised them (masked
# prediction skill 19% on training frames, -2% held out after 600 steps).
CLIPS = {"train": 384, "heldout": 24}
SIDE = 12.0  # the square's side in pixels
STEP = 10.0  # pixels per unit action per step
RECTS = 10  # coloured rectangles on the background, each 10-24 px a side
LOW, HIGH = 0.0, FRAME - SIDE  # the square's top-left corner stays in [LOW, HIGH]


def background(rng: np.random.Generator) -> np.ndarray:
    """A random mosaic float32 [3, FRAME, FRAME] in [0.1, 0.85]: a plain colour under RECTS
    overlapping rectangles of random colours. Its content is local (no few numbers describe
    the frame, as a smooth field's would) yet a rectangle cut by a mask can be continued from
    its visible part; it never reaches the square's white."""
    field = np.empty((3, FRAME, FRAME), np.float32)
    field[:] = rng.uniform(0.1, 0.85, (3, 1, 1))
    for _ in range(RECTS):
        w, h = rng.integers(10, 25, 2)
        x, y = rng.integers(-w // 2, FRAME - w // 2), rng.integers(-h // 2, FRAME - h // 2)
        field[:, max(y, 0) : y + h, max(x, 0) : x + w] = rng.uniform(0.1, 0.85, (3, 1, 1))
    return field


NATURAL_STD = 0.15  # pixel std of the 1/f field within a frame
NATURAL_CHROMA = 0.5  # weight of each channel's own field beside the shared luminance field


def spectral_field(rng: np.random.Generator) -> np.ndarray:
    """float64 [FRAME, FRAME], unit std: Gaussian noise shaped to amplitude 1/f (f in cycles
    per frame; no constant term), the second-order statistics of natural images."""
    fy = np.fft.fftfreq(FRAME)[:, None] * FRAME
    fx = np.fft.rfftfreq(FRAME)[None, :] * FRAME
    radius = np.hypot(fx, fy)
    amplitude = np.divide(1.0, radius, out=np.zeros_like(radius), where=radius > 0)
    shape = amplitude.shape
    coefficients = (rng.normal(size=shape) + 1j * rng.normal(size=shape)) * amplitude
    field = np.fft.irfft2(coefficients, s=(FRAME, FRAME))
    return field / field.std()


def natural_background(rng: np.random.Generator) -> np.ndarray:
    """float32 [3, FRAME, FRAME] in [0.1, 0.85]: a luminance 1/f field shared by the channels
    plus a weaker 1/f field per channel (colour), scaled to NATURAL_STD around a random colour
    of the frame; like `background`, it never reaches the square's white."""
    luminance = spectral_field(rng)
    field = np.stack([luminance + NATURAL_CHROMA * spectral_field(rng) for _ in range(3)])
    field = field / field.std() * NATURAL_STD + rng.uniform(0.3, 0.65, (3, 1, 1))
    return np.clip(field, 0.1, 0.85).astype(np.float32)


def move(position: np.ndarray, action: np.ndarray) -> np.ndarray:
    """The square's next top-left corner [2] (x, y) after `action` [2] in [-1, 1]."""
    return np.clip(position + STEP * np.clip(action, -1.0, 1.0), LOW, HIGH)


def render(field: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Frames uint8 [F, 3, FRAME, FRAME]: the field with the white square at each corner
    position [F, 2] (x, y), its edges antialiased by pixel coverage."""
    edges = np.arange(FRAME, dtype=np.float32)

    def coverage(start: np.ndarray) -> np.ndarray:  # [F] -> [F, FRAME]
        lo = np.maximum(edges[None, :], start[:, None])
        hi = np.minimum(edges[None, :] + 1, start[:, None] + SIDE)
        return np.clip(hi - lo, 0.0, 1.0)

    x = coverage(positions[:, 0].astype(np.float32))
    y = coverage(positions[:, 1].astype(np.float32))
    alpha = (y[:, :, None] * x[:, None, :])[:, None]  # [F, 1, H, W]
    frames = field[None] * (1.0 - alpha) + alpha
    return np.round(frames * 255.0).astype(np.uint8)


def simulate(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corner positions [T+1, 2], actions [T, 2] (i.i.d. uniform pushes) and rewards [T] (how
    close the square ends to the centre: 1 at the centre, 0 at a corner) of one clip."""
    position = rng.uniform(LOW, HIGH, 2)
    actions = rng.uniform(-1.0, 1.0, (CLIP_STEPS, 2)).astype(np.float32)
    positions = [position]
    for action in actions:
        position = move(position, action)
        positions.append(position)
    corners = np.stack(positions)
    centre = np.full(2, (LOW + HIGH) / 2)
    distance = np.linalg.norm(corners[1:] - centre, axis=1) / np.linalg.norm(centre - LOW)
    return corners, actions, (1.0 - distance).astype(np.float32)


def world_clips(
    name: str, backdrop: Callable[[np.random.Generator], np.ndarray], split: str, seed: int
) -> Episodes:
    """CLIPS[split] clips of the push world in front of `backdrop` fields, seeded by (name,
    split, seed)."""
    root = np.random.SeedSequence([zlib.crc32(name.encode()), SPLITS.index(split), seed])
    clips = []
    for child in root.spawn(CLIPS[split]):
        rng = np.random.default_rng(child)
        field = backdrop(rng)
        positions, actions, rewards = simulate(rng)
        clips.append(episode_rows(render(field, positions), actions, rewards, terminated=False))
    return concat_episodes(clips)


def push_clips(split: str, seed: int) -> Episodes:
    """`push`: the rectangle mosaic."""
    return world_clips("push", background, split, seed)


def push_natural_clips(split: str, seed: int) -> Episodes:
    """`push-natural`: the 1/f colour field."""
    return world_clips("push-natural", natural_background, split, seed)
