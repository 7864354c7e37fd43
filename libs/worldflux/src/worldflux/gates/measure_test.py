"""Measurements of the toy family with the real Trainer, in this process (workers=0): append,
shards, merge.

The spawn-worker path and a real SIGKILL are exercised through the command line in
tools/gate/src/wf_gate/measure_cli_test.py.
"""

import json
from pathlib import Path
from typing import Any

import plugin_family.toy_family  # noqa: F401  (registers the "toy" family)
import pytest

import worldflux.gates.fakes_testutil  # noqa: F401  (Pants: the crashing backend)
from worldflux.gates.jobs import Shard
from worldflux.gates.measure import MeasureError, measure
from worldflux.gates.report import TIMING_FIELDS, merge_reports, read_report, write_report
from worldflux.gates.settings import GateSettings, MeasureSettings

BACKEND = None  # the library's own: bundled datasets and the generic Trainer
SETTINGS = MeasureSettings(
    models=["toy:ci"],
    seeds=[0, 1],
    steps=20,
    batch_size=4,
    seq_len=4,
    eval_batches=1,
    curve_points=2,
    datasets={"toy": "pendulum"},
    checks=["contract"],
)
TIMING_SUMMARY = ("seconds_total", "steps_per_second_mean", "peak_memory_bytes_max")


def run(output: Path, **kwargs: Any):
    return measure(
        SETTINGS, GateSettings(), output, workers=0, threads_per_worker=1, backend=BACKEND, **kwargs
    )


def untimed(data: dict) -> dict:
    runs = [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in data["runs"]]
    summary = {
        model: {k: v for k, v in block.items() if k not in TIMING_SUMMARY}
        for model, block in data["summary"].items()
    }
    return {"runs": runs, "summary": summary, "settings": data["settings"]}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def planned(self, total, done, jobs, steps) -> None:
        self.calls.append(("planned", total, done, len(jobs), steps))

    def started(self, run_id) -> None:
        self.calls.append(("started", run_id))

    def step(self, run_id, step, total) -> None:
        if step == total:
            self.calls.append(("last step", run_id))

    def finished(self, record, recorded) -> None:
        self.calls.append(("finished", record.run_id, recorded))


def test_shards_merged_equal_one_measurement(tmp_path: Path) -> None:
    whole = run(tmp_path / "whole.json")
    assert whole.complete and len(whole.runs) == 3
    parts = [run(tmp_path / f"part{i}.json", shard=Shard(i, 2)) for i in range(2)]
    assert [sorted(p.runs) for p in parts] == [
        ["toy:ci/seed0", "toy:ci/seed0/rerun"],
        ["toy:ci/seed1"],
    ]
    # A shard alone cannot judge seed stability: the run and its rerun may be apart.
    merged = merge_reports(read_report(tmp_path / f"part{i}.json") for i in range(2))
    write_report(merged, tmp_path / "merged.json")
    a = json.loads((tmp_path / "whole.json").read_text())
    b = json.loads((tmp_path / "merged.json").read_text())
    assert untimed(a) == untimed(b)
    stability = b["summary"]["toy:ci"]["gates"]["seed_stability"]
    assert stability["pass"] is True and stability["identical"] is True


def test_append_runs_only_what_is_missing_and_keeps_what_was_recorded(tmp_path: Path) -> None:
    out = tmp_path / "seed_runs.json"
    events = Recorder()
    run(out, events=events)
    assert events.calls[0] == ("planned", 3, 0, 3, 20)
    assert ("finished", "toy:ci/seed0/rerun", 3) in events.calls
    full = json.loads(out.read_text())
    # Interrupted after the first run: only seed 0 is on disk.
    partial = read_report(out)
    for rid in ("toy:ci/seed1", "toy:ci/seed0/rerun"):
        del partial.runs[rid]
    write_report(partial, out)
    events = Recorder()
    resumed = run(out, append=True, events=events)
    assert events.calls[0] == ("planned", 3, 1, 2, 20)
    assert [c[1] for c in events.calls if c[0] == "started"] == [
        "toy:ci/seed1",
        "toy:ci/seed0/rerun",
    ]
    data = json.loads(out.read_text())
    assert data["runs"][0] == full["runs"][0]  # timing included: seed 0 was not redone
    assert untimed(data) == untimed(full)
    assert resumed.complete
    # Appending to a complete report runs nothing.
    events = Recorder()
    run(out, append=True, events=events)
    assert events.calls == [("planned", 3, 3, 0, 20)]


def test_existing_reports_are_never_clobbered_by_accident(tmp_path: Path) -> None:
    out = tmp_path / "seed_runs.json"
    run(out, shard=Shard(1, 2))
    before = out.read_bytes()
    with pytest.raises(MeasureError, match="exists: pass --append to resume it, or --overwrite"):
        run(out, shard=Shard(1, 2))
    with pytest.raises(MeasureError, match="holds shard 1/2, not 0/2"):
        run(out, append=True, shard=Shard(0, 2))
    longer = MeasureSettings(**{**SETTINGS.to_dict(), "steps": 25})
    with pytest.raises(MeasureError, match=r"cannot append .*steps differs \(20 vs 25\)"):
        measure(
            longer, GateSettings(), out, append=True, workers=0, backend=BACKEND, shard=Shard(1, 2)
        )
    assert out.read_bytes() == before


def test_append_extends_the_seeds(tmp_path: Path) -> None:
    out = tmp_path / "seed_runs.json"
    one = MeasureSettings(**{**SETTINGS.to_dict(), "seeds": [0], "rerun_seed": None})
    measure(one, GateSettings(), out, workers=0, threads_per_worker=1, backend=BACKEND)
    recorded = json.loads(out.read_text())["runs"][0]
    more = MeasureSettings(**{**SETTINGS.to_dict(), "seeds": [0, 1], "rerun_seed": None})
    report = measure(
        more, GateSettings(), out, append=True, workers=0, threads_per_worker=1, backend=BACKEND
    )
    assert sorted(report.runs) == ["toy:ci/seed0", "toy:ci/seed1"]
    assert json.loads(out.read_text())["runs"][0] == recorded


def test_a_dying_worker_stops_the_measurement_and_keeps_finished_runs(tmp_path: Path) -> None:
    out = tmp_path / "seed_runs.json"
    with pytest.raises(MeasureError, match="a worker process died") as err:
        measure(
            SETTINGS,
            GateSettings(),
            out,
            workers=1,
            threads_per_worker=1,
            backend="test-crashing",
            imports=["worldflux.gates.fakes_testutil"],
        )
    assert "toy:ci/seed1" in str(err.value) and "rerun with --append" in str(err.value)
    assert sorted(read_report(out).runs) == ["toy:ci/seed0"]
