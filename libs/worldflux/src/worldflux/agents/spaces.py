"""Gymnasium spaces -> our ObservationSpec / ActionSpec, and the conversions at the boundary.

Supported, because the reference families and the planners have a contract for them:
- observations: a 1-D float Box (vector) or a uint8 Box of shape (H, W, C) with C in 1, 3, 4
  (pixels, as rendered frames come; the model sees [C, H, W] floats in [0, 1]);
- actions: a bounded float Box of shape (A,) (continuous) or a Discrete(n) starting at 0.
Anything else (Dict, Tuple, MultiDiscrete, MultiBinary, Text, unbounded or multi-dimensional
action boxes, ...) is a ContractError naming the space, not a failure deep inside a model.

Action bounds. The families' configs take one scalar `action_low/high`: a Box whose bounds are
the same on every dimension is passed through (the model works in the env's units, as TD-MPC2
expects), while a Box with per-dimension bounds is presented to the model as [-1, 1] and
rescaled here before it reaches the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from worldflux.core import ActionSpec, ContractError, ObservationSpec

PIXEL_CHANNELS = (1, 3, 4)


def _describe(space: Any) -> str:
    return f"{type(space).__name__} {space}"


@dataclass(frozen=True)
class EnvSpaces:
    """An environment's spaces as the model sees them, and how to convert at the boundary.

    `env_low/env_high` are the per-dimension bounds of a continuous action Box; when
    `rescale` is set the model's actions live in [-1, 1] and are mapped onto them.
    """

    observation: ObservationSpec
    action: ActionSpec
    pixels: bool = False
    env_low: tuple[float, ...] | None = None
    env_high: tuple[float, ...] | None = None
    rescale: bool = False

    @property
    def discrete(self) -> bool:
        return self.action.is_indexed

    def model_overrides(self) -> dict[str, Any]:
        """Config fields for create_world_model (obs_shape, action_dim, kind, bounds)."""
        out: dict[str, Any] = {"obs_shape": tuple(self.observation.shape)}
        if self.discrete:
            out.update(action_dim=self.action.num_actions, action_kind="discrete")
        else:
            assert self.action.low is not None and self.action.high is not None
            out.update(
                action_dim=self.action.dim,
                action_kind="continuous",
                action_low=float(self.action.low[0]),
                action_high=float(self.action.high[0]),
            )
        return out

    # -- observations ----------------------------------------------------------------------
    def storage_obs(self, obs: Any) -> np.ndarray:
        """Env observations [N, *env_shape] -> the replay layout [N, *obs_shape] (pixels stay
        uint8, channels first; vectors become float32)."""
        array = np.asarray(obs)
        if self.pixels:
            return np.ascontiguousarray(np.moveaxis(array, -1, -3)).astype(np.uint8, copy=False)
        return array.astype(np.float32, copy=False)

    def model_obs(self, obs: Any) -> torch.Tensor:
        """Env observations [N, *env_shape] -> the float tensor [N, *obs_shape] a model takes
        (pixels scaled to [0, 1], as the replay buffer returns them)."""
        stored = torch.as_tensor(self.storage_obs(obs))
        return stored.float().div_(255.0) if self.pixels else stored

    # -- actions ---------------------------------------------------------------------------
    def env_actions(self, actions: torch.Tensor | np.ndarray) -> np.ndarray:
        """Model actions [N, A] (or indices [N]) -> what the vector env's step takes."""
        array = np.asarray(
            actions.detach().cpu().numpy() if isinstance(actions, torch.Tensor) else actions
        )
        if self.discrete:
            return array.astype(np.int64).reshape(-1)
        array = array.astype(np.float32).reshape(-1, self.action.dim)
        if self.rescale:
            assert self.env_low is not None and self.env_high is not None
            low, high = np.asarray(self.env_low, np.float32), np.asarray(self.env_high, np.float32)
            array = low + (np.clip(array, -1.0, 1.0) + 1.0) * 0.5 * (high - low)
        elif self.action.low is not None and self.action.high is not None:
            array = np.clip(array, self.action.low, self.action.high)
        return array.astype(np.float32)

    def random_actions(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n uniform actions in the model's units (indices for discrete), from `rng` alone so
        that a checkpoint of rng's state reproduces them."""
        if self.discrete:
            return rng.integers(0, self.action.num_actions, size=n).astype(np.int64)
        assert self.action.low is not None and self.action.high is not None
        low = np.asarray(self.action.low, np.float32)
        high = np.asarray(self.action.high, np.float32)
        return rng.uniform(low, high, size=(n, self.action.dim)).astype(np.float32)


def observation_spec(space: Any) -> tuple[ObservationSpec, bool]:
    """(spec, pixels) for a gymnasium observation space; ContractError when unsupported."""
    from gymnasium import spaces

    if not isinstance(space, spaces.Box):
        raise ContractError(
            f"unsupported observation space {_describe(space)}: worldflux agents take a 1-D "
            "float Box (state vectors) or a uint8 Box (H, W, C) (pixels); flatten Dict/Tuple "
            "observations (gymnasium.wrappers.FlattenObservation) or pick one key first"
        )
    shape = tuple(int(d) for d in space.shape)
    if space.dtype == np.uint8 and len(shape) == 3 and shape[-1] in PIXEL_CHANNELS:
        height, width, channels = shape
        return ObservationSpec((channels, height, width), "float32", "image"), True
    if len(shape) == 1 and np.issubdtype(space.dtype, np.floating):
        return ObservationSpec(shape, "float32", "vector"), False
    raise ContractError(
        f"unsupported observation Box {space} (dtype {space.dtype}, shape {shape}): worldflux "
        "agents take a 1-D float Box or a uint8 (H, W, C) Box with C in "
        f"{PIXEL_CHANNELS}; flatten other float arrays first"
    )


def action_spec(
    space: Any,
) -> tuple[ActionSpec, tuple[float, ...] | None, tuple[float, ...] | None, bool]:
    """(spec, env_low, env_high, rescale) for a gymnasium action space."""
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        if int(space.start) != 0:
            raise ContractError(
                f"unsupported action space {_describe(space)}: Discrete actions must start at 0"
            )
        return ActionSpec.discrete(int(space.n)), None, None, False
    if isinstance(space, spaces.Box):
        if len(space.shape) != 1 or not np.issubdtype(space.dtype, np.floating):
            raise ContractError(
                f"unsupported action Box {space}: worldflux agents take a 1-D float Box "
                "(flatten multi-dimensional action arrays first)"
            )
        low = tuple(float(v) for v in space.low)
        high = tuple(float(v) for v in space.high)
        if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
            raise ContractError(
                f"unsupported action Box {space}: the bounds must be finite (planners and "
                "policy priors sample inside them); wrap the env with "
                "gymnasium.wrappers.ClipAction or RescaleAction first"
            )
        dim = len(low)
        if len(set(low)) == 1 and len(set(high)) == 1:
            return ActionSpec.continuous(dim, low[0], high[0]), low, high, False
        return ActionSpec.continuous(dim, -1.0, 1.0), low, high, True
    raise ContractError(
        f"unsupported action space {_describe(space)}: worldflux agents take a 1-D float Box "
        "(continuous) or a Discrete (indices); MultiDiscrete, MultiBinary, Dict and Tuple "
        "action spaces have no action contract yet"
    )


def env_spaces(observation_space: Any, action_space: Any) -> EnvSpaces:
    """Both of an environment's (single, not batched) spaces as EnvSpaces."""
    observation, pixels = observation_spec(observation_space)
    action, low, high, rescale = action_spec(action_space)
    return EnvSpaces(observation, action, pixels, low, high, rescale)
