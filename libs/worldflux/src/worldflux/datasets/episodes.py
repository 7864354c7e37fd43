"""Episodes stored back to back in flat arrays, with their boundaries.

Row layout of one episode with L transitions (L + 1 observations): row t < L holds o_t, the
action a_t taken after it, the reward r_t for that action and continues_t (0 when o_{t+1} is
terminal); row L holds the final observation o_L with a zero action and zero reward as padding
(no action follows it) and `is_last` set. Keeping o_L lets a sequence show the terminal
transition, which a loss over steps [:-1] would otherwise never see. A TimeLimit truncation is not
a termination: continues stays 1 on every row of a truncated episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from worldflux.core.errors import ContractError

FIELDS = ("obs", "actions", "rewards", "continues", "is_first", "is_last")


@dataclass
class Episodes:
    obs: np.ndarray  # [N, *obs_shape]: float32, uint8 (pixels, scaled by 1/255 when sampled), int64
    actions: np.ndarray  # [N, A] float32 or [N] int64
    rewards: np.ndarray  # [N] float32
    continues: np.ndarray  # [N] float32
    is_first: np.ndarray  # [N] bool
    is_last: np.ndarray  # [N] bool

    def __post_init__(self) -> None:
        self.check()

    @property
    def num_steps(self) -> int:
        return int(self.obs.shape[0])

    @property
    def starts(self) -> np.ndarray:
        return np.flatnonzero(self.is_first)

    @property
    def lengths(self) -> np.ndarray:
        """Rows per episode (transitions + 1)."""
        return np.diff(np.append(self.starts, self.num_steps))

    @property
    def num_episodes(self) -> int:
        return int(self.is_first.sum())

    @property
    def terminated(self) -> np.ndarray:
        """Per episode: True when it ended in a terminal state, False when truncated."""
        return self.continues[np.flatnonzero(self.is_last)] == 0.0

    def check(self) -> None:
        """Raise ContractError unless the arrays describe whole, well-formed episodes."""
        n = self.obs.shape[0]
        for name in FIELDS:
            value = getattr(self, name)
            if not isinstance(value, np.ndarray):
                raise ContractError(f"episodes.{name} must be a numpy array")
            if value.shape[:1] != (n,):
                raise ContractError(f"episodes.{name} has {value.shape[:1]} rows, obs has {n}")
        if n == 0:
            raise ContractError("episodes are empty")
        if self.is_first.dtype != np.bool_ or self.is_last.dtype != np.bool_:
            raise ContractError("episodes.is_first / is_last must be bool")
        if not self.is_first[0] or not self.is_last[-1]:
            raise ContractError("episodes must start with is_first and end with is_last")
        # Every episode is first ... last: each last row is followed by a first row.
        if not np.array_equal(self.is_last[:-1], self.is_first[1:]):
            raise ContractError("episode boundaries are inconsistent (is_first / is_last)")
        if bool((self.lengths < 2).any()):
            raise ContractError("every episode needs at least one transition (2 rows)")
        for name in ("rewards", "continues"):
            value = getattr(self, name)
            if value.dtype != np.float32 or not bool(np.isfinite(value).all()):
                raise ContractError(f"episodes.{name} must be finite float32")
        if self.obs.dtype == np.float32 and not bool(np.isfinite(self.obs).all()):
            raise ContractError("episodes.obs contains NaN or infinite values")

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in FIELDS}


def episode_rows(
    obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminated: bool
) -> dict[str, np.ndarray]:
    """Rows of one episode from L + 1 observations, L actions and L rewards."""
    steps = len(actions)
    if len(obs) != steps + 1 or len(rewards) != steps or steps < 1:
        raise ContractError(
            f"an episode needs L+1 observations, L actions and L rewards with L >= 1, "
            f"got {len(obs)}, {len(actions)}, {len(rewards)}"
        )
    actions = np.asarray(actions)
    pad = np.zeros((1, *actions.shape[1:]), actions.dtype)
    continues = np.ones(steps + 1, np.float32)
    if terminated:
        continues[-2:] = 0.0
    is_first = np.zeros(steps + 1, bool)
    is_first[0] = True
    is_last = np.zeros(steps + 1, bool)
    is_last[-1] = True
    return {
        "obs": np.asarray(obs),
        "actions": np.concatenate([actions, pad]),
        "rewards": np.append(np.asarray(rewards, np.float32), np.float32(0.0)),
        "continues": continues,
        "is_first": is_first,
        "is_last": is_last,
    }


def concat_episodes(episodes: Sequence[dict[str, np.ndarray]]) -> Episodes:
    if not episodes:
        raise ContractError("no episodes to concatenate")
    return Episodes(**{name: np.concatenate([ep[name] for ep in episodes]) for name in FIELDS})
