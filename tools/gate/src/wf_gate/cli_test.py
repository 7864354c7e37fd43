import json
from pathlib import Path

import plugin_family.toy_family  # noqa: F401  (registers the "toy" family)
import pytest
import torch

from wf_gate import models
from wf_gate.cli import main
from worldflux.gates import GateSettings, MeasureSettings, Report, write_report
from worldflux.gates.fakes_testutil import make_record
from worldflux.gates.jobs import Shard
from worldflux.gates.records import CheckResult

SETTINGS = MeasureSettings(models=["tdmpc2:ci"], seeds=[0, 1, 2, 3, 4], steps=100)


def write(path: Path, finals: list[float], **kwargs) -> Path:
    report = Report(SETTINGS, **kwargs)
    for seed, final in enumerate(finals):
        report.add(make_record(seed=seed, final=final))
    report.add(make_record(seed=0, final=finals[0], rerun=True))
    return write_report(report, path)


def test_version_prints_library_and_torch(capsys) -> None:
    assert main(["version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("worldflux ")
    assert torch.__version__ in out


def test_check_passes_a_good_report(tmp_path: Path, capsys) -> None:
    path = write(tmp_path / "r.json", [1.0, 1.02, 0.98, 1.0, 1.01])
    assert main(["check", "--input", str(path)]) == 0
    out = capsys.readouterr().out
    assert "all gates passed" in out and "100% (5/5)" in out
    assert "[1.00, 1.00]" in out and "[0.478, 1.000]" in out  # bootstrap vs exact


def test_check_exits_1_and_says_which_gate_and_why(tmp_path: Path, capsys) -> None:
    path = write(tmp_path / "r.json", [1.0, 1.0, 1.0, 1.95, 1.97])
    assert main(["check", "--input", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL tdmpc2:ci: common: success rate 3/5 = 60% is below 80%" in out
    assert (
        "FAIL tdmpc2:ci: common: seed 4: held-out loss drop 1.5% is below the 10% threshold" in out
    )
    # Loosening a threshold re-judges the same runs.
    assert main(["check", "--input", str(path), "--min-loss-drop=0.01", "--max-seed-cv=1"]) == 0


def test_check_fails_an_incomplete_shard(tmp_path: Path, capsys) -> None:
    report = Report(SETTINGS, shard=Shard(0, 2))
    report.add(make_record(seed=0))
    path = write_report(report, tmp_path / "shard.json")
    assert main(["check", "--input", str(path)]) == 1
    assert "incomplete: no record for seed(s) 2, 4" in capsys.readouterr().out


def test_bad_input_is_exit_2_with_the_reason(tmp_path: Path, capsys) -> None:
    assert main(["check", "--input", str(tmp_path / "missing.json")]) == 2
    assert "report file does not exist" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": 1, "runs": [')
    assert main(["check", "--input", str(broken)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["estimate", "--input", str(broken), "--workers", "x"])


def test_report_writes_markdown_and_plots(tmp_path: Path) -> None:
    path = write(tmp_path / "r.json", [1.0, 1.0, 1.0, 1.0, 1.9])
    assert main(["report", "--input", str(path)]) == 0
    text = (tmp_path / "summary.md").read_text()
    assert "| tdmpc2:ci | pendulum | 5/5 | 80% (4/5) | " in text
    assert "[0.284, 0.995]" in text
    assert "tdmpc2:ci: family (reference): 4/5 seeds meet" in text
    assert "![loss_curves](loss_curves.png)" in text
    for name in ("loss_curves", "success_rates"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in (tmp_path / f"{name}.svg").read_text()


def test_estimate_prints_each_scenario(tmp_path: Path, capsys) -> None:
    path = write(tmp_path / "r.json", [1.0] * 5)
    assert main(["estimate", "--input", str(path), "--scenarios", "5x5000,10x20000"]) == 0
    out = capsys.readouterr().out
    # make_record: 100 steps in 8 s -> 0.08 s/step; 5 x 5000 steps = 2000 s of training.
    assert "0.0800" in out and "33m20s" in out
    assert "5x5000: all models" in out and "10x20000: all models" in out
    assert main(["estimate", "--input", str(path), "--scenarios", "5y5"]) == 2


def test_merge_combines_shards(tmp_path: Path, capsys) -> None:
    paths = []
    for index in range(2):
        report = Report(SETTINGS, shard=Shard(index, 2))
        for job_id in report.planned_ids():
            seed = int(job_id.split("/seed")[1].split("/")[0])
            report.add(make_record(seed=seed, rerun=job_id.endswith("rerun")))
        paths.append(write_report(report, tmp_path / f"s{index}.json"))
    out = tmp_path / "merged.json"
    assert main(["merge", *map(str, paths), "--output", str(out)]) == 0
    assert "merged 2 report(s), 6 run(s)" in capsys.readouterr().out
    assert main(["check", "--input", str(out)]) == 0
    assert json.loads(out.read_text())["shard"] is None


def test_models_resolve_families_aliases_and_sizes() -> None:
    assert models.resolve_models(["toy"], "ci") == ["toy:ci"]
    assert models.resolve_models(["toy-wide"], "ci") == ["toy:ci"]  # alias names the family
    assert models.resolve_models(["toy:wide", "toy"], "ci") == ["toy:wide", "toy:ci"]
    with pytest.raises(KeyError, match="toy has no size 'huge'"):
        models.resolve_models(["toy"], "huge")
    with pytest.raises(KeyError, match="did you mean 'toy'"):
        models.resolve_models(["tyo"], "ci")
    assert models.datasets_for(["toy:ci"], {}) == {"toy": "pendulum"}
    assert models.datasets_for(["toy:ci"], models.parse_dataset_overrides(["toy=cartpole"])) == {
        "toy": "cartpole"
    }
    with pytest.raises(ValueError, match="FAMILY=DATASET"):
        models.parse_dataset_overrides(["toy"])
    assert models.parse_config_overrides(["toy-wide.hidden_dim=64", 'toy.size="x"']) == {
        "toy": {"hidden_dim": 64, "size": "x"}
    }
    with pytest.raises(ValueError, match="unknown toy config key 'hiden_dim'.*did you mean"):
        models.parse_config_overrides(["toy.hiden_dim=3"])
    with pytest.raises(ValueError, match="FAMILY.FIELD=VALUE"):
        models.parse_config_overrides(["toy=3"])
    assert models.resolve_device("cpu") == "cpu"
    assert models.resolve_device("auto") in ("cpu", "cuda")


def test_planner_failures_are_named(tmp_path: Path, capsys) -> None:
    report = Report(SETTINGS, GateSettings())
    for seed in range(5):
        record = make_record(seed=seed)
        if seed == 2:
            record.checks["planner"] = CheckResult(False, "ValueError: no objective")
        report.add(record)
    report.add(make_record(seed=0, rerun=True))
    path = write_report(report, tmp_path / "r.json")
    assert main(["check", "--input", str(path)]) == 1
    assert "FAIL tdmpc2:ci: planner: seed 2: ValueError: no objective" in capsys.readouterr().out


TINY = ["--steps=2", "--seeds=0", "--eval-batches=1", "--curve-points=1", "--checks=contract"]
TINY += ["--backend=worldflux.gates.fakes_testutil:LoopBackend", "--workers=0"]
TINY += ["--no-progress", "--no-rerun"]


def test_measure_writes_the_report_with_its_summary_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "a" / "seed_runs.json"
    assert main(["measure", "--models=toy", *TINY, f"--output={out}"]) == 0
    assert json.loads(out.read_text())["runs"][0]["run_id"] == "toy:ci/seed0"
    assert {"summary.md", "loss_curves.png", "loss_curves.svg"} <= {
        p.name for p in out.parent.iterdir()
    }
    quiet = tmp_path / "b" / "seed_runs.json"
    assert main(["measure", "--models=toy", *TINY, f"--output={quiet}", "--no-report"]) == 0
    assert [p.name for p in quiet.parent.iterdir()] == ["seed_runs.json"]


def test_demo_measures_reports_and_records_its_short_run_config(tmp_path: Path, capsys) -> None:
    args = [*TINY, f"--output-dir={tmp_path}"]
    code = main(["demo", "--models=dreamer,toy", *args])
    out = capsys.readouterr().out
    assert code in (0, 1), out  # two steps need not pass the gates; the verdict is printed
    assert "all gates passed" in out or "FAIL" in out
    assert out.count("quality gates") == 1  # the summary table once, not again by the check
    report = json.loads((tmp_path / "seed_runs.json").read_text())
    assert report["settings"]["overrides"] == {"dreamerv3": {"lr": 3e-4, "warmup": 0}}
    assert (
        "Config overrides for dreamerv3: `lr=0.0003`, `warmup=0`"
        in (tmp_path / "summary.md").read_text()
    )
    # Only for the families measured.
    assert main(["demo", "--models=toy", *args]) in (0, 1)
    assert json.loads((tmp_path / "seed_runs.json").read_text())["settings"]["overrides"] == {}
