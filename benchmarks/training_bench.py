"""Trainer throughput on bundled data: steps per second, checkpoint and resume time.

    python benchmarks/training_bench.py                          # toy:ci on pendulum
    python benchmarks/training_bench.py --models toy:ci,dreamerv3:ci --dataset pendulum-pixels
    ./pants run benchmarks/training_bench.py -- --steps 200 --threads 1

steps/s counts optimizer steps only (sampling, loss, backward, clip, update); checkpoint
seconds is one full training checkpoint (model, optimizer, RNGs) written atomically; resume
seconds is building a new Trainer that restores it.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import plugin_family.toy_family  # noqa: F401  (the test tree's toy family, a cost floor)
import torch

import worldflux.models.catalog  # noqa: F401  (registers the built-in families)
from worldflux.core import create_world_model
from worldflux.datasets import load_dataset
from worldflux.training import Trainer, TrainerConfig, seed_everything


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="toy:ci")
    parser.add_argument("--dataset", default="pendulum")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    print(f"dataset {args.dataset}: {data.spec.num_steps} rows, torch threads {args.threads}")
    print(
        f"{'model':20} {'params':>10} {'steps/s':>9} {'ms/step':>9} {'ckpt s':>8} {'resume s':>9}"
    )
    for model_id in args.models.split(","):
        seed_everything(0)
        model = create_world_model(model_id, **data.spec.model_kwargs())
        with tempfile.TemporaryDirectory() as out:
            config = TrainerConfig(
                steps=args.steps,
                batch_size=args.batch,
                seq_len=args.seq_len,
                device=args.device,
                eval_batches=0,
                progress=False,
                tensorboard=False,
                output_dir=out,
                threads=args.threads,
            )
            trainer = Trainer(model, config, data)
            result = trainer.fit()
            start = time.perf_counter()
            trainer.save_checkpoint()
            checkpoint = time.perf_counter() - start
            start = time.perf_counter()
            resumed = Trainer(
                create_world_model(model_id, **data.spec.model_kwargs()), config, data
            )
            resume = time.perf_counter() - start
            assert resumed.step == args.steps
        rate = result.steps_per_second
        print(
            f"{model_id:20} {model.num_parameters():10d} {rate:9.1f} {1000 / rate:9.2f} "
            f"{checkpoint:8.3f} {resume:9.3f}"
        )


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
