"""Print the images' sizes and the services' start-up times (podman run -> SERVING health).

    python3 tests/containers/metrics.py [--runs N] [--json PATH]

Run by build-support/test-images.sh after the smoke tests, with the same podman environment.
Start-up is timed from `podman run` until a gRPC health check from a separate container answers
SERVING, so it includes the container start, the interpreter, importing torch and building the
model; the median of N runs is reported with the spread. Standard library only (plus podman.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `containers.podman` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from containers import podman

DYNAMICS = ("--model", "tdmpc2:ci", "--obs-shape", "3", "--action-dim", "1", "--seed", "0")


def image_sizes() -> dict[str, int]:
    sizes = {}
    for name in podman.IMAGES:
        out = podman.podman("image", "inspect", "--format", "{{.Size}}", podman.image(name),
                            check=True)  # fmt: skip
        sizes[name] = int(out.stdout.strip())
    return sizes


def startup_seconds(runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"dynamics": [], "planner": []}
    for _ in range(runs):
        with podman.server("dynamics", *DYNAMICS, stem="metrics-dynamics") as dynamics:
            times["dynamics"].append(dynamics.wait_serving())
            with podman.server(
                "planner", "--dynamics", dynamics.target, stem="metrics-planner"
            ) as planner:
                times["planner"].append(planner.wait_serving())
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    reason = podman.why_unavailable()
    if reason is not None:
        print(f"metrics: {reason}", file=sys.stderr)
        return 1
    sizes = image_sizes()
    base = podman.podman("image", "inspect", "--format", "{{.Size}}",
                         "localhost/debian-python:bookworm")  # fmt: skip
    for name, size in sizes.items():
        print(f"image {podman.image(name)}: {size / 1e6:.0f} MB")
    if base.returncode == 0:
        print(f"  (of which the base image localhost/debian-python:bookworm: "
              f"{int(base.stdout.strip()) / 1e6:.0f} MB)")  # fmt: skip
    times = startup_seconds(args.runs)
    for name, values in times.items():
        print(
            f"start-up {name} (podman run -> SERVING, {len(values)} runs): median "
            f"{statistics.median(values):.1f} s, min {min(values):.1f} s, max {max(values):.1f} s"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"size_bytes": sizes, "startup_s": times}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
