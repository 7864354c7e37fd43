"""Pixel observations: rendered CartPole frames as uint8 (H, W, 3) observations that map to an
image ObservationSpec [3, H, W] in [0, 1]; the area resize averages; an env that cannot render
rgb_array frames fails up front with a clear error."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from worldflux.agents.envs import make_eval_env, make_vector_env
from worldflux.agents.pixels import PixelObservation, area_resize
from worldflux.agents.spaces import env_spaces
from worldflux.core import ContractError


def test_cartpole_frames_become_image_observations_that_follow_the_state() -> None:
    env = make_vector_env("CartPole-v1", num_envs=2, pixels=32)
    try:
        assert env.single_observation_space.shape == (32, 32, 3)
        assert env.single_observation_space.dtype == np.uint8
        obs, _ = env.reset(seed=[0, 1])
        assert obs.shape == (2, 32, 32, 3) and obs.dtype == np.uint8
        spaces = env_spaces(env.single_observation_space, env.single_action_space)
        assert spaces.pixels and spaces.observation.modality == "image"
        assert spaces.observation.shape == (3, 32, 32)
        x = spaces.model_obs(obs)
        assert x.shape == (2, 3, 32, 32) and x.dtype == torch.float32
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
        assert spaces.storage_obs(obs).dtype == np.uint8
        # A white background with a dark cart and pole: not a constant frame.
        assert obs[0].std() > 10
        # Pushing right for a few steps moves the cart: the frames change with the state.
        first = obs.copy()
        for _ in range(8):
            obs, *_ = env.step(np.array([1, 1]))
        assert np.abs(obs.astype(int) - first.astype(int)).sum() > 0
    finally:
        env.close()
    evaluation = make_eval_env("CartPole-v1", pixels=16)
    try:
        frame, _ = evaluation.reset(seed=3)
        assert frame.shape == (16, 16, 3) and frame.dtype == np.uint8
        assert np.asarray(evaluation.render()).shape == (400, 600, 3)  # videos stay full size
    finally:
        evaluation.close()


def test_area_resize_averages_blocks_and_keeps_thin_lines() -> None:
    frame = np.zeros((4, 6, 3), np.uint8)
    frame[:2, :3] = 200  # top-left quarter
    out = area_resize(frame, 2, 2)
    np.testing.assert_array_equal(out[..., 0], [[200, 0], [0, 0]])
    frame = np.zeros((4, 4, 1), np.uint8)
    frame[:, 1] = 255  # a one-pixel line covers a quarter of a 2-wide block
    np.testing.assert_array_equal(area_resize(frame, 2, 2)[..., 0], [[128, 0], [128, 0]])
    up = area_resize(np.array([[[10], [250]]], np.uint8), 2, 4)
    np.testing.assert_array_equal(up[..., 0], [[10, 10, 250, 250]] * 2)
    # A 600 x 400 frame with a 6-pixel wide pole still shows it at 64 x 64 (nearest-neighbour
    # sampling every 9.4 pixels would miss it at this offset).
    big = np.full((400, 600, 3), 255, np.uint8)
    big[:, 302:308] = 0
    small = area_resize(big, 64, 64)
    assert small.min() < 200


class _NoRender(gym.Env):  # type: ignore[type-arg]
    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's layout)
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode

    def reset(self, *, seed: int | None = None, options: Any = None) -> Any:
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action: Any) -> Any:
        return np.zeros(2, np.float32), 0.0, False, False, {}


class _NoRenderArgument(_NoRender):
    def __init__(self) -> None:
        self.render_mode = None


@pytest.mark.filterwarnings("ignore:.*not in the possible render_modes")
def test_an_env_that_cannot_render_rgb_array_fails_clearly() -> None:
    gym.register("WorldfluxNoRender-v0", entry_point=lambda **kw: _NoRender(**kw))
    gym.register("WorldfluxNoRenderArg-v0", entry_point=lambda **kw: _NoRenderArgument(**kw))
    try:
        with pytest.raises(ContractError, match="cannot give pixel observations"):
            make_vector_env("WorldfluxNoRender-v0", pixels=64)
        with pytest.raises(ContractError, match="cannot give pixel observations"):
            make_eval_env("WorldfluxNoRender-v0", pixels=64)
        with pytest.raises(ContractError, match="cannot give pixel observations"):
            make_vector_env("WorldfluxNoRenderArg-v0", pixels=64)
        # Without pixels the same env is fine (state observations).
        make_vector_env("WorldfluxNoRender-v0").close()
    finally:
        gym.registry.pop("WorldfluxNoRender-v0")
        gym.registry.pop("WorldfluxNoRenderArg-v0")
    with pytest.raises(ContractError, match="render_mode=None"):
        PixelObservation(gym.make("CartPole-v1"), 64)
    with pytest.raises(ContractError, match="size >= 1"):
        PixelObservation(gym.make("CartPole-v1", render_mode="rgb_array"), 0)
    with pytest.raises(ContractError, match="pixels must be an int >= 0"):
        make_vector_env("CartPole-v1", pixels=-1)
