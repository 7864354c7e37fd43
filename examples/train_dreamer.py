"""Train DreamerV3 on a bundled dataset with the generic Trainer, then imagine with its actor.

    ./pants run examples/train_dreamer.py -- --test              # seconds: ci size, pendulum
    python examples/train_dreamer.py --test                     # same, with the source roots
                                                                # on PYTHONPATH (dev venv)
    python examples/train_dreamer.py --size size12m --steps 100000 --batch-size 16 \\
        --seq-len 64 --output-dir runs/dreamer-12m                # the official batch 16 x 64
    python examples/train_dreamer.py --size size12m --steps 200000 --output-dir runs/dreamer-12m \\
        --resume
    python examples/train_dreamer.py --dataset pendulum-pixels --size size1m --steps 20000

Full runs use the 2024 optimizer settings (LaProp, lr 4e-5, eps 1e-20, AGC 0.3, 1000 warmup
steps) unless --lr / --warmup say otherwise. --test trains for a few seconds, so it raises the
lr to 1e-3 without warmup; it checks that every loss stays finite and that the held-out
world-model loss falls. Held-out losses are printed before and after; the trained model is
saved under <output-dir>/model and reloads with `create_world_model("<output-dir>/model")`.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Sequence
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
from worldflux.models.dreamerv3 import LOSS_NAMES, SIZES, DreamerV3WorldModel
from worldflux.training import Trainer, TrainResult

TEST_SETTINGS: dict[str, Any] = {
    "size": "ci",
    "steps": 30,
    "batch_size": 4,
    "seq_len": 16,
    "eval_batches": 2,
    "lr": 1e-3,
    "warmup": 0,
}
WORLD_MODEL_TERMS = ("rec", "rew", "con", "dyn", "rep")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--test", action="store_true", help="a few seconds at ci size (CI smoke run)")
    p.add_argument("--size", default="size12m", choices=list(SIZES), help="named model size")
    p.add_argument("--dataset", default="pendulum", help="bundled dataset (vector or image obs)")
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--lr", type=float, default=None, help="default: the official 4e-5")
    p.add_argument("--warmup", type=int, default=None, help="default: the official 1000")
    add_run_arguments(p)
    args = p.parse_args(argv)
    finish_run_arguments(p, args, TEST_SETTINGS)
    if args.seq_len < 2:
        p.error("--seq-len must be at least 2 (DreamerV3 learns from transitions)")
    return args


def build_model(args: argparse.Namespace, data_kwargs: dict[str, Any]) -> DreamerV3WorldModel:
    overrides: dict[str, Any] = dict(data_kwargs)
    if args.lr is not None:
        overrides["lr"] = args.lr
    if args.warmup is not None:
        overrides["warmup"] = args.warmup
    model = create_world_model(f"dreamerv3:{args.size}", **overrides, device=args.device)
    assert isinstance(model, DreamerV3WorldModel)
    return model


@torch.no_grad()
def imagine(model: DreamerV3WorldModel, obs: torch.Tensor, horizon: int = 15) -> torch.Tensor:
    """Actor trajectories imagined from held-out observations: predicted reward per step."""
    model.eval()
    state = model.encode(obs.to(model.device))
    actions = model.propose(state, horizon, num_samples=8)
    assert actions is not None
    rollout = model.rollout(state, actions)
    assert rollout.rewards is not None
    return rollout.rewards.mean(0)


def world_model_loss(model: DreamerV3WorldModel, evaluation: dict[str, float]) -> float:
    return sum(evaluation[k] * getattr(model.config, f"scale_{k}") for k in WORLD_MODEL_TERMS)


def main(argv: Sequence[str] | None = None) -> TrainResult:
    args = parse_args(argv)
    train = load_dataset(args.dataset, split="train", seed=args.seed)
    heldout = load_dataset(args.dataset, split="heldout", seed=args.seed)
    spec = train.spec
    if spec.modality not in ("vector", "image"):
        raise SystemExit(
            f"DreamerV3 takes vector or image observations; {args.dataset} is {spec.modality}"
        )
    model = build_model(args, spec.model_kwargs())
    with tempfile.TemporaryDirectory() as scratch:
        output_dir = args.output_dir or (scratch if args.test else None)
        config = trainer_config(args, output_dir)
        print(
            f"dreamerv3:{args.size}: {model.num_parameters() / 1e6:.3f}M parameters "
            f"(slow critic included), {args.dataset} obs {list(spec.obs_shape)} "
            f"{spec.action_kind} act {spec.action_dim}, lr {model.config.lr:g}, "
            f"warmup {model.config.warmup}, device {args.device}"
        )
        trainer = Trainer(model, config, train_data=train, eval_data=heldout)
        result = trainer.fit()
        report(model, result)
        obs = heldout.sample(2, 1, torch.Generator().manual_seed(0)).obs[:, 0]
        rewards = imagine(model, obs)
        print(
            f"imagined reward per step (actor, 15 steps): {[round(r, 3) for r in rewards.tolist()]}"
        )
        if output_dir is not None:
            check_reload(model, output_dir)
    if args.test:
        check_smoke(model, result)
    return result


def report(model: DreamerV3WorldModel, result: TrainResult) -> None:
    first, last = result.initial_eval, result.final_eval
    for name in ("total", *LOSS_NAMES):
        if name in last:
            print(f"held-out {name:8s} {first.get(name, math.nan):10.4f} -> {last[name]:10.4f}")
    if first and last:
        before, after = world_model_loss(model, first), world_model_loss(model, last)
        print(f"held-out world-model loss {before:.4f} -> {after:.4f} ({after / before - 1:+.1%})")
    print(f"{result.steps} steps, {result.steps_per_second:.2f} steps/s, {result.seconds:.1f} s")


def check_smoke(model: DreamerV3WorldModel, result: TrainResult) -> None:
    check_finite(result)
    before = world_model_loss(model, result.initial_eval)
    after = world_model_loss(model, result.final_eval)
    if not after < before:
        raise SystemExit(f"held-out world-model loss did not fall: {before:.4f} -> {after:.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
