"""What the examples of the smaller families (train_ssm.py, train_gan.py, train_dit.py) share
beyond training_run.py: the command line (size, dataset, steps, batch, sequence length, lr and
the run options), and one run: train with the Trainer on a bundled dataset, print the held-out
losses and family metrics before and after, imagine 5 seeded steps from a held-out observation,
plan one action with the planner `auto` picks, check that the saved model reloads bit for bit;
with --test, fail unless every figure is finite and the family's metric fell."""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from training_run import (
    add_run_arguments,
    check_finite,
    check_reload,
    finish_run_arguments,
    trainer_config,
)

import worldflux.models.catalog  # noqa: F401  (registers the built-in families)
from worldflux.core import create_world_model
from worldflux.datasets import load_dataset
from worldflux.planners import InProcessDynamics, make_planner
from worldflux.training import Trainer, TrainResult


@dataclass(frozen=True)
class FamilyExample:
    """One family's example: its id, sizes, default dataset, default lr (for --help), the
    held-out metric that must fall in --test, and the smoke settings."""

    family: str
    sizes: Sequence[str]
    dataset: str
    lr: float
    metric: str
    test_settings: dict[str, Any]
    seq_len: int = 16


def parse_args(
    example: FamilyExample, doc: str | None, argv: Sequence[str] | None
) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--test", action="store_true", help="a few seconds at ci size (CI smoke run)")
    p.add_argument("--size", default="base", choices=sorted(example.sizes), help="model size")
    p.add_argument("--dataset", default=example.dataset, help="bundled dataset")
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=example.seq_len, help="sequence length (>= 2)")
    p.add_argument("--lr", type=float, default=None, help=f"default: the family's ({example.lr:g})")
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="another config field of the family (repeatable; numbers as numbers)",
    )
    add_run_arguments(p)
    args = p.parse_args(argv)
    args.config_overrides = {}
    for item in args.config:
        field, sep, value = item.partition("=")
        if not sep or not field:
            p.error(f"--config takes FIELD=VALUE, got {item!r}")
        args.config_overrides[field] = number(value)
    finish_run_arguments(p, args, example.test_settings)
    if args.steps < 1 or args.batch_size < 1:
        p.error("--steps and --batch-size must be >= 1")
    if args.seq_len < 2:
        p.error("--seq-len must be >= 2 (the model predicts the next observation)")
    if args.lr is not None and not args.lr > 0:
        p.error("--lr must be positive")
    return args


def number(text: str) -> Any:
    """An int or float where the text is one, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def run(example: FamilyExample, args: argparse.Namespace) -> TrainResult:
    train = load_dataset(args.dataset, split="train", seed=args.seed)
    heldout = load_dataset(args.dataset, split="heldout", seed=args.seed)
    spec = train.spec
    overrides = dict(spec.model_kwargs())
    overrides.update(args.config_overrides)
    if args.lr is not None:
        overrides["lr"] = args.lr
    model_id = f"{example.family}:{args.size}"
    model = create_world_model(model_id, **overrides, device=args.device)
    with tempfile.TemporaryDirectory() as scratch:
        output_dir = args.output_dir or (scratch if args.test else None)
        print(
            f"{model_id}: {model.num_parameters() / 1e6:.3f}M parameters, {spec.name} obs "
            f"{list(spec.obs_shape)} act {spec.action_kind} {spec.action_dim}, device {args.device}"
        )
        result = Trainer(model, trainer_config(args, output_dir), train, heldout).fit()
        report(result)
        probe = heldout.sample(1, 2, torch.Generator().manual_seed(0))
        actions = probe.actions[:, :1].expand(-1, 5, *probe.actions.shape[2:])
        model.eval()
        with torch.no_grad():
            torch.manual_seed(0)
            rollout = model.rollout(model.encode(probe.obs[:, 0].to(model.device)),
                                    actions.to(model.device))  # fmt: skip
        assert rollout.rewards is not None
        shapes = {k: list(v.shape[2:]) for k, v in rollout.latents.items()}
        rewards = [round(r, 3) for r in rollout.rewards[0].tolist()]
        print(f"imagined 5 steps: latents {shapes}, rewards {rewards}")
        # --test plans with fewer candidates: on 64x64 frames (dit) the default budget
        # dominated the smoke run's time
        budget = {"iterations": 2, "num_samples": 32, "num_elites": 4} if args.test else {}
        plan = make_planner("auto", horizon=5, seed=0, **budget).plan(
            InProcessDynamics(model), probe.obs[:, 0]
        )
        first = plan.action.primary  # [H, B, ...]
        assert isinstance(first, torch.Tensor)
        print(f"planned first action for a held-out observation: {first[0].tolist()}")
        if output_dir is not None:
            check_reload(model, output_dir)
    if args.test:
        check_finite(result)
        before, after = result.initial_eval[example.metric], result.final_eval[example.metric]
        if not after < before:
            raise SystemExit(
                f"held-out {example.metric} did not fall ({before:.4g} -> {after:.4g})"
            )
    return result


def report(result: TrainResult) -> None:
    first, last = result.initial_eval, result.final_eval
    for name in sorted(last):
        print(f"held-out {name:24s} {first.get(name, math.nan):10.4f} -> {last[name]:10.4f}")
    print(f"{result.steps} steps, {result.steps_per_second:.1f} steps/s, {result.seconds:.1f} s")
