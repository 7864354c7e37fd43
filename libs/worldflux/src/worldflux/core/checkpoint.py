"""save_pretrained / load_pretrained, beside the model base class that calls them.

Layout of a checkpoint directory:
- config.json: {"family", "model_id", "config"}: enough to rebuild the model;
- model.safetensors: the state dict (safetensors: loading never runs code);
- meta.json: format version, library and torch versions, the model's contract fingerprint and
  the sha256 of the two other files, so truncation and tampering are caught before use.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import worldflux
from worldflux.core.atomic import atomic_directory, readable_directory
from worldflux.core.errors import CheckpointError
from worldflux.core.model import WorldModel
from worldflux.core.registry import get_family

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (checkpoints can be gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _state_for_safetensors(model: WorldModel) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share storage; a checkpoint stores each one on its own.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def save_pretrained(model: WorldModel, path: str | Path) -> Path:
    """Write the checkpoint atomically to `path` (replacing an existing one) and return it."""
    path = Path(path)
    config = {"family": model.family, "model_id": model.model_id, "config": model.config.to_dict()}
    with atomic_directory(path) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        save_file(_state_for_safetensors(model), str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        meta = {
            "format_version": FORMAT_VERSION,
            "library_version": worldflux.__version__,
            "torch_version": torch.__version__,
            "fingerprint": model.fingerprint(),
            "sha256": {name: file_sha256(tmp / name) for name in (CONFIG_FILE, WEIGHTS_FILE)},
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path}: file is missing")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def read_meta(path: str | Path) -> dict[str, Any]:
    """meta.json of a checkpoint, checked for a format version this library can read."""
    meta_path = Path(path) / META_FILE
    meta = _read_json(meta_path)
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{meta_path}: format_version is missing or not an integer")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_path}: format version {version} is newer than this library reads "
            f"({FORMAT_VERSION}); upgrade worldflux (checkpoint written by "
            f"{meta.get('library_version', 'an unknown version')})"
        )
    return meta


def load_pretrained(path: str | Path, map_location: str | torch.device = "cpu") -> WorldModel:
    """Rebuild a model from a checkpoint directory, verifying every file first.

    When a save was killed between its two renames, the previous checkpoint is read from where
    atomic_directory left it (readable_directory), so a crash never makes a saved model vanish.
    """
    path = readable_directory(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: checkpoint directory does not exist")
    meta = read_meta(path)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"{file}: file is missing")
        expected = meta.get("sha256", {}).get(name)
        if expected is not None and file_sha256(file) != expected:
            raise CheckpointError(
                f"{file}: sha256 does not match meta.json (the file was truncated or modified)"
            )
    config_data = _read_json(path / CONFIG_FILE)
    try:
        family = get_family(config_data["family"])
        config = family.config_class.from_dict(config_data["config"])
    except KeyError as err:
        raise CheckpointError(f"{path / CONFIG_FILE}: missing field {err}") from None
    except ValueError as err:
        raise CheckpointError(f"{path / CONFIG_FILE}: {err}") from None
    model = family.model_class(config)
    weights_path = path / WEIGHTS_FILE
    try:
        state = load_file(str(weights_path), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights_path}: unreadable safetensors file ({err})") from None
    _check_state_matches(model, state, path)
    model.load_state_dict(state, strict=True)
    fingerprint = model.fingerprint()
    if meta.get("fingerprint") not in (None, fingerprint):
        raise CheckpointError(
            f"{path / META_FILE}: contract fingerprint {meta['fingerprint']} does not match the "
            f"model rebuilt from config.json ({fingerprint}); the checkpoint is incompatible"
        )
    return model.to(map_location)


def _check_state_matches(model: WorldModel, state: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k}: weights {list(state[k].shape)} vs config {list(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if mismatched:
            parts.append("shape mismatch " + "; ".join(mismatched[:5]))
        raise CheckpointError(
            f"{path / WEIGHTS_FILE} does not fit {path / CONFIG_FILE}: " + ", ".join(parts)
        )
