"""Plan latency of CEM and MPPI, in process, per model: ms per plan and ms per action.

    python benchmarks/planner_bench.py                       # toy:ci and tdmpc2:5m, B = 1
    python benchmarks/planner_bench.py --models toy:ci --batch 1,8 --threads 1
    python benchmarks/planner_bench.py --models tdmpc2:5m --repeats 50 --device cuda
    ./pants run benchmarks/planner_bench.py -- --models toy:ci

MPPI runs with TD-MPC2's official settings (horizon 3, 6 iterations, 512 samples, 64 elites,
24 policy trajectories, temperature 0.5); CEM with the same horizon, iterations and sample
counts, so the two differ only in the update rule. Plans are closed-loop (each plan warm-starts
from the previous one), as a controller calls them. "ms/action" divides a plan's latency by
the B states it plans for: every plan yields one executed action per state. Models are
untrained (latency does not depend on the weights); the toy family comes from the test tree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

import worldflux.models.catalog  # noqa: F401  (registers the built-in families)
from worldflux.core import UnknownModelError, WorldModel, create_world_model
from worldflux.planners import InProcessDynamics, PlannerState, make_planner

# The single-task shape the paper's parameter counts use (obs 24, act 6).
MODEL_SHAPES: dict[str, dict[str, Any]] = {
    "toy:ci": {"obs_shape": (24,), "action_dim": 6},
    "tdmpc2:5m": {"obs_shape": (24,), "action_dim": 6},
}
MPPI_OFFICIAL: dict[str, Any] = {
    "horizon": 3,
    "iterations": 6,
    "num_samples": 512,
    "num_elites": 64,
    "num_pi_trajs": 24,
    "temperature": 0.5,
}
PLANNER_SETTINGS: dict[str, dict[str, Any]] = {
    "mppi": MPPI_OFFICIAL,
    "cem": {k: v for k, v in MPPI_OFFICIAL.items() if k != "temperature"},
}


@dataclass
class Row:
    model: str
    params: int
    planner: str
    batch: int
    device: str
    median_ms: float
    p90_ms: float
    mean_ms: float
    ms_per_action: float
    rollout_calls: int
    candidates_per_s: float


def build_model(model_id: str, device: str) -> WorldModel | None:
    if model_id.startswith("toy"):
        import plugin_family.toy_family  # noqa: F401  (registers "toy")
    shape = MODEL_SHAPES.get(model_id, {})
    try:
        return create_world_model(model_id, device=device, **shape)
    except UnknownModelError as err:
        print(f"# {model_id}: skipped ({err})", file=sys.stderr)
        return None


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench(
    model_id: str, model: WorldModel, planner_name: str, batch: int, args: argparse.Namespace
) -> Row:
    dynamics = InProcessDynamics(model)
    planner = make_planner(planner_name, seed=0, **PLANNER_SETTINGS[planner_name])
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(batch, *model.spec.observation.shape, generator=gen).to(args.device)
    state: PlannerState | None = None
    times, calls = [], 0
    for i in range(args.warmup + args.repeats):
        _sync(args.device)
        start = time.perf_counter()
        result = planner.plan(dynamics, obs, state=state)
        _sync(args.device)
        elapsed = (time.perf_counter() - start) * 1e3
        state = result.state
        calls = result.stats.rollout_calls
        if i >= args.warmup:
            times.append(elapsed)
    times.sort()
    median = statistics.median(times)
    candidates = batch * result.stats.candidates * result.stats.iterations
    return Row(
        model=model_id,
        params=model.num_parameters(),
        planner=planner_name,
        batch=batch,
        device=args.device,
        median_ms=median,
        p90_ms=times[min(len(times) - 1, int(0.9 * len(times)))],
        mean_ms=statistics.fmean(times),
        ms_per_action=median / batch,
        rollout_calls=calls,
        candidates_per_s=candidates / (median / 1e3),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="toy:ci,tdmpc2:5m")
    parser.add_argument("--planners", default="mppi,cem")
    parser.add_argument("--batch", default="1", help="comma-separated state batch sizes")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", default="", help="also write the rows to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"# planner latency, in process, device={args.device}, torch threads="
        f"{torch.get_num_threads()}, {args.repeats} closed-loop plans after {args.warmup} warm-up"
    )
    print(f"# MPPI official settings: {MPPI_OFFICIAL}")
    header = (
        f"{'model':<11} {'params':>10} {'planner':<7} {'B':>3} {'median ms':>10} {'p90 ms':>8} "
        f"{'ms/action':>10} {'rollouts':>8} {'cand/s':>10}"
    )
    print(header)
    rows: list[Row] = []
    for model_id in filter(None, args.models.split(",")):
        model = build_model(model_id, args.device)
        if model is None:
            continue
        for planner_name in filter(None, args.planners.split(",")):
            for batch in (int(b) for b in args.batch.split(",")):
                row = bench(model_id, model, planner_name, batch, args)
                rows.append(row)
                print(
                    f"{row.model:<11} {row.params:>10,} {row.planner:<7} {row.batch:>3} "
                    f"{row.median_ms:>10.2f} {row.p90_ms:>8.2f} {row.ms_per_action:>10.2f} "
                    f"{row.rollout_calls:>8} {row.candidates_per_s:>10,.0f}",
                    flush=True,
                )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([asdict(r) for r in rows], fh, indent=2)
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
