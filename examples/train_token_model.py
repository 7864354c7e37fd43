"""Train the token world model (IRIS-style) with the generic Trainer, then imagine and plan.

    python examples/train_token_model.py --test                  # seconds: ci size, pendulum
    python examples/train_token_model.py --steps 5 --batch-size 4 --seq-len 8 --vocab-size 32
    python examples/train_token_model.py --dataset tokens --size ci --steps 1500 --lr 1e-3
    python examples/train_token_model.py --dataset pendulum-pixels --size base --device cuda \\
        --steps 50000 --output-dir runs/token-base

Vector and image observations are tokenised by the model's VQ tokenizer with a codebook of
--vocab-size entries (default: the size's); token datasets (`tokens`) bring their own
vocabulary. Held-out losses are printed before and after; the model imagines a few steps from a
held-out observation (seeded token sampling) and plans one action with the planner `auto`
picks (categorical CEM for discrete actions). The trained model is saved under
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
from worldflux.core import create_world_model
from worldflux.datasets import load_dataset
from worldflux.models.token import SIZES, Token, TokenConfig
from worldflux.planners import InProcessDynamics, make_planner
from worldflux.training import Trainer, TrainResult

TEST_SETTINGS = {"size": "ci", "steps": 30, "batch_size": 8, "seq_len": 8, "eval_batches": 2}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--test", action="store_true", help="a few seconds at ci size (CI smoke run)")
    p.add_argument("--size", default="base", choices=sorted(SIZES), help="named model size")
    p.add_argument(
        "--dataset", default="pendulum", help="bundled dataset (vectors, pixels, tokens)"
    )
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=16, help="sampled sequence length (>= 2)")
    p.add_argument("--vocab-size", type=int, default=None, help="VQ codebook entries")
    p.add_argument("--lr", type=float, default=None, help="default: the family's (1e-4)")
    add_run_arguments(p)
    args = p.parse_args(argv)
    finish_run_arguments(p, args, TEST_SETTINGS)
    if args.seq_len < 2:
        p.error("--seq-len must be >= 2 (the model predicts the next observation)")
    return args


def main(argv: Sequence[str] | None = None) -> TrainResult:
    args = parse_args(argv)
    train = load_dataset(args.dataset, split="train", seed=args.seed)
    heldout = load_dataset(args.dataset, split="heldout", seed=args.seed)
    spec = train.spec
    overrides = {**spec.model_kwargs(), **TokenConfig.dataset_defaults(spec)}
    if args.vocab_size is not None:
        if spec.modality == "tokens":
            raise SystemExit(f"{args.dataset} holds tokens (vocabulary {spec.vocab_size})")
        overrides["vocab_size"] = args.vocab_size
    if args.lr is not None:
        overrides["lr"] = args.lr
    model = create_world_model(f"token:{args.size}", **overrides, device=args.device)
    assert isinstance(model, Token)
    c = model.config
    with tempfile.TemporaryDirectory() as scratch:
        output_dir = args.output_dir or (scratch if args.test else None)
        print(
            f"token:{args.size}: {model.num_parameters() / 1e6:.3f}M parameters, {args.dataset} "
            f"obs {list(spec.obs_shape)} -> {c.num_tokens} tokens of {c.token_vocab}, "
            f"act {spec.action_kind} {spec.action_dim}, device {args.device}"
        )
        result = Trainer(model, trainer_config(args, output_dir), train, heldout).fit()
        report(result)
        probe = heldout.sample(1, 2, torch.Generator().manual_seed(0))
        imagine(
            model,
            probe.obs[:, 0],
            probe.actions[:, :1].expand(-1, 5, *model.action_spec.step_shape),
        )
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
        if not result.final_eval["token_ce"] < result.initial_eval["token_ce"]:
            raise SystemExit("held-out token cross-entropy did not fall")
    return result


def imagine(model: Token, obs: torch.Tensor, actions: torch.Tensor) -> None:
    model.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        rollout = model.rollout(model.encode(obs.to(model.device)), actions.to(model.device))
    assert rollout.rewards is not None
    tokens = rollout.latents["tokens"][0, :, -1].tolist()
    rewards = [round(r, 3) for r in rollout.rewards[0].tolist()]
    print(f"imagined 5 steps: tokens {tokens}, rewards {rewards}")


def report(result: TrainResult) -> None:
    first, last = result.initial_eval, result.final_eval
    for name in ("total", "token_ce", "perplexity", "reward", "end", "recon", "codebook_usage"):
        if name in last:
            print(f"held-out {name:15s} {first.get(name, math.nan):10.4f} -> {last[name]:10.4f}")
    print(f"{result.steps} steps, {result.steps_per_second:.1f} steps/s, {result.seconds:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
