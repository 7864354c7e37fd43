"""Scripted, noisy policies for the classic-control datasets.

Each factory draws per-episode gains and noise from the episode's rng, so a dataset mixes
skilled and clumsy episodes: rewards vary, CartPole episodes end at varied times (some by
termination, some by the TimeLimit), and MountainCar sometimes fails to reach the flag.
Stored continuous actions are in [-1, 1]; the env receives them rescaled to its own bounds.
"""

from __future__ import annotations

import math

import numpy as np

from worldflux.datasets.collect import Policy

PENDULUM_MAX_TORQUE = 2.0


def _clip(value: float, bound: float = 1.0) -> float:
    """Scalar clip; np.clip costs microseconds per call in these per-step loops."""
    return min(max(value, -bound), bound)


# Pendulum-v1: theta'' = 3g/(2l) sin(theta) + 3/(m l^2) u with g=10, m=l=1; theta=0 is upright.
_PENDULUM_A = 15.0


def pendulum_torque(obs: np.ndarray, pump_gain: float) -> float:
    """Energy pumping far from the top, a PD balance near it (torque in [-2, 2]).

    With u = 0, E = theta'^2 / 2 + A cos(theta) is conserved and dE/dt = 3 u theta', so pushing
    along theta' while E is below the upright energy A swings the pendulum up.
    """
    cos, sin, velocity = float(obs[0]), float(obs[1]), float(obs[2])
    angle = math.atan2(sin, cos)
    if cos > 0.85:
        torque = -(10.0 * angle + 2.0 * velocity)
    else:
        energy = 0.5 * velocity * velocity + _PENDULUM_A * cos
        torque = pump_gain * (_PENDULUM_A - energy) * velocity
    return _clip(torque, PENDULUM_MAX_TORQUE)


def pendulum_policy(rng: np.random.Generator) -> Policy:
    clumsy = rng.random() < 0.15  # mostly random episodes keep low-reward states in the data
    gain = 0.0 if clumsy else rng.uniform(0.05, 0.5)
    sigma = 0.8 if clumsy else rng.uniform(0.05, 0.5)

    def act(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scripted = pendulum_torque(obs, gain) / PENDULUM_MAX_TORQUE if gain else 0.0
        a = _clip(scripted + sigma * float(rng.standard_normal()))
        action = np.array([a], np.float32)
        return action, action * PENDULUM_MAX_TORQUE

    return act


TORQUE_LEVELS = np.array([-2.0, -1.0, 0.0, 1.0, 2.0], np.float32)


def pendulum_discrete_policy(rng: np.random.Generator) -> Policy:
    """The pendulum controller snapped to five torque levels, with epsilon-random choices."""
    gain = rng.uniform(0.05, 0.5)
    epsilon = rng.uniform(0.05, 0.5)

    def act(obs: np.ndarray) -> tuple[np.int64, np.ndarray]:
        if rng.random() < epsilon:
            index = int(rng.integers(len(TORQUE_LEVELS)))
        else:
            index = int(np.abs(TORQUE_LEVELS - pendulum_torque(obs, gain)).argmin())
        return np.int64(index), TORQUE_LEVELS[index : index + 1]

    return act


def mountaincar_policy(rng: np.random.Generator) -> Policy:
    """Push along the velocity (pumping energy); weak-gain episodes rarely reach the flag."""
    weak = rng.random() < 0.1
    gain = rng.uniform(0.05, 0.15) if weak else rng.uniform(0.25, 1.0)
    sigma = rng.uniform(0.1, 0.5)

    def act(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        direction = 1.0 if obs[1] > 0 else -1.0
        a = _clip(gain * direction + sigma * float(rng.standard_normal()))
        action = np.array([a], np.float32)
        return action, action

    return act


def cartpole_policy(rng: np.random.Generator) -> Policy:
    """A linear balancing rule on (x, x', theta, theta') with epsilon-random pushes."""
    gains = np.array([0.1, 0.5, 10.0, 2.0]) * rng.uniform(0.7, 1.3, size=4)
    epsilon = rng.uniform(0.0, 0.6)

    def act(obs: np.ndarray) -> tuple[np.int64, int]:
        index = int(float(obs @ gains) > 0.0)
        if rng.random() < epsilon:
            index = int(rng.integers(2))
        return np.int64(index), index

    return act
