"""Train TD-MPC2 on a bundled dataset with the generic Trainer, then plan with MPPI.

    ./pants run examples/train_tdmpc2.py -- --test               # seconds: ci size, pendulum
    python examples/train_tdmpc2.py --test                      # same, with the source roots
                                                                # on PYTHONPATH (dev venv)
    python examples/train_tdmpc2.py --size 5m --steps 100000 --batch-size 256 --seq-len 4 \\
        --output-dir runs/tdmpc2-5m                              # the official batch/horizon
    python examples/train_tdmpc2.py --size 5m --steps 200000 --output-dir runs/tdmpc2-5m --resume

The model trains on windows of horizon + 1 = 4 observations (the official horizon 3); a longer
--seq-len is cut into such windows, so it only changes how many windows a batch holds. The
discount follows the official heuristic from the dataset's episode length unless --discount
is given. Held-out losses are printed before and after; the trained model is saved under
<output-dir>/model and reloads with `create_world_model("<output-dir>/model")`.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Sequence

import torch
from training_run import (
    add_run_arguments,
    check_finite,
    check_reload,
    finish_run_arguments,
    trainer_config,
)

import worldflux.models.catalog  # noqa: F401  (registers the built-in families)
from worldflux.core import WorldModel, create_world_model
from worldflux.datasets import load_dataset
from worldflux.models.tdmpc2 import SIZES, TDMPC2, discount_for_episode_length
from worldflux.planners import InProcessDynamics, MPPIConfig, MPPIPlanner
from worldflux.training import Trainer, TrainResult

TEST_SETTINGS = {"size": "ci", "steps": 40, "batch_size": 32, "seq_len": 4, "eval_batches": 2}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--test", action="store_true", help="a few seconds at ci size (CI smoke run)")
    p.add_argument("--size", default="5m", choices=sorted(SIZES), help="named model size")
    p.add_argument("--dataset", default="pendulum", help="bundled dataset (continuous actions)")
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=4, help="sampled sequence length (>= 2)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--discount", type=float, default=None, help="default: official heuristic")
    add_run_arguments(p)
    args = p.parse_args(argv)
    finish_run_arguments(p, args, TEST_SETTINGS)
    return args


def build_model(args: argparse.Namespace, episode_length: int, action_kwargs: dict) -> TDMPC2:
    discount = args.discount or discount_for_episode_length(episode_length)
    model = create_world_model(
        f"tdmpc2:{args.size}", **action_kwargs, lr=args.lr, discount=discount, device=args.device
    )
    assert isinstance(model, TDMPC2)
    return model


def plan_one_action(model: WorldModel, obs: torch.Tensor) -> torch.Tensor:
    """MPPI with the official settings from one held-out observation."""
    result = MPPIPlanner(MPPIConfig(seed=0)).plan(InProcessDynamics(model), obs)
    assert result.action.tensor is not None
    return result.action.tensor[0, 0]


def main(argv: Sequence[str] | None = None) -> TrainResult:
    args = parse_args(argv)
    train = load_dataset(args.dataset, split="train", seed=args.seed)
    heldout = load_dataset(args.dataset, split="heldout", seed=args.seed)
    spec = train.spec
    if spec.action_kind != "continuous":
        raise SystemExit(f"TD-MPC2 needs continuous actions; {args.dataset} has {spec.action_kind}")
    episode_length = max(spec.num_steps // max(spec.num_episodes, 1) - 1, 1)
    model = build_model(args, episode_length, spec.model_kwargs())
    with tempfile.TemporaryDirectory() as scratch:
        output_dir = args.output_dir or (scratch if args.test else None)
        config = trainer_config(args, output_dir)
        print(
            f"tdmpc2:{args.size}: {model.num_parameters() / 1e6:.3f}M parameters, "
            f"{args.dataset} obs {list(spec.obs_shape)} act {spec.action_dim}, "
            f"discount {model.spec.discount:.3f}, device {args.device}"
        )
        trainer = Trainer(model, config, train_data=train, eval_data=heldout)
        result = trainer.fit()
        report(result)
        obs = heldout.sample(1, 1, torch.Generator().manual_seed(0)).obs[:, 0]
        action = plan_one_action(model, obs)
        print(f"MPPI first action for a held-out state: {action.tolist()}")
        if output_dir is not None:
            check_reload(model, output_dir)
    if args.test:
        check_smoke(result)
    return result


def report(result: TrainResult) -> None:
    first, last = result.initial_eval, result.final_eval
    names = [k for k in ("total", "consistency", "reward", "value", "pi") if k in last]
    for name in names:
        before = first.get(name, math.nan)
        print(f"held-out {name:12s} {before:10.4f} -> {last[name]:10.4f}")
    print(f"{result.steps} steps, {result.steps_per_second:.1f} steps/s, {result.seconds:.1f} s")


def check_smoke(result: TrainResult) -> None:
    check_finite(result)
    if not result.final_eval["total"] < result.initial_eval["total"]:
        raise SystemExit(
            f"held-out loss did not fall: {result.initial_eval['total']:.4f} -> "
            f"{result.final_eval['total']:.4f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
