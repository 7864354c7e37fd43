"""On-disk cache of generated episodes: one .npz per (dataset, split, seed, version).

Files are written atomically, carry a sha256 of their arrays and the generation parameters, and
are loaded without pickle. A file that is missing, truncated, tampered with or made by other
parameters reads as a miss, so the caller regenerates it instead of crashing or using it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from worldflux.core.errors import ContractError
from worldflux.datasets.episodes import FIELDS, Episodes
from worldflux.serialization.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

CACHE_ENV = "WORLDFLUX_CACHE_DIR"


def cache_dir() -> Path:
    """$WORLDFLUX_CACHE_DIR, else ~/.cache/worldflux."""
    root = os.environ.get(CACHE_ENV)
    return Path(root) if root else Path.home() / ".cache" / "worldflux"


def checksum(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{value.dtype.str}:{value.shape}".encode())
        digest.update(value.data)
    return digest.hexdigest()


def save_episodes(path: Path, episodes: Episodes, meta: dict[str, Any]) -> None:
    arrays = episodes.arrays()
    buffer = io.BytesIO()
    payload = {
        "meta": np.array(json.dumps(meta, sort_keys=True)),
        "checksum": np.array(checksum(arrays, meta)),
        **arrays,
    }
    np.savez_compressed(buffer, **payload)  # type: ignore[arg-type]  # (stub: allow_pickle)
    atomic_write_bytes(path, buffer.getvalue())


# Everything np.load and zipfile raise on a damaged archive.
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def load_episodes(path: Path, meta: dict[str, Any]) -> Episodes | None:
    """The cached episodes, or None when the file is absent or unusable (logged)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            stored_meta = json.loads(str(data["meta"]))
            stored_sum = str(data["checksum"])
            arrays = {name: data[name] for name in FIELDS}
    except _READ_ERRORS as err:
        log.warning("dataset cache %s is unreadable (%s); regenerating", path, err)
        return None
    if stored_meta != meta:
        log.warning("dataset cache %s was made with other parameters; regenerating", path)
        return None
    if checksum(arrays, meta) != stored_sum:
        log.warning("dataset cache %s fails its checksum; regenerating", path)
        return None
    try:
        return Episodes(**arrays)
    except ContractError as err:
        log.warning("dataset cache %s holds malformed episodes (%s); regenerating", path, err)
        return None
