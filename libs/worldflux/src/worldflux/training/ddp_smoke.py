"""A short data-parallel run for checking torchrun + gloo end to end.

    python -m torch.distributed.run --standalone --nproc_per_node=2 \\
        -m worldflux.training.ddp_smoke --out DIR [--plugin MODULE] [--model toy:ci]

Each rank initialises its model from a different seed (so only the trainer's broadcast can make
them agree), trains a few steps on its own batches, and writes to DIR its initial and final
weights (rank<r>.initial/final.safetensors) and rank<r>.json (losses, first batch checksum).

For the tests that check what the averaging computes, --record also writes rank<r>.steps
.safetensors: per step the batch this rank drew, its whole state before the step, the gradients
after the all-reduce (what the optimizer steps on) and its buffers before the broadcast.
--nan-rank/--nan-step make one rank's loss NaN at one step; a rank that stops on a non-finite
loss writes its error and step to rank<r>.json and exits 0, so torchrun does not kill the
other rank before it has written its own. --output-dir keeps the final training checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from worldflux.core.errors import NonFiniteLossError
from worldflux.core.registry import create_world_model
from worldflux.core.state import Batch, LossOutput
from worldflux.datasets import load_dataset
from worldflux.training import trainer as trainer_module
from worldflux.training.config import TrainerConfig
from worldflux.training.seeding import seed_everything
from worldflux.training.trainer import Trainer


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


class Recorder:
    """Wraps the trainer's data source and hooks so every step's inputs and outputs are kept.

    sample() runs first in each train_step, so the model state captured there is the state the
    step starts from. The gradients are captured when the trainer clips them (right after the
    all-reduce), the buffers when it broadcasts them (before rank 0's overwrite them).
    """

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.data = trainer.train_data
        self.tensors: dict[str, torch.Tensor] = {}
        self.real_clip = trainer_module.clip_gradients
        self.real_broadcast = trainer_module.broadcast_module
        trainer.train_data = self  # type: ignore[assignment]
        trainer_module.clip_gradients = self.clip  # type: ignore[assignment]
        trainer_module.broadcast_module = self.broadcast  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.data)  # type: ignore[arg-type]

    def sample(self, batch_size: int, seq_len: int, generator: torch.Generator) -> Batch:
        batch = self.data.sample(batch_size, seq_len, generator)
        step = self.trainer.step + 1
        for field in dataclasses.fields(Batch):
            value = getattr(batch, field.name)
            if isinstance(value, torch.Tensor):
                self.tensors[f"{step}.batch.{field.name}"] = value.detach().clone()
        for name, value in _weights(self.trainer.model).items():
            self.tensors[f"{step}.before.{name}"] = value
        return batch

    def clip(self, params: list[torch.nn.Parameter], kind: str, value: float) -> torch.Tensor:
        step = self.trainer.step + 1
        for i, param in enumerate(params):
            if param.grad is not None:
                self.tensors[f"{step}.grad.{i}"] = param.grad.detach().clone()
        return self.real_clip(params, kind, value)

    def broadcast(self, module: torch.nn.Module, buffers_only: bool = False) -> None:
        if buffers_only:
            step = self.trainer.step + 1
            for name, buffer in module.named_buffers():
                self.tensors[f"{step}.buffers.{name}"] = buffer.detach().clone()
        self.real_broadcast(module, buffers_only)


def poison_loss(trainer: Trainer, at_step: int) -> None:
    """Make this rank's loss NaN at optimizer step `at_step` (the other ranks stay finite)."""
    model = trainer.model
    real_loss = model.loss

    def loss(batch: Batch) -> LossOutput:
        out = real_loss(batch)
        if trainer.step + 1 == at_step:
            out.total = out.total * float("nan")
        return out

    model.loss = loss  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--plugin", action="append", default=[], help="module registering a family")
    parser.add_argument("--model", default="toy:ci")
    parser.add_argument("--dataset", default="pendulum")
    parser.add_argument("--split", default="train")
    parser.add_argument("--cache", default=None)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--record", action="store_true", help="write rank<r>.steps.safetensors")
    parser.add_argument("--nan-rank", type=int, default=-1, help="rank whose loss turns NaN")
    parser.add_argument("--nan-step", type=int, default=0, help="step at which it does")
    parser.add_argument("--output-dir", default=None, help="keep the training checkpoint here")
    args = parser.parse_args(argv)
    for module in args.plugin:
        importlib.import_module(module)
    rank = int(os.environ.get("RANK", "0"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    data = load_dataset(args.dataset, args.split, cache_dir=args.cache)
    seed_everything(args.seed + 1000 * rank)
    model = create_world_model(args.model, **data.spec.model_kwargs())
    save_file(_weights(model), str(out / f"rank{rank}.initial.safetensors"))
    config = TrainerConfig(
        steps=args.steps,
        batch_size=8,
        seq_len=8,
        seed=args.seed,
        eval_batches=0,
        progress=False,
        threads=1,
        output_dir=args.output_dir,
    )
    trainer = Trainer(model, config, data)
    probe = torch.Generator()
    probe.set_state(trainer.generator.get_state())
    first = data.sample(config.batch_size, config.seq_len, probe)
    recorder = Recorder(trainer) if args.record else None
    if rank == args.nan_rank:
        poison_loss(trainer, args.nan_step)
    report: dict[str, Any] = {
        "rank": rank,
        "world_size": trainer.dist.world_size,
        "first_batch_sum": float(first.obs.double().sum()),
    }
    try:
        result = trainer.fit()
        report["losses"] = [h["total"] for h in result.history]
    except NonFiniteLossError as err:
        report.update(error=type(err).__name__, message=str(err), stopped_at=trainer.step)
    save_file(_weights(trainer.model), str(out / f"rank{rank}.final.safetensors"))
    if recorder is not None:
        save_file(recorder.tensors, str(out / f"rank{rank}.steps.safetensors"))
    (out / f"rank{rank}.json").write_text(json.dumps(report))
    trainer.close()


if __name__ == "__main__":
    main()
