"""Training checkpoints without pickle: safetensors for tensors, one JSON file for the rest.

A checkpoint directory holds `trainer.json` (step, history, config, optimizer and schedule
hyperparameters, python/numpy RNG states, replay cursor, and the sha256 of every tensor file)
and one `<part>.safetensors` per tensor group (model, optimizer, rng, replay). It is written
with serialization.atomic_directory, so a crash leaves the previous checkpoint whole; a crash
between its two renames leaves that checkpoint under a fixed name beside the path, which
has_checkpoint and read_checkpoint find and the Trainer renames back at start-up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from worldflux.core.errors import CheckpointError
from worldflux.serialization.atomic import atomic_directory, readable_directory
from worldflux.serialization.checkpoint import file_sha256

FORMAT_VERSION = 1
STATE_FILE = "trainer.json"


def has_checkpoint(path: str | Path) -> bool:
    """True when `path`, or the previous copy an interrupted save left beside it, is complete.

    Without the second half a kill between atomic_directory's renames would make a resuming
    Trainer start again at step 0 although the previous checkpoint is still on disk.
    """
    return (readable_directory(path) / STATE_FILE).is_file()


def write_checkpoint(
    path: str | Path, state: dict[str, Any], tensors: dict[str, dict[str, torch.Tensor]]
) -> Path:
    path = Path(path)
    with atomic_directory(path) as tmp:
        digests = {}
        for part, group in tensors.items():
            file = tmp / f"{part}.safetensors"
            save_file({k: v.detach().cpu().contiguous().clone() for k, v in group.items()}, file)
            digests[file.name] = file_sha256(file)
        document = {"format_version": FORMAT_VERSION, "sha256": digests, **state}
        (tmp / STATE_FILE).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    return path


def read_checkpoint(
    path: str | Path,
) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """(state, tensors per part), each file verified against its recorded sha256.

    Reads the previous copy when an interrupted save left no directory at `path` itself.
    """
    path = readable_directory(path)
    state_file = path / STATE_FILE
    if not state_file.is_file():
        raise CheckpointError(f"{state_file}: file is missing")
    try:
        state = json.loads(state_file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{state_file}: not valid JSON ({err})") from None
    if not isinstance(state, dict) or not isinstance(state.get("sha256"), dict):
        raise CheckpointError(f"{state_file}: not a training checkpoint (no sha256 table)")
    version = state.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{state_file}: format version {version!r} is not one this library reads "
            f"(<= {FORMAT_VERSION})"
        )
    tensors = {}
    for name, expected in state["sha256"].items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"{file}: file is missing")
        if file_sha256(file) != expected:
            raise CheckpointError(
                f"{file}: sha256 does not match {STATE_FILE} (the file was truncated or modified)"
            )
        try:
            tensors[name.removesuffix(".safetensors")] = load_file(str(file))
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"{file}: unreadable safetensors file ({err})") from None
    return state, tensors


def flatten_optimizer(
    state_dict: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """An optimizer state_dict as (JSON, tensors): tensor entries become 'state.<id>.<key>'."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, entry in state_dict["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{param_id}.{key}"] = value
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    groups = [
        {k: list(v) if isinstance(v, tuple) else v for k, v in group.items()}
        for group in state_dict["param_groups"]
    ]
    return {"param_groups": groups, "scalars": scalars}, tensors


def unflatten_optimizer(data: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, param_id, key = name.split(".", 2)
        state.setdefault(int(param_id), {})[key] = value
    for param_id, entry in data["scalars"].items():
        state.setdefault(int(param_id), {}).update(entry)
    groups = [
        {k: tuple(v) if k == "betas" else v for k, v in group.items()}
        for group in data["param_groups"]
    ]
    return {"state": state, "param_groups": groups}
