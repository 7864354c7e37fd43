"""docs/content/extending.md, as written: a family, a planner, a dataset and a gate join from
outside the tree through entry points, with no edit under libs/worldflux. docs/code_blocks_test.py
runs the page's usage block against its files; this checks what the page claims beyond it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from doc_blocks import blocks

PAGE = "extending.md"


def files() -> dict[str, str]:
    return {b.file: b.code for b in blocks(PAGE) if b.file}


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """The page's files (its modules and the .dist-info of their package) in a scratch directory."""
    for relative, code in files().items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
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
    assert {
        "linear_family/model.py",
        "random_shooting.py",
        "sine_dataset.py",
        "speed_gate.py",
        "worldflux_extension_example-1.0.dist-info/entry_points.txt",
        "worldflux_extension_example-1.0.dist-info/METADATA",
    } <= set(files())


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
