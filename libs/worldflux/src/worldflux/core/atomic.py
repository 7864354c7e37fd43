"""Atomic writes: a reader sees the old content or the new, never a half-written file."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def previous_path(path: str | Path) -> Path:
    """Where atomic_directory keeps the previous `path` while the new one is renamed in.

    One fixed name per checkpoint (no pid or random part), so that a later process, after a
    crash between the two renames, knows where to look for the previous checkpoint.
    """
    path = Path(path)
    return path.parent / f".{path.name}.old"


def _fsync_directory(path: Path) -> None:
    """Make a rename in `path` durable (best effort: some file systems refuse a directory fd)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def recover_directory(path: str | Path) -> bool:
    """Finish or undo a swap that a crash interrupted; True when the previous copy was restored.

    atomic_directory renames `path` to previous_path(path) and then the new directory to `path`.
    A process killed between the two renames leaves no `path` but a complete previous copy: this
    renames it back, so the caller sees the last checkpoint that was fully written. When `path`
    exists, a left-over previous copy is only garbage from a crash after the second rename and
    is removed. Only a writer should call this (atomic_directory and the Trainer do, at start):
    a reader uses readable_directory, which never changes anything on disk.
    """
    path = Path(path)
    old = previous_path(path)
    if not old.is_dir():
        return False
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        return False
    os.replace(old, path)
    _fsync_directory(path.parent)
    return True


def readable_directory(path: str | Path) -> Path:
    """`path`, or the previous copy that an interrupted swap left beside it, without moving it.

    For readers (has_checkpoint, loading): they see the last complete checkpoint even before a
    writer has run recover_directory, and a reader racing a writer never renames under it.
    """
    path = Path(path)
    old = previous_path(path)
    if not path.exists() and old.is_dir():
        return old
    return path


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temp dir beside `path`; on success it replaces `path` through two renames.

    The existing directory is renamed to previous_path(path), the new one to `path`, and only
    then is the previous copy removed. A crash between the two renames leaves the previous copy
    complete under its fixed name: recover_directory (run here first, and by the Trainer at
    start-up) puts it back, and readable_directory finds it meanwhile. An exception in the
    second rename puts it back at once. So at every point `path` or its previous copy holds a
    complete directory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recover_directory(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        old = previous_path(path)
        moved = False
        if path.exists():
            os.replace(path, old)
            moved = True
        try:
            os.replace(tmp, path)
        except BaseException:
            if moved and not path.exists():
                os.replace(old, path)  # undo: the previous checkpoint stays where it was
            raise
        _fsync_directory(path.parent)
        if moved:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
