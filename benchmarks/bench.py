"""One entry point for the benchmarks: each subcommand runs one benchmark, prints its table and
writes its figures as JSON together with the machine they were measured on; `compare` prints
the ratio of every figure between two such files (a regression check, or another
implementation measured on the same machine).

    python benchmarks/bench.py plan   --json plan.json -- --models tdmpc2:5m --threads 1
    python benchmarks/bench.py train  --json train.json -- --sizes ci,5m --steps 10
    python benchmarks/bench.py imagine --json imagine.json
    python benchmarks/bench.py serve  --json serve.json -- --clients 1,4 --seconds 5
    python benchmarks/bench.py import --json import.json
    python benchmarks/bench.py gate   --json gate.json -- --models dreamerv3,tdmpc2 \\
        --seeds 0,1,2,3,4 --steps 5000 --workers 2
    python benchmarks/bench.py compare before.json after.json

Arguments after `--` go to the benchmark itself (its own --help lists them). `gate` times a real
`wf-gate measure` (the balanced scenario of the performance issue is the example above) and
records its measured steps/s per model.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch


def machine() -> dict[str, Any]:
    """What a figure depends on besides the code: CPU, cores, GPU, torch and its threads."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        ),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def rows_of(result: Any, section: str = "") -> list[dict[str, Any]]:
    """A benchmark's output as flat rows: lists of dicts stay rows; a dict's nested lists of
    dicts become rows tagged with their key (`section`); its scalars become one row."""
    if isinstance(result, list):
        return [{**({"section": section} if section else {}), **r} for r in result]
    if not isinstance(result, dict):
        return []
    rows: list[dict[str, Any]] = []
    scalars = {k: v for k, v in result.items() if not isinstance(v, list | dict)}
    for key, value in result.items():
        if isinstance(value, list | dict):
            rows += rows_of(value, f"{section}.{key}" if section else key)
    if scalars:
        rows.insert(0, {**({"section": section} if section else {}), **scalars})
    return rows


def _run_with_json(module: str, argv: list[str], preset: list[str] | None = None) -> Any:
    """Run a benchmark module's main() with --json into a temporary file and read it back."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        code = importlib.import_module(module).main([*(preset or []), *argv, "--json", str(out)])
        if not out.exists():
            raise SystemExit(f"{module} wrote no figures (exit code {code})")
        return json.loads(out.read_text())


def bench_import(argv: list[str]) -> list[dict[str, Any]]:
    """Cold `import worldflux` and the first family lookup, each in fresh interpreters."""
    parser = argparse.ArgumentParser(prog="bench.py import")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    probes = {
        "import worldflux": "import worldflux",
        "first family (tdmpc2:ci)": (
            "import worldflux; worldflux.create_world_model('tdmpc2:ci', obs_shape=(3,), "
            "action_dim=1)"
        ),
        "import torch (floor)": "import torch",
    }
    rows = []
    for name, code in probes.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=env)
            times.append(time.perf_counter() - start)
        rows.append({"probe": name, "median_s": statistics.median(times), "max_s": max(times)})
        print(f"{name:<28} median {rows[-1]['median_s']:.3f} s   max {rows[-1]['max_s']:.3f} s")
    return rows


def bench_gate(argv: list[str]) -> dict[str, Any]:
    """A real `wf-gate measure` timed end to end, with the steps/s of each recorded run."""
    from wf_gate.cli import main as wf_gate

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "seed_runs.json"
        start = time.perf_counter()
        code = wf_gate(["measure", *argv, "--no-progress", "--no-report", "--output", str(out)])
        wall = time.perf_counter() - start
        report = json.loads(out.read_text())
    runs = [
        {
            "model": r.get("model"),
            "seed": r.get("seed"),
            "rerun": r.get("rerun", False),
            "status": r.get("status"),
            "steps_per_second": r.get("steps_per_second"),
            "train_s": r.get("train_seconds"),
        }
        for r in report.get("runs", [])
    ]
    print(f"wf-gate measure {' '.join(argv)}: {wall:.1f} s wall, exit code {code}")
    return {"wall_s": wall, "exit_code": code, "args": " ".join(argv), "runs": runs}


BENCHMARKS: dict[str, Callable[[list[str]], Any]] = {
    "plan": lambda argv: _run_with_json("planner_bench", argv),
    "train": lambda argv: _run_with_json("tdmpc2_bench", argv, ["--modes", "train"]),
    "dreamer": lambda argv: _run_with_json("dreamerv3_bench", argv),
    "imagine": lambda argv: importlib.import_module("imagination_bench").main(argv),
    "serve": lambda argv: _run_with_json("services_bench", argv),
    "import": bench_import,
    "gate": bench_gate,
}


def _key(row: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """What identifies a row: its text fields and its integer settings (batch, seed...)."""
    return tuple(
        (k, v)
        for k, v in sorted(row.items())
        if isinstance(v, str | bool) or (isinstance(v, int) and k in SETTING_FIELDS)
    )


SETTING_FIELDS = {"batch", "seed", "clients", "threads", "steps", "horizon", "params"}


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Every numeric figure present in both files for the same row: B / A."""
    left = {_key(r): r for r in a["rows"]}
    ratios = []
    for row in b["rows"]:
        other = left.get(_key(row))
        if other is None:
            continue
        for field, value in row.items():
            base = other.get(field)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if not numeric or field in SETTING_FIELDS or not isinstance(base, int | float):
                continue
            ratio = value / base if base else math.nan
            label = " ".join(f"{v}" for _, v in _key(row))
            ratios.append({"row": label, "field": field, "a": base, "b": value, "b_over_a": ratio})
    return ratios


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, rest = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in BENCHMARKS:
        p = sub.add_parser(name)
        p.add_argument("--json", type=Path, help="write the figures and the machine here")
    p = sub.add_parser("compare", help="ratios B / A of every figure two result files share")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    args = parser.parse_args(own)
    if args.command == "compare":
        a, b = (json.loads(path.read_text()) for path in (args.a, args.b))
        for side, data in (("A", a), ("B", b)):
            m = data.get("machine", {})
            where = f"{m.get('cpu')} ({m.get('cores')} cores, gpu {m.get('gpu')})"
            print(f"{side}: {data.get('benchmark')} {data.get('created')} on {where}")
        ratios = compare(a, b)
        for r in ratios:
            print(f"{r['row']:<48} {r['field']:<18} {r['a']:>12.4g} {r['b']:>12.4g} "
                  f"{r['b_over_a']:>8.3f}x")  # fmt: skip
        return 0 if ratios else 1
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    result = BENCHMARKS[args.command](rest)
    record = {
        "benchmark": args.command,
        "created": started,
        "args": rest,
        "machine": machine(),
        "rows": rows_of(result),
    }
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
