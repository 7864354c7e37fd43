"""Generation time, size and sampling speed of every bundled dataset (seed 0).

    python benchmarks/datasets_bench.py                  # all datasets, both splits
    python benchmarks/datasets_bench.py --names pendulum,video --batch 16 --seq-len 64
    ./pants run benchmarks/datasets_bench.py -- --names cartpole

Generation bypasses the cache (the figure is what a first use costs); "load" reads the file
the generation just wrote; "sample ms" is one sample(batch, seq_len) call, median of repeats.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from worldflux.datasets import list_datasets, load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", default=",".join(list_datasets()))
    parser.add_argument("--splits", default="train,heldout")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    header = (
        f"{'dataset':16} {'split':8} {'episodes':>8} {'rows':>7} {'gen s':>7} "
        f"{'load s':>7} {'file MB':>8} {'sample ms':>10}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as cache:
        for name in args.names.split(","):
            for split in args.splits.split(","):
                start = time.perf_counter()
                data = load_dataset(name, split, cache_dir=cache)
                generate = time.perf_counter() - start
                start = time.perf_counter()
                load_dataset(name, split, cache_dir=cache)
                load = time.perf_counter() - start
                size = sum(p.stat().st_size for p in Path(cache).glob(f"{name}-{split}-*.npz"))
                generator = torch.Generator().manual_seed(0)
                times = []
                for _ in range(args.repeats):
                    tick = time.perf_counter()
                    data.sample(args.batch, args.seq_len, generator)
                    times.append(time.perf_counter() - tick)
                print(
                    f"{name:16} {split:8} {data.spec.num_episodes:8d} {data.spec.num_steps:7d} "
                    f"{generate:7.2f} {load:7.3f} {size / 1e6:8.2f} "
                    f"{1000 * statistics.median(times):10.2f}"
                )


if __name__ == "__main__":
    main()
