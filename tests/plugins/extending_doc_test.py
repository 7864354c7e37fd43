"""docs/content/extending.md, run as written: a family, a planner, a dataset and a gate join
from outside the tree through entry points, with no edit under libs/worldflux."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "content" / "extending.md"
BLOCK = re.compile(r"<!-- (file: (?P<path>\S+)|run) -->\n```\w*\n(?P<code>.*?)```", re.S)


def blocks() -> tuple[dict[str, str], str]:
    files, runs = {}, []
    for match in BLOCK.finditer(PAGE.read_text("utf-8")):
        if match["path"]:
            files[match["path"]] = match["code"]
        else:
            runs.append(match["code"])
    assert len(runs) == 1, "the page has one block to run"
    return files, runs[0]


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """The page's files in a scratch directory that also holds the .dist-info of a package."""
    files, _ = blocks()
    for relative, code in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
    dist = next(tmp_path.glob("*.dist-info"))
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: worldflux-extension-example\nVersion: 1.0\n"
    )
    return tmp_path


def run(code: str, path: Path) -> subprocess.CompletedProcess[str]:
    # Absolute: the child runs in `path`, and Pants puts relative source roots on sys.path.
    inherited = [os.path.abspath(p) for p in sys.path if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), *inherited])}
    env["WORLDFLUX_CACHE_DIR"] = str(path / "cache")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=path
    )


def test_the_page_names_every_axis() -> None:
    files, _ = blocks()
    assert {"linear_family/model.py", "random_shooting.py", "sine_dataset.py", "speed_gate.py"} <= (
        set(files)
    )


def test_the_usage_block_runs_against_the_installed_extension(installed: Path) -> None:
    _, usage = blocks()
    done = run(usage, installed)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines == ["trained 20 steps", "planned (5, 1, 1)", "gates training_speed"]


def test_the_extension_gate_is_judged_and_in_the_schema(installed: Path) -> None:
    code = """
from worldflux.gates import GATES, GateSettings, MeasureSettings, report_schema, summarize_model
from worldflux.gates.fakes_testutil import make_record

gates = report_schema()["$defs"]["model_summary"]["properties"]["gates"]
assert "training_speed" in gates["required"], gates["required"]
runs = [make_record("linear:ci", seed, 2.0, 1.0) for seed in range(5)]
for run in runs:
    run.steps_per_second = 3.0
measure = MeasureSettings(models=["linear:ci"], seeds=[0, 1, 2, 3, 4], rerun_seed=None)
block = summarize_model("linear:ci", runs, measure, GateSettings())
print(block["gates"]["training_speed"]["pass"], block["verdict"])
print(block["gates"]["training_speed"]["reasons"][0])
"""
    done = run(code, installed)
    assert done.returncode == 0, done.stderr[-3000:]
    verdict, reason = done.stdout.splitlines()
    assert verdict == "False fail"
    assert reason == "slowest seed trained at 3.0 steps/s (< 5.0)"


def test_without_the_entry_points_none_of_it_exists(tmp_path: Path) -> None:
    code = """
from worldflux import list_models, list_datasets, planner_names
from worldflux.gates import GATES
print("linear:ci" in list_models(), "sine" in list_datasets(),
      "random-shooting" in planner_names(), "training_speed" in GATES.names())
"""
    done = run(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False"] * 4


def test_a_plugin_cannot_take_a_built_in_name(installed: Path) -> None:
    code = """
from worldflux.core import ContractError
from worldflux.planners import register_planner
import random_shooting

class Impostor(random_shooting.RandomShootingPlanner):
    name = "mppi"

try:
    register_planner(Impostor)
except ContractError as err:
    print(err)
"""
    done = run(code, installed)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "planner 'mppi' is already registered" in done.stdout
