import json
from pathlib import Path

import pytest
import torch
from plugin_family.toy_family import ToyWorldModel

from worldflux.core import CheckpointError, WorldModel, create_world_model
from worldflux.core.checkpoint import CONFIG_FILE, META_FILE, WEIGHTS_FILE, load_pretrained


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[ToyWorldModel, Path]:
    torch.manual_seed(0)
    model = create_world_model("toy:ci", obs_shape=(6,), action_dim=2)
    path = model.save_pretrained(tmp_path / "ckpt")
    return model, path


def test_reload_gives_identical_outputs(saved) -> None:
    model, path = saved
    again = WorldModel.from_pretrained(path)
    assert type(again) is ToyWorldModel and again.config == model.config
    obs, acts = torch.randn(4, 6), torch.randn(4, 5, 2)
    r1 = model.rollout(model.encode(obs), acts)
    r2 = again.rollout(again.encode(obs), acts)
    assert torch.equal(r1.latents["z"], r2.latents["z"]) and torch.equal(r1.rewards, r2.rewards)
    assert sorted(p.name for p in path.iterdir()) == sorted([CONFIG_FILE, META_FILE, WEIGHTS_FILE])


def test_meta_records_versions_and_fingerprint(saved) -> None:
    model, path = saved
    meta = json.loads((path / META_FILE).read_text())
    assert meta["format_version"] == 1 and meta["fingerprint"] == model.fingerprint()
    assert set(meta["sha256"]) == {CONFIG_FILE, WEIGHTS_FILE}


def test_overwrite_is_atomic_and_leaves_no_temp_dirs(saved) -> None:
    model, path = saved
    model.save_pretrained(path)
    assert [p.name for p in path.parent.iterdir()] == ["ckpt"]


def test_truncated_weights(saved) -> None:
    _, path = saved
    data = (path / WEIGHTS_FILE).read_bytes()
    (path / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(
        CheckpointError, match=r"model.safetensors: sha256 does not match.*truncated"
    ):
        load_pretrained(path)


def test_corrupt_weights_without_checksum(saved) -> None:
    _, path = saved
    meta = json.loads((path / META_FILE).read_text())
    del meta["sha256"]
    (path / META_FILE).write_text(json.dumps(meta))
    (path / WEIGHTS_FILE).write_bytes(b"\x00\x01garbage")
    with pytest.raises(CheckpointError, match="model.safetensors: unreadable safetensors file"):
        load_pretrained(path)


@pytest.mark.parametrize("name", [CONFIG_FILE, WEIGHTS_FILE, META_FILE])
def test_missing_file_is_named(saved, name: str) -> None:
    _, path = saved
    (path / name).unlink()
    with pytest.raises(CheckpointError, match=f"{name}: file is missing"):
        load_pretrained(path)


def test_missing_directory() -> None:
    with pytest.raises(CheckpointError, match="checkpoint directory does not exist"):
        load_pretrained("/nonexistent/ckpt")


def test_newer_format_version(saved) -> None:
    _, path = saved
    meta = json.loads((path / META_FILE).read_text())
    meta["format_version"] = 99
    (path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(
        CheckpointError, match=r"meta.json: format version 99 is newer .* upgrade worldflux"
    ):
        load_pretrained(path)


def test_config_weights_mismatch(saved) -> None:
    _, path = saved
    config = json.loads((path / CONFIG_FILE).read_text())
    config["config"]["hidden_dim"] = 64
    (path / CONFIG_FILE).write_text(json.dumps(config))
    meta = json.loads((path / META_FILE).read_text())
    del meta["sha256"][CONFIG_FILE]  # an edited config that bypasses the checksum
    (path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(
        CheckpointError, match=r"does not fit .*config.json: shape mismatch encoder.0.weight"
    ):
        load_pretrained(path)


def test_tampered_config_detected_by_checksum(saved) -> None:
    _, path = saved
    (path / CONFIG_FILE).write_text((path / CONFIG_FILE).read_text().replace("16", "17"))
    with pytest.raises(CheckpointError, match="config.json: sha256 does not match"):
        load_pretrained(path)


def test_invalid_json_named(saved) -> None:
    _, path = saved
    (path / META_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="meta.json: not valid JSON"):
        load_pretrained(path)


def test_from_pretrained_checks_class(saved) -> None:
    _, path = saved

    class Other(ToyWorldModel):
        pass

    with pytest.raises(ValueError, match="holds a ToyWorldModel, not a Other"):
        Other.from_pretrained(path)


def test_no_pickle_on_the_load_path(saved, monkeypatch) -> None:
    import pickle

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used while loading a checkpoint")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    _, path = saved
    assert isinstance(load_pretrained(path), ToyWorldModel)
