import json

import pytest
import torch

from worldflux.core.errors import CheckpointError
from worldflux.training.checkpoint import (
    STATE_FILE,
    flatten_optimizer,
    read_checkpoint,
    unflatten_optimizer,
    write_checkpoint,
)
from worldflux.training.optim import LaProp


def trained_optimizer(cls):
    params = [torch.nn.Parameter(torch.randn(3, 2)), torch.nn.Parameter(torch.randn(2))]
    opt = cls([{"params": params[:1], "lr": 0.1}, {"params": params[1:], "lr": 0.01}])
    for _ in range(3):
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()
    return params, opt


@pytest.mark.parametrize("cls", [torch.optim.Adam, torch.optim.AdamW, LaProp])
def test_optimizer_state_round_trips_through_json_and_tensors(cls, tmp_path):
    params, opt = trained_optimizer(cls)
    data, tensors = flatten_optimizer(opt.state_dict())
    write_checkpoint(tmp_path / "ck", {"optimizer": data}, {"optimizer": tensors})
    state, loaded = read_checkpoint(tmp_path / "ck")
    fresh = cls([{"params": [torch.nn.Parameter(p.detach().clone())], "lr": 1.0} for p in params])
    fresh.load_state_dict(unflatten_optimizer(state["optimizer"], loaded["optimizer"]))
    assert [g["lr"] for g in fresh.param_groups] == [0.1, 0.01]
    for a, b in zip(opt.state.values(), fresh.state.values(), strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_missing_tampered_and_newer_checkpoints_are_named(tmp_path):
    path = write_checkpoint(tmp_path / "ck", {"step": 3}, {"model": {"w": torch.ones(4)}})
    assert read_checkpoint(path)[0]["step"] == 3
    with pytest.raises(CheckpointError, match="trainer.json: file is missing"):
        read_checkpoint(tmp_path / "absent")
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-2] + b"\x00\x01")
    with pytest.raises(CheckpointError, match="model.safetensors: sha256 does not match"):
        read_checkpoint(path)
    weights.unlink()
    with pytest.raises(CheckpointError, match="model.safetensors: file is missing"):
        read_checkpoint(path)
    state = json.loads((path / STATE_FILE).read_text())
    (path / STATE_FILE).write_text(json.dumps({**state, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format version 99"):
        read_checkpoint(path)
    (path / STATE_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_checkpoint(path)


def test_rewriting_a_checkpoint_replaces_it_whole(tmp_path):
    write_checkpoint(tmp_path / "ck", {"step": 1}, {"model": {"w": torch.ones(2)}})
    write_checkpoint(tmp_path / "ck", {"step": 2}, {"model": {"w": torch.zeros(2)}})
    state, tensors = read_checkpoint(tmp_path / "ck")
    assert state["step"] == 2 and torch.equal(tensors["model"]["w"], torch.zeros(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no temp or old dirs left
