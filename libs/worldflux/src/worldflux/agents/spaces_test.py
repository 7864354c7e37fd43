"""Gymnasium spaces map to our specs, or fail with a message that names the space."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from worldflux.agents.spaces import env_spaces
from worldflux.core import ActionKind, ContractError


def test_vector_box_and_uniform_bounds_pass_through_in_env_units() -> None:
    s = env_spaces(spaces.Box(-8.0, 8.0, (3,), np.float32), spaces.Box(-2.0, 2.0, (1,), np.float32))
    assert s.observation.shape == (3,) and s.observation.modality == "vector"
    assert s.action.kind is ActionKind.CONTINUOUS and s.action.low == (-2.0,)
    assert s.model_overrides() == {
        "obs_shape": (3,),
        "action_dim": 1,
        "action_kind": "continuous",
        "action_low": -2.0,
        "action_high": 2.0,
    }
    # Out-of-range model actions are clipped to the env's bounds, not passed on.
    assert s.env_actions(torch.tensor([[3.0], [-0.5]])).tolist() == [[2.0], [-0.5]]


def test_per_dimension_bounds_are_rescaled_from_unit_actions() -> None:
    s = env_spaces(
        spaces.Box(-1.0, 1.0, (2,), np.float32),
        spaces.Box(np.array([0.0, -4.0], np.float32), np.array([1.0, 4.0], np.float32)),
    )
    assert s.rescale and s.action.low == (-1.0, -1.0) and s.action.high == (1.0, 1.0)
    out = s.env_actions(np.array([[-1.0, 1.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.0, 4.0], [0.5, 0.0]])


def test_discrete_actions_and_random_actions_stay_in_range() -> None:
    s = env_spaces(spaces.Box(-1, 1, (4,), np.float32), spaces.Discrete(3))
    assert s.discrete and s.model_overrides()["action_kind"] == "discrete"
    draws = s.random_actions(np.random.default_rng(0), 500)
    assert draws.dtype == np.int64 and set(draws.tolist()) == {0, 1, 2}
    assert s.env_actions(torch.tensor([2, 0])).tolist() == [2, 0]


def test_uint8_frames_become_channels_first_pixels_in_unit_range() -> None:
    s = env_spaces(spaces.Box(0, 255, (64, 48, 3), np.uint8), spaces.Discrete(2))
    assert s.pixels and s.observation.shape == (3, 64, 48)
    assert s.observation.modality == "image"
    frames = np.full((2, 64, 48, 3), 255, np.uint8)
    frames[:, 0, 0, 1] = 0
    stored = s.storage_obs(frames)
    assert stored.shape == (2, 3, 64, 48) and stored.dtype == np.uint8
    model = s.model_obs(frames)
    assert model.dtype == torch.float32 and float(model.max()) == 1.0
    assert float(model[0, 1, 0, 0]) == 0.0  # channel 1 of pixel (0, 0), moved to the front


@pytest.mark.parametrize(
    ("obs_space", "act_space", "message"),
    [
        (spaces.Dict({"a": spaces.Box(-1, 1, (2,))}), spaces.Discrete(2), "Dict"),
        (spaces.Tuple((spaces.Discrete(3), spaces.Discrete(2))), spaces.Discrete(2), "Tuple"),
        (spaces.Discrete(5), spaces.Discrete(2), "Discrete"),
        (spaces.Box(-1, 1, (4, 4), np.float32), spaces.Discrete(2), "shape (4, 4)"),
        (spaces.Box(-1, 1, (3,), np.float32), spaces.MultiDiscrete([2, 3]), "MultiDiscrete"),
        (spaces.Box(-1, 1, (3,), np.float32), spaces.MultiBinary(4), "MultiBinary"),
        (spaces.Box(-1, 1, (3,), np.float32), spaces.Box(-np.inf, np.inf, (2,)), "finite"),
        (spaces.Box(-1, 1, (3,), np.float32), spaces.Box(-1, 1, (2, 2)), "1-D float Box"),
        (spaces.Box(-1, 1, (3,), np.float32), spaces.Discrete(3, start=1), "start at 0"),
    ],
)
def test_unsupported_spaces_are_named_in_a_contract_error(obs_space, act_space, message) -> None:
    with pytest.raises(ContractError, match="unsupported") as err:
        env_spaces(obs_space, act_space)
    assert message in str(err.value)
