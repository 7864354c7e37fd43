"""Held-out evaluation: the losses the gates judge are never training-batch losses.

Every evaluation of a run (before training, along the curve, after training) and of every seed
draws the same held-out batches from a fixed generator, and runs under its own forked RNG, so an
evaluation neither depends on nor disturbs the training run's random stream.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch

from worldflux.core import Batch, WorldModel
from worldflux.gates.records import Evaluation

EVAL_SEED = 20_240_601


@contextlib.contextmanager
def isolated_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block with a fixed seed and restore every RNG afterwards."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def eval_mode(model: WorldModel) -> Iterator[WorldModel]:
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def heldout_batches(
    dataset: Any, count: int, batch_size: int, seq_len: int, seed: int = EVAL_SEED
) -> Iterator[Batch]:
    """The same `count` batches every time it is called with the same arguments."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(count):
        yield dataset.sample(batch_size, seq_len, generator)


def evaluate(
    model: WorldModel, dataset: Any, count: int, batch_size: int, seq_len: int
) -> Evaluation:
    """Mean loss total, components and family metrics over the fixed held-out batches."""
    device = model.device
    sums: dict[str, float] = {}
    metric_sums: dict[str, float] = {}
    total = 0.0
    with eval_mode(model), torch.no_grad(), isolated_rng(EVAL_SEED, device):
        for batch in heldout_batches(dataset, count, batch_size, seq_len):
            out = model.loss(batch.to(device))
            total += float(out.total)
            for name, value in out.components.items():
                sums[name] = sums.get(name, 0.0) + float(value)
            for name, metric in out.metrics.items():
                metric_sums[name] = metric_sums.get(name, 0.0) + float(metric)
    return Evaluation(
        total / count,
        {k: v / count for k, v in sums.items()},
        {k: v / count for k, v in metric_sums.items()},
    )


def curve_steps(steps: int, points: int) -> list[int]:
    """Evenly spaced steps in (0, steps) at which the held-out curve is sampled (the initial
    and final evaluations add steps 0 and `steps`)."""
    if points <= 0 or steps <= 1:
        return []
    marks = {math.floor(steps * i / (points + 1)) for i in range(1, points + 1)}
    return sorted(m for m in marks if 0 < m < steps)
