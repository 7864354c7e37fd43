"""The user's own recordings: a well-formed .npz (or folder) becomes a dataset; everything
malformed is refused with the file and the array named."""

from pathlib import Path

import numpy as np
import pytest
import torch

from worldflux.core.errors import ContractError
from worldflux.datasets import load_dataset
from worldflux.datasets.files import is_file_dataset


def recording(episodes: int = 5, length: int = 11, discrete: bool = False) -> dict:
    """`episodes` episodes of `length` rows each, in the documented layout."""
    rows = episodes * length
    rng = np.random.default_rng(0)
    is_first = np.zeros(rows, bool)
    is_first[::length] = True
    actions = rng.integers(0, 3, rows) if discrete else rng.uniform(-1, 1, (rows, 2))
    return {
        "obs": rng.standard_normal((rows, 4)),  # float64, as numpy makes it: accepted
        "actions": actions,
        "rewards": rng.standard_normal(rows),
        "is_first": is_first,
    }


def save(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def test_one_file_is_split_by_episodes_and_sampled(tmp_path: Path) -> None:
    path = save(tmp_path / "mine.npz", **recording())
    assert is_file_dataset(str(path)) and not is_file_dataset("pendulum")
    train, heldout = load_dataset(str(path), "train"), load_dataset(str(path), "heldout")
    assert (train.spec.num_episodes, heldout.spec.num_episodes) == (4, 1)
    assert train.spec.obs_shape == (4,) and train.spec.action_dim == 2
    assert train.spec.action_kind == "continuous" and train.spec.modality == "vector"
    batch = train.sample(3, 6, torch.Generator().manual_seed(0))
    assert batch.obs.dtype == torch.float32 and list(batch.obs.shape) == [3, 6, 4]
    # The last episode is held out, untouched.
    original = np.load(path)["obs"].astype(np.float32)
    assert np.array_equal(heldout.episodes.obs, original[44:])


def test_a_folder_holds_train_and_heldout_and_discrete_actions_work(tmp_path: Path) -> None:
    save(tmp_path / "train.npz", **recording(discrete=True), num_actions=np.int64(4))
    save(tmp_path / "heldout.npz", **recording(2, discrete=True), num_actions=np.int64(4))
    data = load_dataset(str(tmp_path), "heldout")
    assert data.spec.num_episodes == 2 and data.spec.action_kind == "discrete"
    assert data.spec.action_dim == 4  # num_actions, not the largest index seen (2)
    (tmp_path / "heldout.npz").unlink()
    with pytest.raises(ContractError, match="needs train.npz and heldout.npz; missing: .*heldout"):
        load_dataset(str(tmp_path), "train")


def test_action_bounds_are_read_and_enforced(tmp_path: Path) -> None:
    arrays = recording()
    arrays["actions"] = arrays["actions"] * 2.0
    with pytest.raises(ContractError, match=r"actions must lie in .*\[-1.0, 1.0\].*action_low"):
        load_dataset(str(save(tmp_path / "a.npz", **arrays)), "train")
    path = save(tmp_path / "b.npz", **arrays, action_low=-2.0, action_high=2.0)
    spec = load_dataset(str(path), "train").spec
    assert (spec.action_low, spec.action_high) == (-2.0, 2.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.pop("rewards"), "missing array.s. rewards"),
        (lambda a: a.update(extra=np.zeros(3)), "unknown array.s. extra"),
        (lambda a: a.update(obs=a["obs"].astype(str)), "obs must be a float array"),
        (lambda a: a["rewards"].__setitem__(7, np.nan), r"rewards contains NaN .*row 7"),
        (lambda a: a["obs"].__setitem__((9, 1), np.inf), r"obs contains NaN .*row 9"),
        (lambda a: a.update(actions=a["actions"][:, 0]), "discrete indices and must be integers"),
        (lambda a: a.update(rewards=a["rewards"][:-1]), "rewards has .54. rows, obs has 55"),
        (lambda a: a["is_first"].__setitem__(0, False), r"is_first\[0\] must be true"),
        (lambda a: a.update(is_first=a["is_first"].astype(float)), "is_first must be bool"),
        (
            lambda a: a.update(is_last=np.append(a["is_first"][1:], False)),
            "is_last disagrees with is_first at row 54",
        ),
        (lambda a: a.update(continues=np.full(55, 0.5)), "continues must be .N. zeros and ones"),
        (
            lambda a: a.update(is_first=np.ones(55, bool)),
            "every episode needs at least one transition",
        ),
    ],
)
def test_malformed_recordings_are_refused_naming_file_and_array(
    tmp_path: Path, change, message: str
) -> None:
    arrays = recording()
    change(arrays)
    path = save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ContractError, match=message) as err:
        load_dataset(str(path), "train")
    assert str(path) in str(err.value)


def test_missing_truncated_and_single_episode_files(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="does not exist"):
        load_dataset(str(tmp_path / "none.npz"), "train")
    good = save(tmp_path / "good.npz", **recording())
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ContractError, match="not a readable .npz file"):
        load_dataset(str(truncated), "train")
    one = save(tmp_path / "one.npz", **recording(episodes=1))
    with pytest.raises(ContractError, match="at least 2 episodes to hold one out"):
        load_dataset(str(one), "heldout")
