"""The gate image: its CLI runs, measures a tiny model, checks the gates, and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from . import podman

pytestmark = pytest.mark.usefixtures("images")


def writable_dir(path: Path) -> Path:
    """A host folder the image's non-root user can write (mounted at /work/reports)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o777)
    return path


def test_help_lists_the_subcommands() -> None:
    result = podman.run("gate", "--help")
    assert result.returncode == 0, result.stderr
    for command in ("measure", "merge", "check", "estimate", "report"):
        assert command in result.stdout


def test_version_names_the_cpu_torch() -> None:
    result = podman.run("gate", "version")
    assert result.returncode == 0, result.stderr
    assert "torch 2." in result.stdout and "+cpu" in result.stdout


def test_measure_then_check(tmp_path: Path) -> None:
    reports = writable_dir(tmp_path / "reports")
    # Read-only like the Kubernetes Jobs, with their environment: caches on the /tmp tmpfs.
    mount = [
        f"--volume={reports}:/work/reports:rw",
        *podman.HARDENED,
        "--env=WORLDFLUX_CACHE_DIR=/tmp/cache/worldflux",
        "--env=MPLCONFIGDIR=/tmp/matplotlib",
    ]
    measure = podman.run(
        "gate",
        "measure",
        "--models", "tdmpc2",
        "--seeds", "0",
        "--steps", "6",
        "--batch-size", "4",
        "--seq-len", "6",
        "--eval-batches", "1",
        "--curve-points", "2",
        "--no-rerun",
        "--workers", "0",
        "--no-progress",
        "--device", "cpu",
        "--output", "reports/seed_runs.json",
        options=mount,
        timeout=600,
    )  # fmt: skip
    assert measure.returncode == 0, measure.stdout + measure.stderr
    report = json.loads((reports / "seed_runs.json").read_text())
    runs = [run for run in report["runs"] if str(run.get("model", "")).startswith("tdmpc2")]
    assert [run["seed"] for run in runs] == [0], report
    assert runs[0]["status"] == "ok", runs[0]
    assert isinstance(runs[0]["final"]["total"], float), runs[0]["final"]
    check = podman.run("gate", "check", "--input", "reports/seed_runs.json", options=mount)
    # Six steps of one seed cannot meet the release gates (the same run outside the image fails the
    # common, family, action and planner gates; its reward skill is about -368 %): exactly exit 1,
    # a table naming the model, and a verdict that agrees with the exit status.
    assert check.returncode == 1, check.stdout + check.stderr
    assert "tdmpc2" in check.stdout
    assert "gate failure" in check.stdout and "all gates passed" not in check.stdout
    # A threshold no run can meet (a 99.9 % held-out loss drop): exit 1, saying which gate failed.
    strict = podman.run(
        "gate", "check", "--input", "reports/seed_runs.json", "--min-loss-drop", "0.999",
        options=mount,
    )  # fmt: skip
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "gate failure" in strict.stdout and "all gates passed" not in strict.stdout


def test_check_rejects_a_corrupt_report(tmp_path: Path) -> None:
    reports = writable_dir(tmp_path / "reports")
    (reports / "seed_runs.json").write_text('{"runs": [')
    os.chmod(reports / "seed_runs.json", 0o644)
    check = podman.run(
        "gate",
        "check",
        "--input",
        "reports/seed_runs.json",
        options=[f"--volume={reports}:/work/reports:ro"],
    )
    assert check.returncode == 2, check.stdout + check.stderr
    assert "seed_runs.json" in check.stdout + check.stderr


def test_sigterm_stops_the_cli_running_as_pid1() -> None:
    """wf-gate installs no SIGTERM handler; the image's start-up hook makes PID 1 exit on it."""
    long_run = ("measure", "--models", "tdmpc2", "--seeds", "0", "--steps", "100000",
                "--workers", "0", "--no-progress", "--device", "cpu",
                "--output", "/tmp/seed_runs.json")  # fmt: skip
    with podman.detached("gate", *long_run, stem="gate-sigterm") as name:
        time.sleep(3)  # inside start-up or training: either way SIGTERM must end it
        running = podman.podman("inspect", "--format", "{{.State.Status}}", name, check=True)
        assert running.stdout.strip() == "running", podman.podman("logs", name).stderr
        began = time.monotonic()
        podman.podman("stop", "-t", "60", name, timeout=120, check=True)
        took = time.monotonic() - began
        code = podman.podman("inspect", "--format", "{{.State.ExitCode}}", name, check=True)
    # 143 = 128 + SIGTERM from the hook; a SIGKILL after the grace period would read 137.
    assert code.stdout.strip() == "143"
    assert took < 60
