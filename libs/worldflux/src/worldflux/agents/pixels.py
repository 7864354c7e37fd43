"""Pixel observations: an env's offscreen rgb_array render as its observation.

`PixelObservation(env, size)` replaces the observation with the frame the env renders after
each reset and step, area-averaged to size x size, as a uint8 (size, size, 3) Box: the layout
agents.spaces maps to an image ObservationSpec (the model sees [3, size, size] floats in
[0, 1]; the replay buffer keeps uint8, as the pixel datasets do). The env must be made with
render_mode="rgb_array" (envs.make_vector_env / make_eval_env do that when asked for pixels);
an env that cannot render rgb_array frames is a ContractError up front, not a shape error
inside a model.

Resizing is an area average (each output pixel is the mean of the input area it covers), a
separable matrix product in numpy: thin features such as CartPole's pole survive a 600 x 400
-> 64 x 64 reduction, which nearest-neighbour sampling would drop, and no image library is
needed (~10 ms a frame on one core, next to ~6 ms for CartPole's own render).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import gymnasium as gym
import numpy as np

from worldflux.core import ContractError

RENDER_MODE = "rgb_array"


@lru_cache(maxsize=16)
def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights: row i averages the input span [i, i + 1) * n_in / n_out."""
    edges = np.linspace(0.0, float(n_in), n_out + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    cells = np.arange(n_in, dtype=np.float64)[None]
    overlap = np.clip(np.minimum(hi, cells + 1.0) - np.maximum(lo, cells), 0.0, None)
    weights = overlap / (hi - lo)
    weights.setflags(write=False)
    return weights.astype(np.float32)


def area_resize(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """A uint8 (H, W, C) frame area-averaged to (height, width, C), uint8."""
    rows = area_weights(frame.shape[0], height)
    cols = area_weights(frame.shape[1], width)
    h_in, w_in, channels = frame.shape
    # Two matrix products (BLAS; an einsum here is ~10x slower): rows, then columns.
    out = rows @ frame.astype(np.float32, copy=False).reshape(h_in, w_in * channels)
    out = out.reshape(height, w_in, channels).transpose(1, 0, 2).reshape(w_in, -1)
    out = (cols @ out).reshape(width, height, channels).transpose(1, 0, 2)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _check_frame(frame: Any, env: Any) -> np.ndarray:
    array = np.asarray(frame) if frame is not None else None
    if array is None or array.ndim != 3 or array.shape[-1] not in (3, 4) or array.size == 0:
        shape = None if array is None else list(array.shape)
        raise ContractError(
            f"{env.spec.id if env.spec else type(env.unwrapped).__name__}: render() returned "
            f"{shape} instead of an (H, W, 3) rgb_array frame; pixel observations need an env "
            "that renders rgb_array frames"
        )
    return array[..., :3].astype(np.uint8, copy=False)


class PixelObservation(gym.ObservationWrapper):  # type: ignore[type-arg]
    """Observations are the env's rendered frames, resized to size x size (uint8 RGB)."""

    def __init__(self, env: gym.Env, size: int) -> None:  # type: ignore[type-arg]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ContractError(f"pixel observations need a size >= 1, got {size!r}")
        modes = list(env.metadata.get("render_modes", []))
        if env.render_mode != RENDER_MODE or RENDER_MODE not in modes:
            name = env.spec.id if env.spec else type(env.unwrapped).__name__
            raise ContractError(
                f"{name} cannot give pixel observations: it was made with render_mode="
                f"{env.render_mode!r} and renders {modes or 'nothing'}; pixel observations need "
                f"render_mode={RENDER_MODE!r}"
            )
        super().__init__(env)
        self.size = size
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)

    def observation(self, observation: Any) -> np.ndarray:
        del observation  # the state vector: the agent sees only the frame
        frame = _check_frame(self.env.render(), self.env)
        return area_resize(frame, self.size, self.size)


def pixel_wrapper(size: int) -> Any:
    """A wrapper factory for gymnasium.make_vec(wrappers=[...])."""

    def wrap(env: gym.Env) -> PixelObservation:  # type: ignore[type-arg]
        return PixelObservation(env, size)

    return wrap
