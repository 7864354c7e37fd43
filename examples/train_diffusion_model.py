"""Train the diffusion world model (DIAMOND-style) with the generic Trainer, then imagine and
plan.

    python examples/train_diffusion_model.py --test              # seconds: ci size, pendulum
    python examples/train_diffusion_model.py --steps 5 --batch-size 4 --obs-dim 4 --action-dim 2
    python examples/train_diffusion_model.py --size ci --steps 1000 --lr 1e-3
    python examples/train_diffusion_model.py --dataset pendulum-pixels --size base \\
        --device cuda --steps 50000 --output-dir runs/diffusion-base

--obs-dim/--action-dim train on a synthetic linear system of those sizes instead of a bundled
dataset. Held-out losses (denoising error overall and per noise level) are printed before and
after; the model imagines a few steps from a held-out observation with its Euler sampler
(seeded) and plans one action with the planner `auto` picks. The trained model is saved under
<output-dir>/model and reloads with `create_world_model("<output-dir>/model")`.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Sequence

import torch
from synthetic_data import linear_system
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
from worldflux.models.diffusion import SIZES, Diffusion
from worldflux.planners import InProcessDynamics, make_planner
from worldflux.training import Trainer, TrainResult

TEST_SETTINGS = {"size": "ci", "steps": 30, "batch_size": 8, "seq_len": 8, "eval_batches": 2}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--test", action="store_true", help="a few seconds at ci size (CI smoke run)")
    p.add_argument("--size", default="base", choices=sorted(SIZES), help="named model size")
    p.add_argument("--dataset", default="pendulum", help="bundled dataset (vectors or pixels)")
    p.add_argument("--obs-dim", type=int, default=None, help="synthetic vector data instead")
    p.add_argument("--action-dim", type=int, default=None, help="synthetic data's action size")
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=16, help="sampled sequence length (>= 2)")
    p.add_argument("--lr", type=float, default=None, help="default: the family's (1e-4)")
    add_run_arguments(p)
    args = p.parse_args(argv)
    finish_run_arguments(p, args, TEST_SETTINGS)
    if (args.obs_dim is None) != (args.action_dim is None):
        p.error("--obs-dim and --action-dim go together (a synthetic dataset of those sizes)")
    if args.obs_dim is not None and (args.obs_dim < 1 or args.action_dim < 1):
        p.error("--obs-dim and --action-dim must be >= 1")
    if args.seq_len < 2:
        p.error("--seq-len must be >= 2 (the model predicts the next observation)")
    return args


def main(argv: Sequence[str] | None = None) -> TrainResult:
    args = parse_args(argv)
    if args.obs_dim is not None:
        train = linear_system(args.obs_dim, args.action_dim, "train", args.seed)
        heldout = linear_system(args.obs_dim, args.action_dim, "heldout", args.seed)
    else:
        train = load_dataset(args.dataset, split="train", seed=args.seed)
        heldout = load_dataset(args.dataset, split="heldout", seed=args.seed)
    spec = train.spec
    overrides = dict(spec.model_kwargs())
    if args.lr is not None:
        overrides["lr"] = args.lr
    model = create_world_model(f"diffusion:{args.size}", **overrides, device=args.device)
    assert isinstance(model, Diffusion)
    with tempfile.TemporaryDirectory() as scratch:
        output_dir = args.output_dir or (scratch if args.test else None)
        print(
            f"diffusion:{args.size}: {model.num_parameters() / 1e6:.3f}M parameters, "
            f"{spec.name} obs {list(spec.obs_shape)} act {spec.action_kind} {spec.action_dim}, "
            f"{model.config.sampler_steps} Euler steps per imagined step, device {args.device}"
        )
        result = Trainer(model, trainer_config(args, output_dir), train, heldout).fit()
        report(result)
        probe = heldout.sample(1, 2, torch.Generator().manual_seed(0))
        imagine(model, probe.obs[:, 0], probe.actions[:, :1].expand(-1, 5, spec.action_dim))
        plan = make_planner("auto", horizon=5, seed=0).plan(
            InProcessDynamics(model), probe.obs[:, 0]
        )
        first = plan.action.primary  # [H, B, ...]: tensor (continuous) or tokens (discrete)
        assert isinstance(first, torch.Tensor)
        print(f"planned first action for a held-out observation: {first[0].tolist()}")
        if output_dir is not None:
            check_reload(model, output_dir)
    if args.test:
        check_finite(result)
        if not result.final_eval["denoise_error"] < result.initial_eval["denoise_error"]:
            raise SystemExit("held-out denoising error did not fall")
    return result


def imagine(model: Diffusion, obs: torch.Tensor, actions: torch.Tensor) -> None:
    model.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        rollout = model.rollout(model.encode(obs.to(model.device)), actions.to(model.device))
    assert rollout.rewards is not None
    rewards = [round(r, 3) for r in rollout.rewards[0].tolist()]
    if model.config.is_image:
        print(f"imagined 5 frames {list(rollout.latents['frames'].shape[-3:])}, rewards {rewards}")
    else:
        last = [[round(v, 3) for v in row] for row in rollout.latents["frames"][0, :, -1].tolist()]
        print(f"imagined 5 steps: {last}, rewards {rewards}")


def report(result: TrainResult) -> None:
    first, last = result.initial_eval, result.final_eval
    names = ["total", "denoise", "denoise_error"]
    names += sorted(k for k in last if k.startswith("denoise_error_sigma"))
    names += ["reward", "end"]
    for name in names:
        if name in last:
            print(f"held-out {name:24s} {first.get(name, math.nan):10.4f} -> {last[name]:10.4f}")
    print(f"{result.steps} steps, {result.steps_per_second:.1f} steps/s, {result.seconds:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
