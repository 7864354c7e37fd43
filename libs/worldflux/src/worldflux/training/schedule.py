"""Learning-rate schedule: linear warmup, then constant or cosine decay."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class WarmupSchedule:
    """Multiplier of each group's base lr at optimizer step k (0-based), for LambdaLR.

    A plain dataclass (not a closure) so LambdaLR's state_dict stores its fields as JSON.
    """

    warmup_steps: int = 0
    total_steps: int = 1
    kind: str = "constant"
    min_ratio: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return 1.0
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_schedule(
    optimizer: torch.optim.Optimizer,
    warmup_steps: int,
    total_steps: int,
    kind: str = "constant",
    min_ratio: float = 0.0,
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, WarmupSchedule(warmup_steps, total_steps, kind, min_ratio)
    )
