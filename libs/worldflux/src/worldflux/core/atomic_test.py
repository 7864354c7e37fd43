"""atomic_directory under failure: at every point the previous or the new directory is complete.

A save is two renames (old -> previous_path, new -> path). These tests fail the second one, and
build by hand the states a kill between or after the renames leaves, then check that loading
finds the last complete checkpoint and that the next save cleans up.
"""

import os
from pathlib import Path

import pytest
import torch
from plugin_family.toy_family import ToyWorldModel

from worldflux.core import atomic as atomic_module
from worldflux.core import create_world_model
from worldflux.core.atomic import (
    atomic_directory,
    previous_path,
    readable_directory,
    recover_directory,
)
from worldflux.core.checkpoint import load_pretrained


def toy(seed: int) -> ToyWorldModel:
    torch.manual_seed(seed)
    model = create_world_model("toy:ci", obs_shape=(6,), action_dim=2)
    assert isinstance(model, ToyWorldModel)
    return model


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


def leftovers(parent: Path, name: str) -> list[str]:
    """Hidden temp or previous copies that a save left beside `name`."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def fail_second_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the rename of the new temp directory onto the checkpoint path fail (disk error)."""
    real = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if str(src).endswith(".tmp"):
            raise OSError(28, "No space left on device (injected)")
        real(src, dst)

    monkeypatch.setattr(atomic_module.os, "replace", replace)


def test_failed_second_rename_keeps_the_previous_checkpoint(tmp_path, monkeypatch) -> None:
    first, second = toy(0), toy(1)
    path = first.save_pretrained(tmp_path / "ckpt")
    fail_second_rename(monkeypatch)
    with pytest.raises(OSError, match="injected"):
        second.save_pretrained(path)
    monkeypatch.undo()
    # The first rename had moved the checkpoint aside: it must be back under its own name.
    assert path.is_dir(), leftovers(tmp_path, "ckpt")
    assert_same_weights(load_pretrained(path), first)
    assert leftovers(tmp_path, "ckpt") == []


def test_kill_between_the_renames_loses_nothing(tmp_path) -> None:
    first = toy(0)
    path = first.save_pretrained(tmp_path / "ckpt")
    # What a process killed between the renames leaves: no `ckpt`, the previous copy under
    # its fixed name, and the complete new temp directory.
    os.replace(path, previous_path(path))
    toy(1).save_pretrained(tmp_path / ".ckpt.abc123.tmp")
    assert not path.exists()

    # A reader finds the previous checkpoint without moving anything...
    assert readable_directory(path) == previous_path(path)
    assert_same_weights(load_pretrained(path), first)
    assert not path.exists()
    # ...a writer puts it back...
    assert recover_directory(path) is True
    assert path.is_dir() and not previous_path(path).exists()
    assert_same_weights(load_pretrained(path), first)
    assert recover_directory(path) is False  # idempotent


def test_a_save_after_the_kill_recovers_first(tmp_path) -> None:
    first, third = toy(0), toy(2)
    path = first.save_pretrained(tmp_path / "ckpt")
    os.replace(path, previous_path(path))  # killed between the renames
    third.save_pretrained(path)
    assert_same_weights(load_pretrained(path), third)
    assert leftovers(tmp_path, "ckpt") == []


def test_kill_after_the_second_rename_leaves_only_garbage(tmp_path) -> None:
    second = toy(1)
    path = second.save_pretrained(tmp_path / "ckpt")
    toy(0).save_pretrained(previous_path(path))  # not yet removed when the process died
    assert readable_directory(path) == path
    assert_same_weights(load_pretrained(path), second)
    assert recover_directory(path) is False
    assert leftovers(tmp_path, "ckpt") == []
    assert_same_weights(load_pretrained(path), second)


def test_an_error_while_writing_leaves_the_old_directory_untouched(tmp_path) -> None:
    path = tmp_path / "d"
    with atomic_directory(path) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(RuntimeError, match="half-way"), atomic_directory(path) as tmp:
        (tmp / "a.txt").write_text("new")
        raise RuntimeError("half-way")
    assert (path / "a.txt").read_text() == "old"
    assert leftovers(tmp_path, "d") == []
