"""`wf-gate measure` in a real subprocess with spawned workers: killed with SIGKILL after its
first recorded run, then resumed with --append."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import plugin_family.toy_family  # noqa: F401  (Pants: the toy family travels with this test)

import wf_gate.cli  # noqa: F401  (Pants: the command line the subprocess runs)
import worldflux.gates.fakes_testutil  # noqa: F401  (and so does the slow backend)

CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
ARGS = [
    "measure",
    "--models=toy",
    "--seeds=0,1,2",
    "--steps=40",
    "--batch-size=4",
    "--seq-len=4",
    "--eval-batches=1",
    "--curve-points=2",
    "--checks=contract,save_load_parity",
    "--device=cpu",
    "--import=plugin_family.toy_family",
    "--import=worldflux.gates.fakes_testutil",
    "--backend=test-slow-loop",
    "--no-progress",
    "--threads-per-worker=1",
]


def run_wf_gate(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "wf_gate.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kill takes the workers too
    )


def recorded(path: Path) -> list[dict]:
    try:
        return json.loads(path.read_text())["runs"]
    except (FileNotFoundError, json.JSONDecodeError):
        return []


def test_killed_measurement_resumes_with_append_losing_nothing(tmp_path: Path) -> None:
    env = {**CHILD_ENV, "WORLDFLUX_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "seed_runs.json"
    proc = run_wf_gate(*ARGS, "--workers=1", f"--output={out}", env=env)
    deadline = time.monotonic() + 300
    try:
        while not recorded(out):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "no run recorded within 300 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = recorded(out)
    assert proc.returncode == -signal.SIGKILL
    assert 1 <= len(before) < 4, "the kill must land before the measurement finished"

    resumed = run_wf_gate(*ARGS, "--workers=1", f"--output={out}", "--append", env=env)
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output
    assert f"4 planned run(s), {len(before)} already recorded" in output
    after = recorded(out)
    ids = [r["run_id"] for r in after]
    assert sorted(ids) == sorted(
        ["toy:ci/seed0", "toy:ci/seed1", "toy:ci/seed2", "toy:ci/seed0/rerun"]
    )
    assert len(set(ids)) == len(ids)  # nothing duplicated
    for run in before:  # nothing lost, nothing redone (timings are unchanged)
        assert run in after
    assert all(r["status"] == "ok" for r in after)
    # Seed stability across processes: the rerun ran in another process than seed 0.
    summary = json.loads(out.read_text())["summary"]["toy:ci"]
    assert summary["gates"]["seed_stability"]["identical"] is True
