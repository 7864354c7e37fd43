"""Gymnasium vector environments for the online loop, and their state as JSON for checkpoints.

The loop steps a SyncVectorEnv with SAME_STEP autoreset: when a sub-environment's episode ends,
step() returns that episode's last observation in `info["final_obs"]` and the first of the next
episode in its place, so every observation the agent acts on is a real one (no dummy step).

Snapshots. Resuming a killed run mid-episode must put each sub-environment back exactly where
it was. Gymnasium has no generic get/set-state API, so a snapshot records what the
classic-control environments (and others built the same way) keep between steps: the
unwrapped env's `state` and its few counters, the RNG of each sub-env, and the wrappers'
counters (TimeLimit's elapsed steps; PixelObservation keeps nothing between steps). An
environment without a `state` attribute (MuJoCo, Box2D, Atari) cannot be restored this way:
`snapshot()` then reports `exact=False`, and the loop starts fresh episodes on resume instead
of continuing the interrupted ones (and says so).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worldflux.core import ContractError

# Attributes that change while an episode runs, on the unwrapped env or on a wrapper.
STATE_ATTRS = ("state", "steps_beyond_terminated", "last_u", "_elapsed_steps", "_has_reset")


def _check_pixels(pixels: int) -> None:
    if not isinstance(pixels, int) or isinstance(pixels, bool) or pixels < 0:
        raise ContractError(f"pixels must be an int >= 0 (0: state observations), got {pixels!r}")


def _render_error(env_id: str, err: Exception) -> ContractError:
    return ContractError(
        f"{env_id} cannot give pixel observations: it cannot be made with "
        f"render_mode='rgb_array' ({err})"
    )


def make_vector_env(
    env_id: str, num_envs: int = 1, max_episode_steps: int | None = None, pixels: int = 0
) -> Any:
    """A SyncVectorEnv of `num_envs` copies of `env_id`, with SAME_STEP autoreset; with
    `pixels` > 0 each copy observes its rgb_array render at pixels x pixels (agents.pixels)."""
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    if not isinstance(num_envs, int) or num_envs < 1:
        raise ContractError(f"num_envs must be an int >= 1, got {num_envs!r}")
    _check_pixels(pixels)
    kwargs: dict[str, Any] = {}
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = int(max_episode_steps)
    if pixels:
        from worldflux.agents.pixels import RENDER_MODE, pixel_wrapper

        kwargs.update(render_mode=RENDER_MODE, wrappers=[pixel_wrapper(pixels)])
    try:
        return gym.make_vec(
            env_id,
            num_envs=num_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
            **kwargs,
        )
    except gym.error.Error as err:
        raise ContractError(f"cannot make gymnasium env {env_id!r}: {err}") from None
    except TypeError as err:  # an env class that takes no render_mode argument
        if pixels and "render_mode" in str(err):
            raise _render_error(env_id, err) from None
        raise


def make_eval_env(
    env_id: str,
    max_episode_steps: int | None = None,
    render_mode: str | None = None,
    pixels: int = 0,
) -> Any:
    """One environment for evaluation episodes (rgb_array rendering for videos; with `pixels`
    its observations are the resized frames, as in make_vector_env)."""
    import gymnasium as gym

    _check_pixels(pixels)
    kwargs: dict[str, Any] = {}
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = int(max_episode_steps)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if not pixels:
        return gym.make(env_id, **kwargs)
    from worldflux.agents.pixels import RENDER_MODE, PixelObservation

    if render_mode not in (None, RENDER_MODE):
        raise ContractError(f"pixel observations render {RENDER_MODE!r}, not {render_mode!r}")
    kwargs["render_mode"] = RENDER_MODE
    try:
        env = gym.make(env_id, **kwargs)
    except TypeError as err:
        if "render_mode" in str(err):
            raise _render_error(env_id, err) from None
        raise
    return PixelObservation(env, pixels)


def _layers(env: Any) -> list[Any]:
    layers = [env]
    while hasattr(layers[-1], "env"):
        layers.append(layers[-1].env)
    return layers


def _to_json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, tuple):
        return {"tuple": [_to_json(v) for v in value]}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise ContractError(f"cannot snapshot an environment attribute of type {type(value).__name__}")


def _from_json(value: Any) -> Any:
    if isinstance(value, dict) and "array" in value:
        return np.asarray(value["array"], dtype=value["dtype"])
    if isinstance(value, dict) and "tuple" in value:
        return tuple(_from_json(v) for v in value["tuple"])
    return value


def _rng_state(env: Any) -> dict[str, Any]:
    state = env.unwrapped.np_random.bit_generator.state
    return _jsonable_rng(state)


def _jsonable_rng(state: Any) -> Any:
    if isinstance(state, dict):
        return {k: _jsonable_rng(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return {"array": state.tolist(), "dtype": str(state.dtype)}
    if isinstance(state, np.generic):
        return state.item()
    return state


def _restore_rng(state: Any) -> Any:
    if isinstance(state, dict) and "array" in state and "dtype" in state:
        return np.asarray(state["array"], dtype=state["dtype"])
    if isinstance(state, dict):
        return {k: _restore_rng(v) for k, v in state.items()}
    return state


def snapshot(vec_env: Any) -> dict[str, Any]:
    """JSON state of every sub-env of a SyncVectorEnv: {"exact", "envs": [...]}."""
    envs = getattr(vec_env, "envs", None)
    if envs is None:
        raise ContractError(
            f"cannot snapshot {type(vec_env).__name__}: the online loop checkpoints a "
            "SyncVectorEnv (its sub-environments live in this process)"
        )
    out = []
    exact = True
    for env in envs:
        layers = []
        for layer in _layers(env):
            attrs = vars(layer)
            layers.append({k: _to_json(attrs[k]) for k in STATE_ATTRS if k in attrs})
        exact = exact and "state" in vars(env.unwrapped)
        out.append({"layers": layers, "rng": _rng_state(env)})
    return {"exact": exact, "envs": out}


def restore(vec_env: Any, data: dict[str, Any]) -> None:
    """Put a snapshot back into a SyncVectorEnv of the same env id and size (after a reset)."""
    envs = vec_env.envs
    if len(envs) != len(data["envs"]):
        raise ContractError(
            f"the snapshot holds {len(data['envs'])} environments, this vector env has {len(envs)}"
        )
    for env, saved in zip(envs, data["envs"], strict=True):
        layers = _layers(env)
        if len(layers) != len(saved["layers"]):
            raise ContractError(
                "the snapshot was taken from a differently wrapped environment "
                f"({len(saved['layers'])} layers, this one has {len(layers)})"
            )
        for layer, attrs in zip(layers, saved["layers"], strict=True):
            for key, value in attrs.items():
                setattr(layer, key, _from_json(value))
        env.unwrapped.np_random.bit_generator.state = _restore_rng(saved["rng"])
