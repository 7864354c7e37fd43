"""A short data-parallel run for checking torchrun + gloo end to end.

    python -m torch.distributed.run --standalone --nproc_per_node=2 \\
        -m worldflux.training.ddp_smoke --out DIR [--plugin MODULE] [--model toy:ci]

Each rank initialises its model from a different seed (so only the trainer's broadcast can make
them agree), trains a few steps on its own batches, and writes to DIR its initial and final
weights (rank<r>.initial/final.safetensors) and rank<r>.json (losses, first batch checksum).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from worldflux.core.registry import create_world_model
from worldflux.datasets import load_dataset
from worldflux.training.config import TrainerConfig
from worldflux.training.seeding import seed_everything
from worldflux.training.trainer import Trainer


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


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
    )
    trainer = Trainer(model, config, data)
    probe = torch.Generator()
    probe.set_state(trainer.generator.get_state())
    first = data.sample(config.batch_size, config.seq_len, probe)
    result = trainer.fit()
    save_file(_weights(trainer.model), str(out / f"rank{rank}.final.safetensors"))
    report = {
        "rank": rank,
        "world_size": trainer.dist.world_size,
        "losses": [h["total"] for h in result.history],
        "first_batch_sum": float(first.obs.double().sum()),
    }
    (out / f"rank{rank}.json").write_text(json.dumps(report))
    trainer.close()


if __name__ == "__main__":
    main()
