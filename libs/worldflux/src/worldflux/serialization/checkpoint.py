"""Re-export of `worldflux.core.checkpoint`, where the code moved (beside the model base class)."""

from worldflux.core.checkpoint import (
    CONFIG_FILE,
    FORMAT_VERSION,
    META_FILE,
    WEIGHTS_FILE,
    file_sha256,
    load_pretrained,
    read_meta,
    save_pretrained,
)

__all__ = [
    "CONFIG_FILE",
    "FORMAT_VERSION",
    "META_FILE",
    "WEIGHTS_FILE",
    "file_sha256",
    "load_pretrained",
    "read_meta",
    "save_pretrained",
]
