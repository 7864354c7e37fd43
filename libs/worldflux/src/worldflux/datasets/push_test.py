"""The `push` clips: the action moves the square by STEP pixels a step, every patch of the
frame carries content that differs between clips, and the splits are different draws."""

import numpy as np
import pytest

from worldflux.datasets import load_dataset, push


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    return load_dataset("push", "heldout", cache_dir=tmp_path_factory.mktemp("cache"))


def square_corners(frames: np.ndarray) -> np.ndarray:
    """[N, 2] (x, y) top-left corners of the white square: the mean of its fully white
    pixels minus half a side (the field never reaches white: it is clipped to 0.9)."""
    white = (frames == 255).all(1)  # [N, H, W]
    ys, xs = np.mgrid[0 : push.FRAME, 0 : push.FRAME] + 0.5
    count = white.sum((1, 2))
    cx = (white * xs).sum((1, 2)) / count
    cy = (white * ys).sum((1, 2)) / count
    return np.stack([cx, cy], 1) - push.SIDE / 2


def test_the_action_moves_the_square_by_step_pixels(heldout) -> None:
    ep = heldout.episodes
    assert (ep.lengths == push.CLIP_STEPS + 1).all() and ep.obs.shape[1:] == (3, 48, 48)
    corners = square_corners(ep.obs)
    rows = np.flatnonzero(~ep.is_last)
    expected = np.clip(corners[rows] + push.STEP * ep.actions[rows], push.LOW, push.HIGH)
    # Each corner read off the fully white pixels is within half a pixel of the simulated one.
    assert np.abs(corners[rows + 1] - expected).max() <= 1.0
    moved = np.abs(corners[rows + 1] - corners[rows]).max(1)
    assert np.mean(moved > 8.0) > 0.2  # often more than a ci patch (8 px) in one step


def test_every_patch_differs_between_clips(heldout) -> None:
    first = heldout.episodes.obs[heldout.episodes.is_first].astype(np.float32) / 255.0
    patches = first.reshape(len(first), 3, 6, 8, 6, 8).mean((3, 5))  # [clips, 3, 6, 6]
    spread = patches.std(0).mean(0)  # per patch position, across clips
    assert spread.min() > 0.1, spread  # no patch position is the same background everywhere


def test_seeds_and_splits_are_different_draws(tmp_path) -> None:
    a = push.push_clips("train", 0)
    assert np.array_equal(a.obs, push.push_clips("train", 0).obs)
    assert not np.array_equal(a.obs[:33], push.push_clips("train", 1).obs[:33])
    assert not np.array_equal(a.obs[:33], push.push_clips("heldout", 0).obs[:33])


def radial_slope(frames: np.ndarray) -> float:
    """Slope of log amplitude against log frequency (2-12 cycles per frame), averaged over the
    channels and frames [N, 3, H, W]: about -1 for natural images."""
    spectrum = np.abs(np.fft.rfft2(frames - frames.mean((2, 3), keepdims=True))).mean((0, 1))
    fy = np.fft.fftfreq(push.FRAME)[:, None] * push.FRAME
    fx = np.fft.rfftfreq(push.FRAME)[None, :] * push.FRAME
    radius = np.hypot(fx, fy)
    bands = np.arange(2, 13)
    amplitude = [spectrum[(radius >= f - 0.5) & (radius < f + 0.5)].mean() for f in bands]
    return float(np.polyfit(np.log(bands), np.log(amplitude), 1)[0])


def test_the_natural_backdrop_has_a_natural_spectrum_and_stays_below_white() -> None:
    rng = np.random.default_rng(0)
    fields = np.stack([push.natural_background(rng) for _ in range(64)])
    assert fields.dtype == np.float32 and fields.shape == (64, 3, push.FRAME, push.FRAME)
    assert fields.min() >= 0.1 and fields.max() <= 0.85  # the white square stays unique
    assert -1.4 < radial_slope(fields) < -0.7, radial_slope(fields)
    # White noise is flat: the check tells a 1/f field from an unstructured one.
    noise = rng.uniform(0.1, 0.85, fields.shape)
    assert radial_slope(noise) > -0.2
    # Channels share a luminance field (as in photographs) but are not copies of one another.
    centred = fields - fields.mean((2, 3), keepdims=True)  # each frame's own colour apart
    corr = np.corrcoef(centred[:, 0].ravel(), centred[:, 1].ravel())[0, 1]
    assert 0.6 < corr < 0.95, corr


def test_push_natural_is_the_same_world_in_front_of_the_natural_field(tmp_path) -> None:
    clips = load_dataset("push-natural", "heldout", cache_dir=tmp_path).episodes
    assert (clips.lengths == push.CLIP_STEPS + 1).all() and clips.obs.shape[1:] == (3, 48, 48)
    corners = square_corners(clips.obs)
    rows = np.flatnonzero(~clips.is_last)
    expected = np.clip(corners[rows] + push.STEP * clips.actions[rows], push.LOW, push.HIGH)
    assert np.abs(corners[rows + 1] - expected).max() <= 1.0
    first = clips.obs[clips.is_first].astype(np.float32) / 255.0
    assert -1.4 < radial_slope(first) < -0.7  # the square adds edges, not a flat spectrum
    mosaic = push.push_clips("heldout", 0).obs
    assert not np.array_equal(clips.obs[:33], mosaic[:33])
