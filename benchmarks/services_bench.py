"""Planner and dynamics as services on loopback vs planning in process; throughput under load.

    python benchmarks/services_bench.py                          # tdmpc2:5m, MPPI defaults
    python benchmarks/services_bench.py --clients 1,4,8 --seconds 10 --json out.json

1. Latency: the same plan (tdmpc2:5m, obs 24 / action 6, MPPI with TD-MPC2's defaults: horizon
   3, 6 iterations, 512 samples, 64 elites, 24 policy trajectories) made in this process over
   InProcessDynamics, and made by a wf-planner process over a wf-dynamics process through gRPC
   on 127.0.0.1 (client -> planner -> dynamics: one Encode, one Propose, six Rollout RPCs per
   plan). Target: the network path costs at most 20% more. Both sides plan one state without
   warm start (unary Plan), after warm-up, and report the median of `--repeats` plans.
   A near-free model (toy:ci from the test tree) planned the same way shows the network path's
   own cost in milliseconds, which the big model's figure hides inside its compute time.
2. Throughput: N parallel clients call Plan for `--seconds` each; plans/s, p50/p99 latency and
   the number of errors (which must be zero).
3. Replicas (`--replicas 1,2`): R wf-dynamics processes behind one wf-planner (round robin),
   loaded by `--replica-clients` clients; plans/s per R and its ratio to one replica. Each
   process has `--threads` torch threads, so R replicas can use R cores: the ratio shows how
   serving scales out (on the 2-core development machine, up to 2 replicas).

The services are started as subprocesses of this interpreter with this import path, so the
script runs in the dev venv (`build-support/dev-env.sh`) or through `./pants run`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from wf_planner.client import PlannerClient
from worldflux.core import create_world_model
from worldflux.planners import InProcessDynamics, MPPIConfig, make_planner

TARGET_OVERHEAD = 0.20


@dataclass
class LatencyRow:
    path: str
    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int


@dataclass
class LoadRow:
    clients: int
    seconds: float
    plans: int
    errors: int
    plans_per_s: float
    p50_ms: float
    p99_ms: float


class ServiceProcess:
    """A service run as `python -m MODULE ... --port 0`; ready once it prints its ready line."""

    def __init__(self, module: str, args: list[str], threads: int) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            "OMP_NUM_THREADS": str(threads),
        }
        self.log = tempfile.TemporaryFile("w+")  # (closed in stop)
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0", "--log-level", "WARNING", *args],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        lines: queue.Queue[str] = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None

        def pump() -> None:
            for line in stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 300
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise TimeoutError(f"{module} did not start") from None
            if line.startswith('{"event": "serving"'):
                self.port = int(json.loads(line)["port"])
                # Cold start: process launch to the ready line (imports, model build, bind).
                self.cold_start_s = time.perf_counter() - started
                return

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency_row(path: str, seconds: list[float]) -> LatencyRow:
    ms = [s * 1e3 for s in seconds]
    return LatencyRow(
        path, statistics.median(ms), percentile(ms, 0.1), percentile(ms, 0.9), len(ms)
    )


def load(target: str, obs: torch.Tensor, clients: int, seconds: float) -> LoadRow:
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def run() -> None:
        with PlannerClient(target) as client:
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                try:
                    client.plan(obs, timeout_s=60)
                except Exception as err:  # (counted and reported)
                    with lock:
                        errors.append(err)
                    continue
                with lock:
                    latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    workers = [threading.Thread(target=run) for _ in range(clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    ms = [s * 1e3 for s in latencies] or [float("nan")]
    if errors:
        print(f"  {len(errors)} errors, first: {errors[0]}", file=sys.stderr)
    return LoadRow(
        clients,
        round(elapsed, 2),
        len(latencies),
        len(errors),
        len(latencies) / elapsed,
        statistics.median(ms),
        percentile(ms, 0.99),
    )


@dataclass
class ReplicaRow:
    replicas: int
    clients: int
    plans_per_s: float
    p50_ms: float
    errors: int
    vs_one_replica: float


def replica_scaling(args: argparse.Namespace, obs: torch.Tensor) -> list[ReplicaRow]:
    """plans/s of one planner over R dynamics replicas, for each R in --replicas."""
    flags = ["--obs-shape", str(args.obs_dim), "--action-dim", str(args.action_dim)]
    rows: list[ReplicaRow] = []
    for count in [int(r) for r in args.replicas.split(",") if r]:
        replicas = [
            ServiceProcess("wf_dynamics.main", ["--model", args.model, *flags], args.threads)
            for _ in range(count)
        ]
        targets = [arg for r in replicas for arg in ("--dynamics", f"127.0.0.1:{r.port}")]
        plan = ServiceProcess("wf_planner.main", [*targets, "--planner", "mppi"], args.threads)
        try:
            with PlannerClient(f"127.0.0.1:{plan.port}") as client:
                client.plan(obs)  # warm every replica's first call path before timing
                client.plan(obs)
            row = load(f"127.0.0.1:{plan.port}", obs, args.replica_clients, args.seconds)
        finally:
            plan.stop()
            for r in replicas:
                r.stop()
        first = rows[0].plans_per_s if rows else row.plans_per_s
        rows.append(
            ReplicaRow(
                count,
                row.clients,
                row.plans_per_s,
                row.p50_ms,
                row.errors,
                row.plans_per_s / first if first else float("nan"),
            )
        )
        print(
            f"  {count} replica(s), {row.clients} clients: {row.plans_per_s:7.2f} plans/s"
            f"   p50 {row.p50_ms:9.2f} ms   errors {row.errors}"
            f"   x{rows[-1].vs_one_replica:.2f} of one replica",
            flush=True,
        )
    return rows


def compare(
    model_id: str, plugin: str | None, args: argparse.Namespace
) -> tuple[LatencyRow, LatencyRow, int, ServiceProcess, ServiceProcess]:
    """Median plan latency in process and through the services, interleaved plan by plan so
    that drifting machine load hits both paths alike. Returns the running services too."""
    flags = ["--obs-shape", str(args.obs_dim), "--action-dim", str(args.action_dim)]
    if plugin:
        importlib.import_module(plugin)
        flags += ["--plugin", plugin]
    torch.manual_seed(0)  # the same weights as the service's --seed 0
    model = create_world_model(model_id, obs_shape=(args.obs_dim,), action_dim=args.action_dim)
    planner = make_planner("mppi", seed=0)
    dynamics = InProcessDynamics(model)
    obs = torch.randn(1, args.obs_dim, generator=torch.Generator().manual_seed(0))
    dyn = ServiceProcess("wf_dynamics.main", ["--model", model_id, *flags], args.threads)
    plan = ServiceProcess(
        "wf_planner.main",
        ["--dynamics", f"127.0.0.1:{dyn.port}", "--planner", "mppi"],
        args.threads,
    )
    print(
        f"\n{model_id}: cold start (launch to ready line) dynamics {dyn.cold_start_s:.2f} s, "
        f"planner {plan.cold_start_s:.2f} s"
    )
    local_s: list[float] = []
    remote_s: list[float] = []
    with PlannerClient(f"127.0.0.1:{plan.port}") as client:
        for _ in range(args.warmup):
            planner.plan(dynamics, obs)
            client.plan(obs)
        for _ in range(args.repeats):
            start = time.perf_counter()
            planner.plan(dynamics, obs)
            local_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            _, stats = client.plan(obs)
            remote_s.append(time.perf_counter() - start)
    print(
        f"{model_id}: {model.num_parameters() / 1e6:.3f}M parameters, plan latency "
        f"(B=1, MPPI defaults, {stats.rollout_calls} Rollout + 1 Encode + 1 Propose RPCs)"
    )
    local, remote = latency_row("in-process", local_s), latency_row("services", remote_s)
    for row in (local, remote):
        print(
            f"  {row.path:<11} median {row.median_ms:9.2f} ms   p10 {row.p10_ms:9.2f}"
            f"   p90 {row.p90_ms:9.2f}   n={row.repeats}"
        )
    print(
        f"  network path adds {remote.median_ms - local.median_ms:+.2f} ms "
        f"({(remote.median_ms / local.median_ms - 1) * 100:+.1f}%)"
    )
    return local, remote, stats.rollout_calls, dyn, plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model", default="tdmpc2:5m")
    parser.add_argument("--obs-dim", type=int, default=24)
    parser.add_argument("--action-dim", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--clients", default="1,2,4,8", help="comma-separated client counts")
    parser.add_argument("--seconds", type=float, default=8.0, help="per client count")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads in this process and in each service (1: the services and this "
        "process share the cores without oversubscribing them)",
    )
    parser.add_argument(
        "--floor-model",
        default="toy:ci",
        help="a near-free model whose plans measure the network path's own cost ('' to skip)",
    )
    parser.add_argument("--floor-plugin", default="plugin_family.toy_family")
    parser.add_argument("--replicas", default="1,2", help="replica counts to compare ('' skips)")
    parser.add_argument("--replica-clients", type=int, default=4, help="clients per replica row")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import worldflux.models.catalog  # noqa: F401  (the built-in families)

    print(f"torch threads {args.threads}; MPPI defaults {MPPIConfig()}")
    results: dict[str, Any] = {"model": args.model, "threads": args.threads}
    if args.floor_model:
        try:
            local, remote, _, dyn, plan = compare(args.floor_model, args.floor_plugin, args)
        except ModuleNotFoundError as err:
            print(f"\n(skipping the floor model: {err})")
        else:
            plan.stop()
            dyn.stop()
            results["floor"] = {
                "model": args.floor_model,
                "latency": [asdict(local), asdict(remote)],
            }
    local, remote, _, dyn, plan = compare(args.model, None, args)
    results["cold_start_s"] = {"dynamics": dyn.cold_start_s, "planner": plan.cold_start_s}
    overhead = remote.median_ms / local.median_ms - 1
    verdict = "PASS" if overhead <= TARGET_OVERHEAD else "FAIL"
    print(f"  target: network path <= {TARGET_OVERHEAD * 100:.0f}% over in-process: {verdict}")
    rows = []
    try:
        obs = torch.randn(1, args.obs_dim, generator=torch.Generator().manual_seed(0))
        print(f"\nthroughput ({args.seconds:.0f} s per row, zero errors required)")
        for clients in [int(c) for c in args.clients.split(",") if c]:
            row = load(f"127.0.0.1:{plan.port}", obs, clients, args.seconds)
            rows.append(row)
            print(
                f"  {row.clients:>2} clients: {row.plans:5d} plans  {row.plans_per_s:7.2f}/s"
                f"   p50 {row.p50_ms:9.2f} ms   p99 {row.p99_ms:9.2f} ms   errors {row.errors}"
            )
    finally:
        plan.stop()
        dyn.stop()
    replica_rows: list[ReplicaRow] = []
    if args.replicas:
        print(f"\nreplicas ({args.replica_clients} clients, {args.seconds:.0f} s per row)")
        replica_rows = replica_scaling(args, obs)
    results.update(
        replicas=[asdict(r) for r in replica_rows],
        latency=[asdict(local), asdict(remote)],
        overhead=overhead,
        target_overhead=TARGET_OVERHEAD,
        load=[asdict(r) for r in rows],
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    errors = any(r.errors for r in rows) or any(r.errors for r in replica_rows)
    return 0 if overhead <= TARGET_OVERHEAD and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
