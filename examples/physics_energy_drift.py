"""Energy drift of the physics family against its unconstrained MLP baseline (the docs figure).

Trains `physics:ci` twice on the bundled pendulum (dynamics "hamiltonian" and "mlp", same seed,
steps and batches), imagines zero-action rollouts from held-out states and plots the mean
relative energy error |E_t - E_0| / 15 per step (worldflux.models.physics.energy).

    python examples/physics_energy_drift.py --steps 2000 --schedule cosine --seq-len 16 \
        --output docs/content/families/physics_energy_drift.png

trains both the way the gate trains `physics:ci` (2000 steps, cosine decay, batch 16 x 16), so
the drift is that of the gated preset; `--config FIELD=VALUE` changes both models' settings.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch

from worldflux.core import create_world_model
from worldflux.datasets import load_dataset
from worldflux.models.physics.energy import energy_drift_curve
from worldflux.training import Trainer, TrainerConfig


def parse_overrides(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, Any]:
    """FIELD=VALUE strings to config overrides; values are read as JSON when they parse
    (numbers, true/false), else kept as strings. `dynamics` is what the script varies."""
    overrides: dict[str, Any] = {}
    for item in items:
        field, sep, value = item.partition("=")
        if not sep or not field:
            parser.error(f"--config wants FIELD=VALUE, got {item!r}")
        if field == "dynamics":
            parser.error("--config dynamics=...: the script trains both dynamics itself")
        try:
            overrides[field] = json.loads(value)
        except json.JSONDecodeError:
            overrides[field] = value
    return overrides


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--horizon", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=8)
    parser.add_argument(
        "--config", action="append", default=[], metavar="FIELD=VALUE",
        help="physics config override for both models (repeatable), e.g. hidden=128",
    )  # fmt: skip
    args = parser.parse_args(argv)
    overrides = parse_overrides(parser, args.config)
    train = load_dataset("pendulum", "train")
    heldout = load_dataset("pendulum", "heldout")
    obs = heldout.sample(64, 1, torch.Generator().manual_seed(3)).obs[:, 0]
    curves: dict[str, list[float]] = {}
    for dynamics in ("hamiltonian", "mlp"):
        torch.manual_seed(args.seed)
        model = create_world_model(
            "physics:ci", **train.spec.model_kwargs(), **overrides, dynamics=dynamics
        )
        config = TrainerConfig(steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len,
                               eval_batches=2, schedule=args.schedule, progress=False,
                               tensorboard=False, threads=1)  # fmt: skip
        Trainer(model, config, train_data=train, eval_data=heldout).fit()
        model.eval()
        curves[dynamics] = energy_drift_curve(model, obs, args.horizon).tolist()
        picks = [curves[dynamics][i - 1] for i in (10, 50, 100, args.horizon) if i <= args.horizon]
        print(dynamics, " ".join(f"{v:.3f}" for v in picks))
    if args.output:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name, label in (("hamiltonian", "HNN + leapfrog"), ("mlp", "unconstrained MLP")):
            ax.plot(range(1, args.horizon + 1), curves[name], label=label)
        ax.set_xlabel("imagined step (zero action)")
        ax.set_ylabel("mean |E_t - E_0| / 15")
        ax.set_title(f"physics:ci on pendulum, {args.steps} training steps")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.output, dpi=100)
    return curves


if __name__ == "__main__":
    main()
