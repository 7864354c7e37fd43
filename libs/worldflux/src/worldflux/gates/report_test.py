import json
import math
from pathlib import Path

import jsonschema
import pytest

from worldflux.gates.fakes_testutil import make_record
from worldflux.gates.jobs import Shard
from worldflux.gates.report import Report, merge_reports, read_report, write_report
from worldflux.gates.schema import ReportError, report_schema, validate_report
from worldflux.gates.settings import GateSettings, MeasureSettings

SETTINGS = MeasureSettings(models=["tdmpc2:ci"], seeds=[0, 1], steps=100, batch_size=8, seq_len=8)


def full_report() -> Report:
    report = Report(SETTINGS)
    for seed in (0, 1):
        report.add(make_record(seed=seed, final=1.0 + seed / 10))
    report.add(make_record(seed=0, final=1.0, rerun=True))
    return report


def test_the_schema_is_valid_and_ships_with_the_package() -> None:
    jsonschema.Draft202012Validator.check_schema(report_schema())
    assert report_schema()["properties"]["schema_version"] == {"const": 3}


def test_round_trip_keeps_every_run_and_the_doc_field_names(tmp_path: Path) -> None:
    path = write_report(full_report(), tmp_path / "seed_runs.json")
    data = json.loads(path.read_text())
    block = data["summary"]["tdmpc2:ci"]
    assert block["success_rate"] == 1.0
    for name in ("ci_low", "ci_high", "pass"):
        assert name in block["gates"]["common"]
    assert block["gates"]["family"]["pass"] is True
    again = read_report(path)
    assert [r.run_id for r in again.ordered_runs()] == [
        "tdmpc2:ci/seed0",
        "tdmpc2:ci/seed1",
        "tdmpc2:ci/seed0/rerun",
    ]
    assert again.to_dict()["runs"] == data["runs"] and again.summary() == data["summary"]
    assert again.complete


def test_nonfinite_values_survive_json(tmp_path: Path) -> None:
    report = Report(SETTINGS)
    report.add(make_record(seed=0, final=math.nan))
    report.add(make_record(seed=1, final=math.inf))
    path = write_report(report, tmp_path / "r.json")
    text = path.read_text()
    assert '"nan"' in text and "NaN" not in text  # strict JSON
    again = read_report(path)
    finals = [again.runs[f"tdmpc2:ci/seed{seed}"].final for seed in (0, 1)]
    assert finals[0] is not None and math.isnan(finals[0].total)
    assert finals[1] is not None and finals[1].total == math.inf
    assert not again.summary()["tdmpc2:ci"]["gates"]["common"]["finite"]


def test_missing_truncated_and_invalid_reports_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="does not exist"):
        read_report(tmp_path / "nope.json")
    path = write_report(full_report(), tmp_path / "r.json")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ReportError, match="not valid JSON .*truncated"):
        read_report(path)
    data = json.loads(text)
    data["runs"][0]["seed"] = -3
    data["runs"][1]["status"] = "great"
    path.write_text(json.dumps(data))
    with pytest.raises(ReportError, match=r"\$\.runs\[0\]\.seed: -3 is less than the minimum"):
        read_report(path)
    data = json.loads(text)
    data["runs"].append(data["runs"][0])
    path.write_text(json.dumps(data))
    with pytest.raises(ReportError, match="tdmpc2:ci/seed0 is recorded twice"):
        read_report(path)


def test_schema_rejects_a_success_that_is_not_finite() -> None:
    data = full_report().to_dict()
    data["runs"][0]["finite"] = False
    with pytest.raises(ReportError, match=r"\$\.runs\[0\]\.finite"):
        validate_report(data)


def test_an_invalid_report_never_replaces_a_good_file(tmp_path: Path) -> None:
    path = write_report(full_report(), tmp_path / "r.json")
    before = path.read_bytes()
    bad = full_report()
    bad.runs["tdmpc2:ci/seed0"].batch_size = 0  # the schema demands >= 1
    with pytest.raises(ReportError):
        write_report(bad, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp file left behind


def test_shard_reports_plan_a_slice() -> None:
    report = Report(SETTINGS, shard=Shard(1, 2))
    assert report.planned_ids() == ["tdmpc2:ci/seed1"]
    assert report.missing_ids() == ["tdmpc2:ci/seed1"]


def test_merge_unions_runs_and_refuses_conflicts() -> None:
    a, b = Report(SETTINGS, shard=Shard(0, 2)), Report(SETTINGS, shard=Shard(1, 2))
    a.add(make_record(seed=0, final=1.0))
    a.add(make_record(seed=0, final=1.0, rerun=True))
    b.add(make_record(seed=1, final=1.1))
    b.add(make_record(seed=0, final=1.0, seconds=55.0))  # same measurement, other timing
    merged = merge_reports([a, b])
    assert merged.shard is None and merged.complete
    assert merged.summary() == full_report().summary()
    # Two seeds are not a verdict under the release policy; with min_seeds=2 every gate passes.
    assert merged.summary()["tdmpc2:ci"]["verdict"] == "insufficient evidence"
    assert not merged.summary()["tdmpc2:ci"]["gates"]["pass"]
    two_seeds = merged.with_gate_settings(GateSettings(min_seeds=2)).summary()["tdmpc2:ci"]
    assert two_seeds["gates"]["pass"] and two_seeds["verdict"] == "pass"
    b.runs["tdmpc2:ci/seed0"] = make_record(seed=0, final=1.3)
    with pytest.raises(ReportError, match="tdmpc2:ci/seed0 appears twice with different results"):
        merge_reports([a, b])


def test_merge_refuses_incompatible_settings() -> None:
    other = MeasureSettings(
        models=["tdmpc2:ci"], seeds=[2], steps=200, batch_size=8, seq_len=8, rerun_seed=None
    )
    with pytest.raises(ReportError, match="steps differs .100 vs 200."):
        merge_reports([Report(SETTINGS), Report(other)])
    with pytest.raises(ReportError, match="different gate settings"):
        merge_reports([Report(SETTINGS), Report(SETTINGS, GateSettings(min_loss_drop=0.2))])
    with pytest.raises(ReportError, match="nothing to merge"):
        merge_reports([])


def test_a_plugin_gate_kind_is_valid_in_reports_and_an_unknown_one_is_not() -> None:
    from worldflux.gates.kinds import GATE_KINDS, GateKind, register_gate_kind

    data = full_report().to_dict()
    data["runs"][0]["gate_kind"] = "my_plugin_kind"
    with pytest.raises(ReportError, match=r"\$\.runs\[0\]\.gate_kind"):
        validate_report(data)
    register_gate_kind(GateKind("my_plugin_kind", "anything", lambda run, settings: []))
    try:
        validate_report(data)  # registering the kind extends the schema
        assert "my_plugin_kind" in report_schema()["$defs"]["gate_kind"]["enum"]
    finally:
        GATE_KINDS.unregister("my_plugin_kind")
    with pytest.raises(ReportError, match=r"\$\.runs\[0\]\.gate_kind"):
        validate_report(data)
