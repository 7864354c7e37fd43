"""Env snapshots: a vector env restored from JSON continues exactly, across autoresets."""

import json

import numpy as np
import pytest

from worldflux.agents.envs import make_vector_env, restore, snapshot
from worldflux.core import ContractError


def _steps(env, actions):
    out = []
    for a in actions:
        obs, reward, terminated, truncated, _ = env.step(a)
        out.append((obs.copy(), reward.copy(), terminated.copy(), truncated.copy()))
    return out


def test_cartpole_snapshot_round_trips_through_json_and_continues_exactly() -> None:
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 2, size=(60, 2))
    env = make_vector_env("CartPole-v1", num_envs=2, max_episode_steps=15)
    env.reset(seed=[5, 6])
    _steps(env, actions[:22])  # past one autoreset (15-step episodes), mid-episode now
    saved = json.loads(json.dumps(snapshot(env)))
    assert saved["exact"] and len(saved["envs"]) == 2
    expected = _steps(env, actions[22:])
    fresh = make_vector_env("CartPole-v1", num_envs=2, max_episode_steps=15)
    fresh.reset(seed=[100, 101])  # another start entirely
    restore(fresh, saved)
    got = _steps(fresh, actions[22:])
    assert any(t.any() or u.any() for _, _, t, u in expected)  # an episode ends in the tail
    for (o1, r1, t1, u1), (o2, r2, t2, u2) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        assert (t1 == t2).all() and (u1 == u2).all()


def test_restore_refuses_another_number_of_envs() -> None:
    env = make_vector_env("Pendulum-v1", num_envs=2)
    env.reset(seed=[0, 1])
    other = make_vector_env("Pendulum-v1", num_envs=3)
    other.reset(seed=0)
    with pytest.raises(ContractError, match="holds 2 environments"):
        restore(other, snapshot(env))
    with pytest.raises(ContractError, match="num_envs"):
        make_vector_env("Pendulum-v1", num_envs=0)
    with pytest.raises(ContractError, match="cannot make gymnasium env"):
        make_vector_env("NoSuchEnv-v0")
