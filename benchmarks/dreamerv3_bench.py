"""DreamerV3 training throughput and peak memory per size, plus parameter counts vs the paper.

    python benchmarks/dreamerv3_bench.py                           # ci, size1m, size12m on pendulum
    python benchmarks/dreamerv3_bench.py --dataset pendulum-pixels --sizes ci,size1m
    python benchmarks/dreamerv3_bench.py --sizes size25m --batch-size 4 --seq-len 16 --steps 3
    ./pants run benchmarks/dreamerv3_bench.py -- --threads 2

What is measured:
- steps/s: optimizer steps of the generic Trainer (sample, loss with imagination, backward,
  AGC, LaProp, slow-critic update), after `--warmup-steps` untimed steps;
- peak memory: each size runs in a fresh process; "peak RSS" is that process's
  resource.getrusage(RUSAGE_SELF).ru_maxrss at the end, and "delta" is that peak minus the
  resident set (/proc/self/statm) measured after imports and data loading, before the model
  exists. tracemalloc is not used: it does not see torch's tensor allocations.
- parameter counts for every named size at 64x64x3 images and 18 discrete actions (the paper
  table's setting, slow critic included), counted on the meta device without allocating.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch


@dataclass
class Row:
    size: str
    dataset: str
    params: int
    batch: int
    seq_len: int
    steps: int
    steps_per_second: float
    ms_per_step: float
    baseline_rss_mb: float
    peak_rss_mb: float
    delta_rss_mb: float


def current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure(settings: dict[str, Any]) -> dict[str, Any]:
    """One size in this (fresh) process."""
    torch.set_num_threads(settings["threads"])
    import worldflux.models.catalog  # noqa: F401  (registers the built-in families)
    from worldflux.core import create_world_model
    from worldflux.datasets import load_dataset
    from worldflux.training import Trainer, TrainerConfig

    data = load_dataset(settings["dataset"])
    baseline = current_rss_mb()
    model = create_world_model(f"dreamerv3:{settings['size']}", **data.spec.model_kwargs())
    warmup, steps = settings["warmup_steps"], settings["steps"]
    config = TrainerConfig(
        steps=warmup + steps,
        batch_size=settings["batch_size"],
        seq_len=settings["seq_len"],
        device=settings["device"],
        eval_batches=0,
        progress=False,
        tensorboard=False,
        threads=settings["threads"],
    )
    trainer = Trainer(model, config, data)
    if warmup:
        trainer.fit(until=warmup)
    result = trainer.fit()
    rate = result.steps_per_second
    peak = peak_rss_mb()
    row = Row(
        size=settings["size"],
        dataset=settings["dataset"],
        params=model.num_parameters(),
        batch=settings["batch_size"],
        seq_len=settings["seq_len"],
        steps=steps,
        steps_per_second=rate,
        ms_per_step=1000.0 / rate if rate else float("nan"),
        baseline_rss_mb=baseline,
        peak_rss_mb=peak,
        delta_rss_mb=peak - baseline,
    )
    return asdict(row)


def parameter_table() -> list[tuple[str, int, float]]:
    from worldflux.models.dreamerv3 import PAPER_PARAMS, SIZES, DreamerV3Config, count_parameters

    rows = []
    for size, paper in PAPER_PARAMS.items():
        config = DreamerV3Config(
            **SIZES[size], obs_shape=(3, 64, 64), action_dim=18, action_kind="discrete"
        )
        total, _ = count_parameters(config)
        rows.append((size, total, paper))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="ci,size1m,size12m")
    parser.add_argument("--dataset", default="pendulum")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per size")
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--no-params", action="store_true", help="skip the parameter table")
    args = parser.parse_args(argv)

    if not args.no_params:
        print("parameters, 64x64x3 images, 18 discrete actions, slow critic included:")
        print(f"{'size':10} {'ours':>12} {'paper':>12} {'ratio':>7}")
        for size, total, paper in parameter_table():
            print(f"{size:10} {total / 1e6:11.2f}M {paper / 1e6:11.2f}M {total / paper:7.3f}")
        print()

    print(
        f"training on {args.dataset}, batch {args.batch_size} x {args.seq_len}, "
        f"{args.steps} timed steps after {args.warmup_steps} untimed, "
        f"torch threads {args.threads}, device {args.device}, one fresh process per size"
    )
    header = (
        f"{'size':10} {'params':>11} {'steps/s':>9} {'ms/step':>10} {'peak RSS':>10} {'delta':>9}"
    )
    print(header)
    rows = []
    context = mp.get_context("spawn")
    for size in args.sizes.split(","):
        settings = {
            "size": size,
            "dataset": args.dataset,
            "batch_size": args.batch_size,
            "seq_len": args.seq_len,
            "steps": args.steps,
            "warmup_steps": args.warmup_steps,
            "threads": args.threads,
            "device": args.device,
        }
        start = time.perf_counter()
        with context.Pool(1) as pool:
            row = pool.apply(measure, (settings,))
        rows.append(row)
        print(
            f"{size:10} {row['params']:11d} {row['steps_per_second']:9.3f} "
            f"{row['ms_per_step']:10.1f} {row['peak_rss_mb']:8.0f}MB {row['delta_rss_mb']:7.0f}MB"
            f"   ({time.perf_counter() - start:.0f} s wall)",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
