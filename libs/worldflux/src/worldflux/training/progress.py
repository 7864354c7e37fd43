"""A rich progress bar for long runs, shown only on an interactive terminal."""

from __future__ import annotations

from typing import Any

MIN_STEPS = 200  # shorter runs finish before a bar would help


class ProgressBar:
    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self._progress: Any = None
        self._task: Any = None
        if not enabled or total - start < MIN_STEPS:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        console = Console(stderr=True)
        if not console.is_terminal:
            return
        self._progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[loss]}"),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task("train", total=total, completed=start, loss="")
        self._progress.start()

    @property
    def active(self) -> bool:
        return self._progress is not None

    def update(self, step: int, loss: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step, loss=f"loss {loss:.4g}")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
