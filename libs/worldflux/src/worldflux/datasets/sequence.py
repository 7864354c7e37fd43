"""SequenceDataset: fixed episodes sampled as batches of contiguous sequences."""

from __future__ import annotations

import numpy as np
import torch

from worldflux.core.errors import ContractError
from worldflux.core.state import Batch
from worldflux.datasets.episodes import Episodes
from worldflux.datasets.spec import DatasetSpec


def window_index(
    starts: torch.Tensor,
    lengths: torch.Tensor,
    batch_size: int,
    seq_len: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Row indices [B, T] of windows drawn uniformly over every window inside one episode.

    Each valid (episode, offset) pair is equally likely, so long episodes are sampled in
    proportion to their length, as a replay buffer would be.
    """
    per_episode = (lengths - seq_len + 1).clamp(min=0)
    cumulative = per_episode.cumsum(0)
    total = int(cumulative[-1]) if len(cumulative) else 0
    if total == 0:
        longest = int(lengths.max()) if len(lengths) else 0
        raise ContractError(
            f"seq_len {seq_len} is longer than every episode (longest has {longest} rows)"
        )
    draw = torch.randint(total, (batch_size,), generator=generator)
    episode = torch.searchsorted(cumulative, draw, right=True)
    offset = draw - (cumulative[episode] - per_episode[episode])
    first = starts[episode] + offset
    return first[:, None] + torch.arange(seq_len)


def check_sample_args(batch_size: int, seq_len: int) -> None:
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ContractError(f"{name} must be a positive int, got {value!r}")


class SequenceDataset:
    """A bundled dataset split: episodes stored flat, sampled without Python loops.

    Sequences stay inside one episode: `is_first[:, 0]` is set when a window starts an
    episode and never later in the window. `extras["is_last"]` marks each episode's final
    observation, whose action and reward are zero padding (see datasets.episodes).
    Pixel observations are stored as uint8 and returned as float32 in [0, 1].
    """

    def __init__(self, spec: DatasetSpec, episodes: Episodes) -> None:
        if tuple(episodes.obs.shape[1:]) != spec.obs_shape:
            raise ContractError(
                f"dataset {spec.name!r}: stored obs shape {list(episodes.obs.shape[1:])} "
                f"does not match spec {list(spec.obs_shape)}"
            )
        self.spec = spec
        self.episodes = episodes
        self._obs = torch.from_numpy(episodes.obs)
        self._actions = torch.from_numpy(episodes.actions)
        self._rewards = torch.from_numpy(episodes.rewards)
        self._continues = torch.from_numpy(episodes.continues)
        self._is_first = torch.from_numpy(episodes.is_first)
        self._is_last = torch.from_numpy(episodes.is_last)
        self._starts = torch.from_numpy(episodes.starts.astype(np.int64))
        self._lengths = torch.from_numpy(episodes.lengths.astype(np.int64))

    def __len__(self) -> int:
        return self.episodes.num_steps

    def __repr__(self) -> str:
        s = self.spec
        return (
            f"SequenceDataset({s.name!r}, split={s.split!r}, episodes={s.num_episodes}, "
            f"steps={s.num_steps}, obs={list(s.obs_shape)} {s.obs_dtype})"
        )

    def rows(self, index: torch.Tensor) -> Batch:
        """The Batch made of rows `index` [B, T] (any rows; `sample` picks valid windows)."""
        obs = self._obs[index]
        if obs.dtype == torch.uint8:
            obs = obs.to(torch.float32).div_(255.0)
        return Batch(
            obs=obs,
            actions=self._actions[index],
            rewards=self._rewards[index],
            continues=self._continues[index],
            is_first=self._is_first[index],
            extras={"is_last": self._is_last[index]},
        )

    def sample(
        self, batch_size: int, seq_len: int, generator: torch.Generator | None = None
    ) -> Batch:
        """B sequences of T steps, each inside one episode, drawn with `generator`."""
        check_sample_args(batch_size, seq_len)
        index = window_index(self._starts, self._lengths, batch_size, seq_len, generator)
        return self.rows(index)
