"""Checkpoints without pickle: config.json + model.safetensors + meta.json, written atomically."""

from worldflux.serialization.atomic import (
    atomic_directory,
    atomic_write_bytes,
    previous_path,
    readable_directory,
    recover_directory,
)
from worldflux.serialization.checkpoint import (
    CONFIG_FILE,
    FORMAT_VERSION,
    META_FILE,
    WEIGHTS_FILE,
    load_pretrained,
    read_meta,
    save_pretrained,
)

__all__ = [
    "CONFIG_FILE",
    "FORMAT_VERSION",
    "META_FILE",
    "WEIGHTS_FILE",
    "atomic_directory",
    "atomic_write_bytes",
    "load_pretrained",
    "previous_path",
    "readable_directory",
    "read_meta",
    "recover_directory",
    "save_pretrained",
]
