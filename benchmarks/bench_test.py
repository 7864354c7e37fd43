"""The benchmarks' entry point: result files carry the machine, and `compare` matches rows by
their identifying fields and divides every shared figure."""

import json
from pathlib import Path

import pytest
from bench import compare, machine, main, rows_of


def test_rows_flatten_nested_results_and_keep_their_section() -> None:
    result = {"model": "m", "overhead": 0.1, "latency": [{"path": "local", "median_ms": 2.0}]}
    rows = rows_of(result)
    assert rows[0] == {"model": "m", "overhead": 0.1}
    assert rows[1] == {"section": "latency", "path": "local", "median_ms": 2.0}
    assert rows_of([{"a": 1}]) == [{"a": 1}]


def test_compare_divides_figures_of_matching_rows_only() -> None:
    a = {"rows": [{"model": "x", "batch": 1, "median_ms": 10.0}, {"model": "y", "median_ms": 1.0}]}
    b = {"rows": [{"model": "x", "batch": 1, "median_ms": 5.0}, {"model": "x", "batch": 8,
                                                                  "median_ms": 99.0}]}  # fmt: skip
    ratios = compare(a, b)
    assert [(r["field"], r["a"], r["b"], r["b_over_a"]) for r in ratios] == [
        ("median_ms", 10.0, 5.0, 0.5)
    ]  # batch 8 has no counterpart in A, y none in B, and batch is a setting, not a figure


def test_machine_facts_are_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    facts = machine()
    assert facts["cores"] >= 1 and facts["torch"] and "cpu" in facts
    for name, ms in (("a.json", 4.0), ("b.json", 3.0)):
        (tmp_path / name).write_text(json.dumps({"benchmark": "plan", "machine": facts,
                                                  "rows": [{"model": "x", "ms": ms}]}))  # fmt: skip
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    assert "0.750x" in capsys.readouterr().out
    (tmp_path / "c.json").write_text(json.dumps({"rows": [{"model": "z", "ms": 1.0}]}))
    assert (
        main(["compare", str(tmp_path / "a.json"), str(tmp_path / "c.json")]) == 1
    )  # nothing shared
