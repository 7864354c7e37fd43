import dataclasses

import numpy as np
import pytest

from worldflux.datasets import registry
from worldflux.datasets.cache import CACHE_ENV, cache_dir, load_episodes, save_episodes
from worldflux.datasets.episodes import concat_episodes, episode_rows

META = {"name": "fake", "split": "train", "seed": 0, "version": 1}


def episodes(offset: float = 0.0):
    obs = np.arange(12, dtype=np.float32).reshape(6, 2) + offset
    return concat_episodes(
        [episode_rows(obs, np.ones((5, 1), np.float32), np.arange(5, dtype=np.float32), True)]
    )


def test_round_trip(tmp_path):
    path = tmp_path / "fake.npz"
    save_episodes(path, episodes(), META)
    loaded = load_episodes(path, META)
    assert loaded is not None
    for name, value in episodes().arrays().items():
        assert (
            np.array_equal(getattr(loaded, name), value)
            and getattr(loaded, name).dtype == value.dtype
        )
    assert [p.name for p in tmp_path.iterdir()] == ["fake.npz"]  # no temp files left behind


def test_missing_file_is_a_miss(tmp_path):
    assert load_episodes(tmp_path / "absent.npz", META) is None


def test_truncated_file_is_a_miss(tmp_path, caplog):
    path = tmp_path / "fake.npz"
    save_episodes(path, episodes(), META)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert load_episodes(path, META) is None
    assert "unreadable" in caplog.text


def test_garbage_file_is_a_miss(tmp_path):
    path = tmp_path / "fake.npz"
    path.write_bytes(b"not a zip at all")
    assert load_episodes(path, META) is None


def test_tampered_arrays_fail_the_checksum(tmp_path, caplog):
    path = tmp_path / "fake.npz"
    save_episodes(path, episodes(), META)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["rewards"] = arrays["rewards"] + 1  # consistent zip, wrong content
    np.savez(path, **arrays)
    assert load_episodes(path, META) is None
    assert "checksum" in caplog.text


def test_other_generation_parameters_are_a_miss(tmp_path):
    path = tmp_path / "fake.npz"
    save_episodes(path, episodes(), META)
    assert load_episodes(path, {**META, "version": 2}) is None


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "here"))
    assert cache_dir() == tmp_path / "here"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_dir().parts[-2:] == (".cache", "worldflux")


@pytest.fixture
def counting_dataset(monkeypatch):
    """The pendulum entry with a tiny, counted builder in place of the real generator."""
    calls = []

    def build(split: str, seed: int):
        calls.append((split, seed))
        return episodes(offset=seed)

    info = dataclasses.replace(registry.DATASETS["pendulum"], obs_shape=(2,), build=build)
    monkeypatch.setattr(registry, "dataset_info", lambda name: info)
    return calls


def test_load_dataset_generates_once_then_reads_the_cache(counting_dataset, tmp_path):
    first = registry.load_dataset("pendulum", cache_dir=tmp_path)
    second = registry.load_dataset("pendulum", cache_dir=tmp_path)
    assert counting_dataset == [("train", 0)]
    assert np.array_equal(first.episodes.obs, second.episodes.obs)
    registry.load_dataset("pendulum", seed=3, cache_dir=tmp_path)
    assert counting_dataset == [("train", 0), ("train", 3)]


def test_corrupt_cache_is_regenerated_not_fatal(counting_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    registry.load_dataset("pendulum", split="heldout")
    path = registry.cache_path("pendulum", "heldout", 0)
    path.write_bytes(path.read_bytes()[:100])
    data = registry.load_dataset("pendulum", split="heldout")
    assert counting_dataset == [("heldout", 0), ("heldout", 0)]
    assert np.array_equal(data.episodes.obs, episodes().obs)
    assert load_episodes(
        path, registry._generation_meta(registry.DATASETS["pendulum"], "heldout", 0)
    )


def test_unwritable_cache_still_returns_data(counting_dataset, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    data = registry.load_dataset("pendulum", cache_dir=blocker / "sub")
    assert data.spec.num_steps == 6
