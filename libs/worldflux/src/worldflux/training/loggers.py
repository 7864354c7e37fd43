"""CSV and TensorBoard logs of training and evaluation metrics in the run's output_dir."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from worldflux.serialization.atomic import atomic_write_bytes


def truncate_csv(path: Path, last_step: int) -> None:
    """Drop rows logged after `last_step`: a resumed run rewrites them from its checkpoint."""
    if not path.is_file():
        return
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    kept = [row for row in body if row and int(float(row[0])) <= last_step]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(kept)
    atomic_write_bytes(path, out.getvalue().encode())


class CsvLog:
    """One CSV per stream; columns fixed by the first row (later unknown keys are skipped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: list[str] | None = None
        if path.is_file() and path.stat().st_size:
            with path.open(newline="") as handle:
                self.columns = next(csv.reader(handle), None)

    def write(self, step: int, metrics: dict[str, float]) -> None:
        row: dict[str, Any] = {"step": step, **metrics}
        new_file = self.columns is None
        if self.columns is None:
            self.columns = list(row)
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, self.columns, extrasaction="ignore", restval="")
            if new_file:
                writer.writeheader()
            writer.writerow(row)


class MetricsLogger:
    """train.csv, eval.csv and (optionally) TensorBoard event files under output_dir."""

    def __init__(self, output_dir: Path, resume_step: int = 0, tensorboard: bool = True) -> None:
        output_dir.mkdir(parents=True, exist_ok=True)
        for name in ("train.csv", "eval.csv"):
            truncate_csv(output_dir / name, resume_step)
        self.train = CsvLog(output_dir / "train.csv")
        self.eval = CsvLog(output_dir / "eval.csv")
        self.writer: Any = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            # purge_step hides events a crashed run logged after the checkpoint we resume.
            self.writer = SummaryWriter(
                str(output_dir / "tensorboard"), purge_step=resume_step + 1 if resume_step else None
            )

    def log(self, stream: str, step: int, metrics: dict[str, float]) -> None:
        (self.train if stream == "train" else self.eval).write(step, metrics)
        if self.writer is not None:
            for name, value in metrics.items():
                if math.isfinite(value):
                    self.writer.add_scalar(f"{stream}/{name}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
