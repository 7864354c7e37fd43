"""Train a JEPA family (I-JEPA `jepa`, or V-JEPA 2 `vjepa2`) on bundled data with the Trainer.

    python examples/train_jepa.py --steps 5 --batch-size 4 --obs-dim 8   # the CI smoke run
    python examples/train_jepa.py --test                                 # seconds, ci size
    python examples/train_jepa.py --size ci --steps 2000 --output-dir runs/jepa-ci
    python examples/train_jepa.py --family vjepa2 --size tiny --steps 5000 --device cuda \\
        --output-dir runs/vjepa2-tiny                           # bundled push-natural clips

Without --obs-dim, both families train on the bundled `push-natural` clips (their gate dataset:
a colour field with natural images' 1/f spectrum filling the 48x48 frame, so every patch has
content to predict and part of it is implied by its context; `jepa` takes single frames,
`vjepa2` 4-frame clips). With --obs-dim N the observations are N-feature vectors:
the bundled pendulum states (cos, sin, velocity) lifted by a fixed random map to N features
(each token one feature group), so the example runs in seconds. Held-out representation loss
and embedding spread are printed before and after; the trained model is saved under
<output-dir>/model and reloads with `create_world_model("<output-dir>/model")`.
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
from worldflux.core import Batch, create_world_model, get_family
from worldflux.datasets import load_dataset
from worldflux.training import Trainer, TrainResult

FAMILIES = {"jepa": "push-natural", "vjepa2": "push-natural"}
TEST_SETTINGS = {"size": "ci", "steps": 20, "batch_size": 8, "seq_len": 4, "eval_batches": 2}


class LiftedVectors:
    """A bundled vector dataset seen through a fixed random map to `dim` features:
    [state, tanh(W state)] cut to `dim` (the map is the same for every split)."""

    def __init__(self, data: Any, dim: int) -> None:
        self.data = data
        self.spec = data.spec
        self.dim = dim
        width = data.spec.obs_shape[0]
        self.weight = torch.randn(
            width, max(dim - width, 1), generator=torch.Generator().manual_seed(0)
        )

    def __len__(self) -> int:
        return len(self.data)

    def lift(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.cat([obs, torch.tanh(obs @ self.weight)], -1)[..., : self.dim]

    def sample(
        self, batch_size: int, seq_len: int, generator: torch.Generator | None = None
    ) -> Batch:
        b = self.data.sample(batch_size, seq_len, generator)
        return Batch(self.lift(b.obs), b.actions, b.rewards, b.continues, b.is_first, b.extras)

    def model_kwargs(self) -> dict[str, Any]:
        return {**self.spec.model_kwargs(), "obs_shape": (self.dim,)}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--test", action="store_true", help="a few seconds at ci size (CI smoke run)")
    p.add_argument("--family", default="jepa", choices=sorted(FAMILIES))
    p.add_argument("--size", default="ci", help="named model size (ci, base; vjepa2 also tiny)")
    p.add_argument("--dataset", default=None, help="bundled dataset (default: the family's)")
    p.add_argument("--obs-dim", type=int, default=None, help="train on N-feature vectors")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=4, help="sampled sequence length")
    p.add_argument("--lr", type=float, default=None, help="default: the family's")
    add_run_arguments(p)
    args = p.parse_args(argv)
    finish_run_arguments(p, args, TEST_SETTINGS)
    if args.output_dir is None:
        args.checkpoint_every = 0  # the Trainer cannot checkpoint without a directory
    sizes = sorted(get_family(args.family).sizes)
    if args.size not in sizes:
        p.error(f"{args.family} has no size {args.size!r}; sizes: {sizes}")
    if args.obs_dim is not None and args.obs_dim < 3:
        p.error("--obs-dim must be at least 3 (the pendulum state)")
    return args


def main(argv: Sequence[str] | None = None) -> TrainResult:
    args = parse_args(argv)
    if args.obs_dim is not None:
        train: Any = LiftedVectors(
            load_dataset("pendulum", split="train", seed=args.seed), args.obs_dim
        )
        heldout: Any = LiftedVectors(
            load_dataset("pendulum", split="heldout", seed=args.seed), args.obs_dim
        )
        name = f"pendulum lifted to {args.obs_dim} features"
    else:
        name = args.dataset or FAMILIES[args.family]
        train = load_dataset(name, split="train", seed=args.seed)
        heldout = load_dataset(name, split="heldout", seed=args.seed)
    overrides: dict[str, Any] = {"device": args.device}
    if args.lr is not None:
        overrides["lr"] = args.lr
    if args.family == "jepa":
        overrides["momentum_steps"] = args.steps  # EMA 0.996 -> 1.0 over this run
    else:
        overrides["frames"] = min(4, args.seq_len // 2 * 2)
    shape = train.model_kwargs() if isinstance(train, LiftedVectors) else train.spec.model_kwargs()
    model = create_world_model(f"{args.family}:{args.size}", **shape, **overrides)
    with tempfile.TemporaryDirectory() as scratch:
        output_dir = args.output_dir or (scratch if args.test else None)
        config = trainer_config(args, output_dir)
        print(
            f"{model.model_id}: {model.num_parameters() / 1e6:.3f}M parameters, {name}, "
            f"obs {list(model.config.obs_shape)}, device {args.device}"
        )
        result = Trainer(model, config, train_data=train, eval_data=heldout).fit()
        report(result)
        if output_dir is not None:
            check_reload(model, output_dir)
    check_finite(result)
    if args.test and not result.final_eval["total"] < result.initial_eval["total"]:
        raise SystemExit("held-out representation loss did not fall")
    return result


def report(result: TrainResult) -> None:
    first, last = result.initial_eval, result.final_eval
    for key in ("representation_loss", "embedding_std", "mask_ratio"):
        if key in last:
            print(f"held-out {key:20s} {first.get(key, math.nan):10.4f} -> {last[key]:10.4f}")
    print(f"{result.steps} steps, {result.steps_per_second:.1f} steps/s, {result.seconds:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
