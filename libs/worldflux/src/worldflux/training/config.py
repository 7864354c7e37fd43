"""TrainerConfig: how long and on what to train; the model's own optimizer_spec says how."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from worldflux.core.errors import ContractError

SCHEDULES = ("constant", "cosine")


@dataclass
class TrainerConfig:
    """Run settings. Learning rate, clipping and warmup come from model.optimizer_spec().

    eval_every / checkpoint_every of 0 mean: only at the start (eval) and the end. Checkpoints
    and logs need `output_dir`; with `resume` a run finds the checkpoint there and continues
    from it (model, optimizer, schedule, every RNG, step, replay contents).
    """

    steps: int = 1000
    batch_size: int = 16
    seq_len: int = 32
    seed: int = 0
    device: str = "cpu"
    eval_every: int = 0
    eval_batches: int = 4
    checkpoint_every: int = 0
    output_dir: str | None = None
    log_every: int = 10
    deterministic: bool = False
    progress: bool = True
    schedule: str = "constant"  # after warmup: "constant" or "cosine" decay to min_lr_ratio
    min_lr_ratio: float = 0.0
    resume: bool = True
    tensorboard: bool = True
    # torch intra-op threads for this process; 0 leaves torch's default. Parallel seed runs
    # on a few cores want 1: oversubscribed threads make small models many times slower.
    threads: int = 0
    # Record the optimizer step as one CUDA graph and replay it (training.graphed): for small
    # models on a GPU, whose eager steps are launch-bound. Constant lr, graph_capturable models.
    cuda_graph: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "seq_len"):
            self._check_int(name, minimum=1)
        for name in (
            "seed",
            "eval_every",
            "eval_batches",
            "checkpoint_every",
            "log_every",
            "threads",
        ):
            self._check_int(name, minimum=0)
        if self.schedule not in SCHEDULES:
            raise ContractError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ContractError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.output_dir is not None:
            self.output_dir = str(self.output_dir)

    def _check_int(self, name: str, minimum: int) -> None:
        value = getattr(self, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ContractError(f"TrainerConfig.{name} must be an int >= {minimum}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
