"""The user's own recordings as a dataset: one .npz file, or a folder with train.npz and
heldout.npz.

Arrays (rows are steps, episodes back to back; the layout of worldflux.datasets.episodes):

| name        | shape           | dtype                           | default if absent         |
|-------------|-----------------|---------------------------------|---------------------------|
| obs         | [N, *obs_shape] | float (any width), uint8 images | required                  |
| actions     | [N, A] or [N]   | float [N, A]; int indices [N]   | required                  |
| rewards     | [N]             | float                           | required                  |
| is_first    | [N]             | bool (or 0/1 integers)          | required                  |
| is_last     | [N]             | bool (or 0/1 integers)          | from is_first             |
| continues   | [N]             | 0.0 where the next is terminal  | all 1.0 (no terminations) |
| action_low, action_high | scalars | float                       | -1.0 and 1.0              |
| num_actions | scalar          | int                             | largest index + 1         |

Row t of an episode holds o_t, the action a_t taken after it and the reward r_t for it; the
episode's final row holds its last observation with a zero action and zero reward. uint8
observations are images scaled by 1/255 when sampled. A single file is split by episodes: the
last fifth (at least one episode) is held out. Files are read without pickle; anything
malformed is a ContractError that names the file and the array.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from worldflux.core.errors import ContractError
from worldflux.datasets.episodes import Episodes
from worldflux.datasets.sequence import SequenceDataset
from worldflux.datasets.spec import SPLITS, DatasetSpec

REQUIRED = ("obs", "actions", "rewards", "is_first")
OPTIONAL = ("is_last", "continues", "action_low", "action_high", "num_actions")
HELDOUT_FRACTION = 0.2


def is_file_dataset(name: str) -> bool:
    """A dataset name that points at files rather than at a bundled dataset."""
    return name.endswith(".npz") or Path(name).is_dir()


def split_files(path: Path) -> dict[str, Path]:
    if path.is_dir():
        files = {split: path / f"{split}.npz" for split in SPLITS}
        missing = [str(p) for p in files.values() if not p.is_file()]
        if missing:
            raise ContractError(
                f"dataset folder {path} needs {' and '.join(f'{s}.npz' for s in SPLITS)}; "
                f"missing: {', '.join(missing)}"
            )
        return files
    if not path.is_file():
        raise ContractError(f"dataset file {path} does not exist")
    return {split: path for split in SPLITS}


def _read(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ContractError(f"{path}: not a readable .npz file ({err})") from None
    missing = [name for name in REQUIRED if name not in arrays]
    if missing:
        raise ContractError(
            f"{path}: missing array(s) {', '.join(missing)} (needs {', '.join(REQUIRED)})"
        )
    unknown = sorted(set(arrays) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ContractError(
            f"{path}: unknown array(s) {', '.join(unknown)} "
            f"(known: {', '.join(REQUIRED + OPTIONAL)})"
        )
    return arrays


def _float(path: Path, name: str, value: np.ndarray) -> np.ndarray:
    if value.dtype.kind not in "fiu" or value.dtype == np.bool_:
        raise ContractError(f"{path}: {name} must be a float array, got dtype {value.dtype}")
    out = value.astype(np.float32)
    if not np.isfinite(out).all():
        bad = int(np.flatnonzero(~np.isfinite(out.reshape(len(out), -1)).all(1))[0])
        raise ContractError(f"{path}: {name} contains NaN or infinite values (row {bad})")
    return out


def _flags(path: Path, name: str, value: np.ndarray, rows: int) -> np.ndarray:
    if value.shape != (rows,):
        raise ContractError(f"{path}: {name} must have shape [{rows}], got {list(value.shape)}")
    if value.dtype != np.bool_:
        if value.dtype.kind not in "iu" or not np.isin(value, (0, 1)).all():
            raise ContractError(f"{path}: {name} must be bool (or 0/1), got dtype {value.dtype}")
        value = value.astype(bool)
    return value


def _scalar(path: Path, arrays: dict[str, np.ndarray], name: str, default: float) -> float:
    if name not in arrays:
        return default
    value = arrays[name]
    if value.shape != () or value.dtype.kind not in "fiu":
        raise ContractError(f"{path}: {name} must be a numeric scalar, got {value.dtype}")
    return float(value)


def read_episodes(path: Path) -> tuple[Episodes, dict[str, float]]:
    """Validated episodes and the action facts (low, high, num_actions) of one file."""
    arrays = _read(path)
    obs = arrays["obs"]
    rows = int(obs.shape[0]) if obs.ndim else 0
    if obs.ndim < 2 or rows < 2:
        raise ContractError(f"{path}: obs must be [N >= 2, *obs_shape], got {list(obs.shape)}")
    if obs.dtype != np.uint8:
        obs = _float(path, "obs", obs)
    for name in ("actions", "rewards"):
        if arrays[name].shape[:1] != (rows,):
            raise ContractError(
                f"{path}: {name} has {list(arrays[name].shape)[:1]} rows, obs has {rows}"
            )
    rewards = _float(path, "rewards", arrays["rewards"])
    if rewards.ndim != 1:
        raise ContractError(f"{path}: rewards must be [N], got {list(rewards.shape)}")
    is_first = _flags(path, "is_first", arrays["is_first"], rows)
    if not is_first[0]:
        raise ContractError(f"{path}: is_first[0] must be true (row 0 starts an episode)")
    derived_last = np.append(is_first[1:], True)
    if "is_last" in arrays:
        is_last = _flags(path, "is_last", arrays["is_last"], rows)
        if not np.array_equal(is_last, derived_last):
            row = int(np.flatnonzero(is_last != derived_last)[0])
            raise ContractError(
                f"{path}: is_last disagrees with is_first at row {row}: every episode's last row "
                "must be followed by the next episode's first row"
            )
    else:
        is_last = derived_last
    continues = (
        _float(path, "continues", arrays["continues"])
        if "continues" in arrays
        else np.ones(rows, np.float32)
    )
    if continues.shape != (rows,) or not np.isin(continues, (0.0, 1.0)).all():
        raise ContractError(f"{path}: continues must be [N] zeros and ones")

    actions = arrays["actions"]
    facts: dict[str, float] = {}
    if actions.ndim == 1:
        if actions.dtype.kind not in "iu":
            raise ContractError(
                f"{path}: actions of shape [N] are discrete indices and must be integers, "
                f"got {actions.dtype} (continuous actions are [N, A])"
            )
        actions = actions.astype(np.int64)
        facts["num_actions"] = _scalar(path, arrays, "num_actions", float(actions.max()) + 1)
        if actions.min() < 0 or actions.max() >= facts["num_actions"]:
            raise ContractError(
                f"{path}: discrete actions must lie in [0, {int(facts['num_actions'])})"
            )
    elif actions.ndim == 2:
        actions = _float(path, "actions", actions)
        low = _scalar(path, arrays, "action_low", -1.0)
        high = _scalar(path, arrays, "action_high", 1.0)
        if not low < high:
            raise ContractError(f"{path}: action_low {low} must be below action_high {high}")
        outside = (actions < low) | (actions > high)
        if outside.any():
            row = int(np.flatnonzero(outside.any(1))[0])
            raise ContractError(
                f"{path}: actions must lie in [action_low, action_high] = [{low}, {high}] "
                f"(row {row}); store the bounds as action_low/action_high"
            )
        facts.update(action_low=low, action_high=high)
    else:
        raise ContractError(f"{path}: actions must be [N, A] or [N], got {list(actions.shape)}")
    try:
        episodes = Episodes(obs, actions, rewards, continues, is_first, is_last)
    except ContractError as err:
        raise ContractError(f"{path}: {err}") from None
    return episodes, facts


def _select(episodes: Episodes, first: int, last: int) -> Episodes:
    """Episodes [first, last) by index."""
    starts = np.append(episodes.starts, episodes.num_steps)
    rows = slice(int(starts[first]), int(starts[last]))
    return Episodes(**{name: value[rows] for name, value in episodes.arrays().items()})


def load_file_dataset(name: str, split: str) -> SequenceDataset:
    """One split of the user's recordings named by a .npz path or a folder."""
    if split not in SPLITS:
        raise ContractError(f"split must be one of {SPLITS}, got {split!r}")
    path = Path(name)
    files = split_files(path)
    episodes, facts = read_episodes(files[split])
    if files["train"] == files["heldout"]:
        count = episodes.num_episodes
        if count < 2:
            raise ContractError(
                f"{path}: a single file needs at least 2 episodes to hold one out "
                f"(has {count}); or give a folder with train.npz and heldout.npz"
            )
        held = max(1, int(round(count * HELDOUT_FRACTION)))
        cut = count - held
        episodes = _select(episodes, 0, cut) if split == "train" else _select(episodes, cut, count)
    discrete = episodes.actions.ndim == 1
    obs_shape = tuple(int(d) for d in episodes.obs.shape[1:])
    spec = DatasetSpec(
        name=name,
        obs_shape=obs_shape,
        action_dim=int(facts["num_actions"]) if discrete else int(episodes.actions.shape[1]),
        action_kind="discrete" if discrete else "continuous",
        modality="image" if len(obs_shape) == 3 else "vector",
        num_episodes=episodes.num_episodes,
        num_steps=episodes.num_steps,
        action_low=facts.get("action_low", -1.0),
        action_high=facts.get("action_high", 1.0),
        split=split,
    )
    return SequenceDataset(spec, episodes)
