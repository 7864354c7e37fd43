"""ReplayBuffer: a FIFO ring of steps with episode boundaries, sampled as sequences.

Rows follow the bundled datasets' layout (see worldflux.datasets.episodes): obs, the action
taken after it, the reward for that action, continues (0 when the next step is terminal),
is_first and is_last. Sequences stay inside one episode, as SequenceDataset's do, so a loss
never sees a transition from one episode's end into the next one's start. When the ring
wraps, the oldest rows go first; the surviving tail of a partly evicted episode stays
sampleable (its rows are contiguous, it merely lost its start).

Replay context (DreamerV3's `replay_context: 1`): a model may hand back the posterior latent it
computed for every step of a training batch (`store_latents`), and the buffer keeps it with the
row. A later sample then carries, per sequence, the latent of the row just before its first
step together with that row's action, reward and continue flag (`extras["context.*"]`), so the
model restarts from an informed state instead of zeros and can train the first step's reward
and continue targets too. Stored latents are part of the checkpoint (exact resume) and are
forgotten when their row is overwritten.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from worldflux.core.errors import CheckpointError, ContractError
from worldflux.core.state import Batch
from worldflux.datasets.episodes import episode_rows
from worldflux.datasets.sequence import check_sample_args

_FIELDS = ("obs", "actions", "rewards", "continues", "is_first", "is_last", "episode", "index")
LATENT_PREFIX = "latent."  # checkpoint tensor names of stored latents
CONTEXT_PREFIX = "context."  # Batch.extras keys of the replay context
SLOTS_KEY = "replay.slots"  # Batch.extras key: the buffer rows [B, T] a batch was read from


class ReplayBuffer:
    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...] = (),
        obs_dtype: torch.dtype = torch.float32,
        action_dtype: torch.dtype = torch.int64,
    ) -> None:
        """`action_shape` () with an integer dtype stores discrete indices, (A,) float vectors."""
        if not isinstance(capacity, int) or capacity < 2:
            raise ContractError(f"replay capacity must be an int >= 2, got {capacity!r}")
        self.capacity = capacity
        self.obs_shape = tuple(obs_shape)
        self.action_shape = tuple(action_shape)
        self.obs = torch.zeros((capacity, *self.obs_shape), dtype=obs_dtype)
        self.actions = torch.zeros((capacity, *self.action_shape), dtype=action_dtype)
        self.rewards = torch.zeros(capacity)
        self.continues = torch.zeros(capacity)
        self.is_first = torch.zeros(capacity, dtype=torch.bool)
        self.is_last = torch.zeros(capacity, dtype=torch.bool)
        self.episode = torch.full((capacity,), -1, dtype=torch.int64)  # -1: empty slot
        self.index = torch.full((capacity,), -1, dtype=torch.int64)  # insertion number
        self.cursor = 0  # next slot to write
        self.added = 0  # rows ever added
        self.episodes_started = 0
        self._valid: dict[int, torch.Tensor] = {}  # seq_len -> valid window starts
        # Replay context: name -> [capacity, *shape] posterior latents, allocated by the first
        # store_latents; has_latent marks rows whose latent was written since the row was.
        self.latents: dict[str, torch.Tensor] = {}
        self.has_latent = torch.zeros(capacity, dtype=torch.bool)

    @classmethod
    def from_dataset(cls, dataset: Any) -> ReplayBuffer:
        """A buffer holding every row of a SequenceDataset (same episodes, same order), so that
        training on fixed data can keep a replay context as training on collected data does.

        Pixels stay uint8 (a quarter of float32's memory) and are scaled to [0, 1] when
        sampled, as the dataset returns them."""
        episodes = dataset.episodes
        capacity = max(int(episodes.num_steps), 2)
        if episodes.obs.dtype == np.uint8:
            discrete = dataset.spec.action_kind == "discrete"
            buffer = cls(
                capacity,
                dataset.spec.obs_shape,
                () if discrete else (dataset.spec.action_dim,),
                torch.uint8,
                torch.int64 if discrete else torch.float32,
            )
        else:
            buffer = cls.for_spec(dataset.spec, capacity)
        buffer.add_rows(
            episodes.obs,
            episodes.actions,
            episodes.rewards,
            episodes.continues,
            episodes.is_first,
            episodes.is_last,
        )
        return buffer

    @classmethod
    def for_spec(cls, spec: Any, capacity: int) -> ReplayBuffer:
        """A buffer matching a datasets.DatasetSpec (pixels stored as float32 in [0, 1])."""
        discrete = spec.action_kind == "discrete"
        return cls(
            capacity,
            spec.obs_shape,
            () if discrete else (spec.action_dim,),
            torch.int64 if spec.obs_dtype == "int64" else torch.float32,
            torch.int64 if discrete else torch.float32,
        )

    def __len__(self) -> int:
        return min(self.added, self.capacity)

    # -- adding ----------------------------------------------------------------------------
    def add_rows(
        self,
        obs: Any,
        actions: Any,
        rewards: Any,
        continues: Any,
        is_first: Any,
        is_last: Any | None = None,
    ) -> None:
        """Append N rows (arrays or tensors with leading dim N) in one vectorised write.

        uint8 observations going into a float buffer are scaled to [0, 1], as SequenceDataset
        returns pixels, so rows copied from a dataset's episodes sample the same."""
        rows = {
            "obs": torch.as_tensor(np.asarray(obs)),
            "actions": torch.as_tensor(np.asarray(actions)),
            "rewards": torch.as_tensor(np.asarray(rewards, np.float32)),
            "continues": torch.as_tensor(np.asarray(continues, np.float32)),
            "is_first": torch.as_tensor(np.asarray(is_first, bool)),
        }
        if rows["obs"].dtype == torch.uint8 and self.obs.is_floating_point():
            rows["obs"] = rows["obs"].float().div_(255.0)  # stored pixels, as datasets return them
        n = rows["obs"].shape[0]
        rows["is_last"] = (
            torch.as_tensor(np.asarray(is_last, bool))
            if is_last is not None
            else torch.zeros(n, dtype=torch.bool)
        )
        self._check_rows(rows, n)
        if n == 0:
            return
        if self.added == 0 and not bool(rows["is_first"][0]):
            raise ContractError("the first row added to a replay buffer must have is_first set")
        starts = rows["is_first"].long().cumsum(0)
        rows["episode"] = self.episodes_started - 1 + starts
        rows["index"] = self.added + torch.arange(n)
        if n > self.capacity:  # only the newest rows survive
            rows = {k: v[-self.capacity :] for k, v in rows.items()}
        slots = (self.cursor + torch.arange(len(rows["obs"]))) % self.capacity
        for name, value in rows.items():
            getattr(self, name)[slots] = value.to(getattr(self, name).dtype)
        self.has_latent[slots] = False  # a new row has no posterior yet
        self.episodes_started += int(starts[-1])
        self.added += n
        self.cursor = (self.cursor + n) % self.capacity
        self._valid.clear()

    def add_step(
        self,
        obs: Any,
        action: Any,
        reward: float,
        cont: float,
        is_first: bool,
        is_last: bool = False,
    ) -> None:
        """One row, as an online agent produces them (see the module docstring for meaning)."""
        self.add_rows(
            np.asarray(obs)[None],
            np.asarray(action)[None],
            [reward],
            [cont],
            [is_first],
            [is_last],
        )

    def add_episode(self, obs: Any, actions: Any, rewards: Any, terminated: bool) -> None:
        """A whole episode from L + 1 observations, L actions and L rewards."""
        self.add_rows(**episode_rows(np.asarray(obs), np.asarray(actions), rewards, terminated))

    def _check_rows(self, rows: dict[str, torch.Tensor], n: int) -> None:
        shapes = {
            "obs": (n, *self.obs_shape),
            "actions": (n, *self.action_shape),
            "rewards": (n,),
            "continues": (n,),
            "is_first": (n,),
            "is_last": (n,),
        }
        for name, shape in shapes.items():
            if tuple(rows[name].shape) != shape:
                raise ContractError(
                    f"replay {name} must have shape {list(shape)}, got {list(rows[name].shape)}"
                )
        if self.actions.dtype == torch.int64 and rows["actions"].is_floating_point():
            raise ContractError("this replay buffer stores discrete actions: give integer indices")
        for name in ("obs", "actions", "rewards", "continues"):
            value = rows[name]
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise ContractError(f"replay {name} contains NaN or infinite values")

    # -- sampling --------------------------------------------------------------------------
    def valid_starts(self, seq_len: int) -> torch.Tensor:
        """Slots where a window of seq_len rows lies inside one episode and in time order."""
        if seq_len not in self._valid:
            start = torch.arange(self.capacity)
            end = (start + seq_len - 1) % self.capacity
            ok = (
                (self.episode[start] >= 0)
                & (self.episode[start] == self.episode[end])
                & (self.index[end] - self.index[start] == seq_len - 1)
            )
            self._valid[seq_len] = torch.nonzero(ok).squeeze(1)
        return self._valid[seq_len]

    def sample(
        self, batch_size: int, seq_len: int, generator: torch.Generator | None = None
    ) -> Batch:
        check_sample_args(batch_size, seq_len)
        starts = self.valid_starts(seq_len)
        if len(starts) == 0:
            raise ContractError(
                f"the replay buffer holds no window of {seq_len} steps inside one episode "
                f"({len(self)} rows stored)"
            )
        pick = starts[torch.randint(len(starts), (batch_size,), generator=generator)]
        slots = (pick[:, None] + torch.arange(seq_len)) % self.capacity
        extras = {"is_last": self.is_last[slots], SLOTS_KEY: slots}
        extras.update(self._context(pick))
        obs = self.obs[slots]
        if obs.dtype == torch.uint8:  # stored pixels: returned as datasets return them
            obs = obs.to(torch.float32).div_(255.0)
        return Batch(
            obs=obs,
            actions=self.actions[slots],
            rewards=self.rewards[slots],
            continues=self.continues[slots],
            is_first=self.is_first[slots],
            extras=extras,
        )

    # -- replay context --------------------------------------------------------------------
    def _context(self, first: torch.Tensor) -> dict[str, torch.Tensor]:
        """The row before each window's first row, where it holds a stored latent of the same
        episode: its latents, action, reward and continue flag, and `context.valid` [B]."""
        if not self.latents:
            return {}
        prev = (first - 1) % self.capacity
        valid = (
            self.has_latent[prev]
            & (self.episode[prev] == self.episode[first])
            & (self.index[first] - self.index[prev] == 1)
            & ~self.is_first[first]
        )
        out = {f"{CONTEXT_PREFIX}{name}": store[prev] for name, store in self.latents.items()}
        out.update(
            {
                f"{CONTEXT_PREFIX}valid": valid,
                f"{CONTEXT_PREFIX}action": self.actions[prev],
                f"{CONTEXT_PREFIX}reward": self.rewards[prev],
                f"{CONTEXT_PREFIX}continue": self.continues[prev],
            }
        )
        return out

    def store_latents(self, slots: torch.Tensor, latents: dict[str, torch.Tensor]) -> None:
        """Keep the posterior latents [B, T, *shape] a model computed for rows `slots` [B, T].

        A row that appears in several sequences of one batch keeps one of its latents (they
        differ only in how much history their sequence had)."""
        slots = slots.detach().cpu().long()
        for name, value in latents.items():
            value = value.detach().to("cpu", torch.float32)
            if tuple(value.shape[:2]) != tuple(slots.shape):
                raise ContractError(
                    f"latent {name!r} has leading dims {list(value.shape[:2])}, the slots "
                    f"{list(slots.shape)}"
                )
            store = self.latents.get(name)
            if store is None:
                store = self.latents[name] = torch.zeros(self.capacity, *value.shape[2:])
            elif tuple(store.shape[1:]) != tuple(value.shape[2:]):
                raise ContractError(
                    f"latent {name!r} has shape {list(value.shape[2:])}, the buffer stores "
                    f"{list(store.shape[1:])}"
                )
            store[slots.flatten()] = value.flatten(0, 1)
        self.has_latent[slots.flatten()] = True

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON metadata, tensors): the contents and the cursor."""
        meta = {
            "capacity": self.capacity,
            "obs_shape": list(self.obs_shape),
            "action_shape": list(self.action_shape),
            "cursor": self.cursor,
            "added": self.added,
            "episodes_started": self.episodes_started,
            "latents": {name: list(store.shape[1:]) for name, store in self.latents.items()},
        }
        tensors = {name: getattr(self, name).clone() for name in _FIELDS}
        if self.latents:
            tensors["has_latent"] = self.has_latent.clone()
            tensors.update({LATENT_PREFIX + k: v.clone() for k, v in self.latents.items()})
        return meta, tensors

    def load_state_dict(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        layout = (meta.get("capacity"), meta.get("obs_shape"), meta.get("action_shape"))
        if layout != (self.capacity, list(self.obs_shape), list(self.action_shape)):
            raise CheckpointError(
                f"replay checkpoint has capacity/obs/action shapes {layout}, this buffer has "
                f"{(self.capacity, list(self.obs_shape), list(self.action_shape))}"
            )
        for name in _FIELDS:
            current = getattr(self, name)
            value = tensors.get(f"replay.{name}", tensors.get(name))
            if value is None or value.shape != current.shape:
                raise CheckpointError(f"replay checkpoint is missing or misshapes {name!r}")
            current.copy_(value)
        self.latents = {}
        self.has_latent.zero_()
        for name, shape in (meta.get("latents") or {}).items():
            value = tensors.get(f"replay.{LATENT_PREFIX}{name}", tensors.get(LATENT_PREFIX + name))
            if value is None or list(value.shape) != [self.capacity, *shape]:
                raise CheckpointError(f"replay checkpoint is missing or misshapes latent {name!r}")
            self.latents[name] = value.clone().float()
        if self.latents:
            flags = tensors.get("replay.has_latent", tensors.get("has_latent"))
            if flags is None or flags.shape != self.has_latent.shape:
                raise CheckpointError("replay checkpoint is missing or misshapes 'has_latent'")
            self.has_latent.copy_(flags)
        self.cursor = int(meta["cursor"])
        self.added = int(meta["added"])
        self.episodes_started = int(meta["episodes_started"])
        self._valid.clear()
