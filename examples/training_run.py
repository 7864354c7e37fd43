"""What the training examples (train_dreamer.py, train_tdmpc2.py) share: the run's command-line
options, their checks, the TrainerConfig they make, and the checks after a run. Each example keeps
only what is its family's own (sizes, optimizer flags, what it does with the trained model)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import torch

from worldflux.core import WorldModel
from worldflux.training import TrainerConfig, TrainResult
from worldflux.training.checkpoint import has_checkpoint
from worldflux.training.trainer import CHECKPOINT_DIR, MODEL_DIR


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Device, seed, evaluation, checkpoints, threads and where the run lives."""
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-batches", type=int, default=8)
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--output-dir", default=None, help="checkpoints, logs and the final model")
    p.add_argument("--resume", action="store_true", help="continue the run in --output-dir")
    p.add_argument("--no-progress", action="store_true")


def finish_run_arguments(
    p: argparse.ArgumentParser, args: argparse.Namespace, test_settings: dict[str, Any]
) -> None:
    """Apply --test (the example's smoke settings: one thread, no periodic evaluation or
    checkpoints, no progress bar) and refuse a resume without a run or a run overwritten."""
    if args.test:
        for key, value in test_settings.items():
            setattr(args, key, value)
        args.threads = args.threads or 1
        args.eval_every = 0
        args.checkpoint_every = 0
        args.no_progress = True
    if args.resume and not args.output_dir:
        p.error("--resume needs --output-dir (the run to continue)")
    if (
        args.output_dir
        and not args.resume
        and has_checkpoint(Path(args.output_dir) / CHECKPOINT_DIR)
    ):
        p.error(f"{args.output_dir} already holds a run: pass --resume or pick another directory")


def trainer_config(args: argparse.Namespace, output_dir: str | None) -> TrainerConfig:
    return TrainerConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        seed=args.seed,
        device=args.device,
        eval_every=args.eval_every,
        eval_batches=args.eval_batches,
        checkpoint_every=args.checkpoint_every if output_dir else 0,  # none without a place
        output_dir=output_dir,
        progress=not args.no_progress,
        resume=args.resume,
        threads=args.threads,
    )


def check_reload(model: WorldModel, output_dir: str) -> None:
    """The model the Trainer saved must reload bit for bit."""
    reloaded = WorldModel.from_pretrained(Path(output_dir) / MODEL_DIR)
    same = all(torch.equal(v, reloaded.state_dict()[k]) for k, v in model.state_dict().items())
    print(f"saved model reloads identically: {same}")
    if not same:
        raise SystemExit("checkpoint reload differs from the trained model")


def check_finite(result: TrainResult) -> None:
    values = [v for row in result.history for v in row.values()] + list(result.final_eval.values())
    if not all(math.isfinite(v) for v in values):
        raise SystemExit("non-finite loss in the smoke run")
