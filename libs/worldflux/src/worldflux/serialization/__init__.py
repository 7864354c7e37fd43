"""Checkpoints without pickle: config.json + model.safetensors + meta.json, written atomically.

The code lives in `worldflux.core.checkpoint` and `worldflux.core.atomic`, beside the model base
class that calls it (so core depends on core only); this package keeps the public names where
existing code and users import them.
"""

from worldflux.core.atomic import (
    atomic_directory,
    atomic_write_bytes,
    previous_path,
    readable_directory,
    recover_directory,
)
from worldflux.core.checkpoint import (
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
