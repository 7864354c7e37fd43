"""Callbacks: hooks the Trainer calls; subclass Callback and override what you need."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worldflux.training.trainer import Trainer


class Callback:
    """All hooks are no-ops. Set `trainer.should_stop = True` in a hook to end fit() early."""

    def on_step_end(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        """After optimizer step `step` (1-based) with that step's training metrics."""

    def on_eval(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        """After a held-out evaluation at `step` (0 is the evaluation before training)."""

    def on_checkpoint(self, trainer: Trainer, step: int, path: Path) -> None:
        """After a checkpoint of `step` was written to `path`."""
