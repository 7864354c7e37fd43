"""Re-export of `worldflux.core.atomic`, where the code moved (beside the model base class)."""

# Crash-injection tests patch `atomic.os.replace` through this module: the same `os` object.
import os

from worldflux.core.atomic import (
    atomic_directory,
    atomic_write_bytes,
    previous_path,
    readable_directory,
    recover_directory,
)

__all__ = [
    "atomic_directory",
    "atomic_write_bytes",
    "os",
    "previous_path",
    "readable_directory",
    "recover_directory",
]
