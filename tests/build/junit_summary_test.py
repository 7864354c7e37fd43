"""build-support/junit_summary.py: counts of Pants' JUnit reports, exit status, last line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "build-support" / "junit_summary.py"
LAST_LINE = re.compile(r"^tests: (\d+) passed, (\d+) failed, (\d+) skipped$")


def case(name: str, child: str = "") -> str:
    return f'<testcase classname="pkg.mod_test" name="{name}" time="0.001">{child}</testcase>'


def report(*cases: str, root: str = "testsuites") -> str:
    suite = f'<testsuite name="pytest" tests="{len(cases)}">{"".join(cases)}</testsuite>'
    body = suite if root == "testsuite" else f'<testsuites name="pytest tests">{suite}</testsuites>'
    return f'<?xml version="1.0" encoding="utf-8"?>{body}'


PASSED = case("test_ok")
FAILED = case("test_bad", '<failure message="assert 1 == 2">trace</failure>')
ERRORED = case("test_fixture", '<error message="fixture broke">trace</error>')
SKIPPED = case("test_later", '<skipped type="pytest.skip" message="not yet" />')
XFAILED = case("test_known", '<skipped type="pytest.xfail" message="known bug" />')


def summarise(*args: str | Path) -> tuple[int, list[str]]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60
    )
    assert result.stderr == ""
    return result.returncode, result.stdout.splitlines()


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_all_passed(tmp_path: Path) -> None:
    write(tmp_path, "libs.pkg.mod_test.py.tests.xml", report(PASSED, PASSED, PASSED))
    write(tmp_path, "tools.x.cli_test.py.tests.xml", report(PASSED))
    rc, lines = summarise(tmp_path)
    assert rc == 0
    assert lines[-1] == "tests: 4 passed, 0 failed, 0 skipped"
    assert "  libs/pkg/mod_test.py:tests: 3 passed, 0 failed, 0 skipped" in lines
    assert "  tools/x/cli_test.py:tests: 1 passed, 0 failed, 0 skipped" in lines


def test_failures_errors_and_skips_are_counted(tmp_path: Path) -> None:
    write(tmp_path, "a.mod_test.py.tests.xml", report(PASSED, FAILED, SKIPPED, XFAILED))
    write(tmp_path, "b.other_test.py.tests.xml", report(ERRORED, PASSED, root="testsuite"))
    rc, lines = summarise(tmp_path)
    assert rc == 1
    assert lines[-1] == "tests: 2 passed, 2 failed, 2 skipped"


def test_only_skips_is_not_green(tmp_path: Path) -> None:
    write(tmp_path, "a.mod_test.py.tests.xml", report(SKIPPED))
    rc, lines = summarise(tmp_path)
    assert rc == 1
    assert lines[-1] == "tests: 0 passed, 0 failed, 1 skipped"


def test_no_reports_is_not_green_unless_allowed(tmp_path: Path) -> None:
    rc, lines = summarise(tmp_path / "missing")
    assert rc == 1
    assert lines[-1] == "tests: 0 passed, 0 failed, 0 skipped"
    rc, lines = summarise("--allow-empty", tmp_path / "missing")
    assert rc == 0
    assert lines[-1] == "tests: 0 passed, 0 failed, 0 skipped"


def test_allow_empty_does_not_hide_failures(tmp_path: Path) -> None:
    write(tmp_path, "a.mod_test.py.tests.xml", report(FAILED))
    rc, lines = summarise("--allow-empty", tmp_path)
    assert rc == 1
    assert lines[-1] == "tests: 0 passed, 1 failed, 0 skipped"


def test_invalid_report_counts_as_a_failure(tmp_path: Path) -> None:
    write(tmp_path, "a.mod_test.py.tests.xml", report(PASSED))
    write(tmp_path, "b.cut_test.py.tests.xml", report(PASSED)[:40])
    rc, lines = summarise(tmp_path)
    assert rc == 1
    assert lines[-1] == "tests: 1 passed, 1 failed, 0 skipped"
    assert any("not valid JUnit XML" in line for line in lines)


def test_files_and_nested_folders(tmp_path: Path) -> None:
    one = write(tmp_path / "x", "a.mod_test.py.tests.xml", report(PASSED))
    write(tmp_path / "y" / "deeper", "b.mod_test.py.tests.xml", report(PASSED, SKIPPED))
    rc, lines = summarise(one, tmp_path / "y")
    assert rc == 0
    assert lines[-1] == "tests: 2 passed, 0 failed, 1 skipped"


def test_last_line_has_the_exact_form(tmp_path: Path) -> None:
    write(tmp_path, "a.mod_test.py.tests.xml", report(PASSED, FAILED, SKIPPED))
    _, lines = summarise(tmp_path)
    match = LAST_LINE.match(lines[-1])
    assert match is not None, lines[-1]
    assert match.groups() == ("1", "1", "1")


def test_every_skip_is_printed_with_its_reason(tmp_path: Path) -> None:
    """CI must say why each test did not run: skips and xfails each get a line under their
    report, in order, with pytest's reason (taken from the element's text when there is no
    message attribute)."""
    from_text = case("test_text", '<skipped type="pytest.skip">/x.py:3: no openssl</skipped>')
    write(tmp_path, "a.mod_test.py.tests.xml", report(PASSED, SKIPPED, XFAILED, from_text))
    rc, lines = summarise(tmp_path)
    assert rc == 0
    assert lines == [
        "  a/mod_test.py:tests: 1 passed, 0 failed, 3 skipped",
        "    skipped: pkg.mod_test::test_later: not yet",
        "    skipped: pkg.mod_test::test_known: xfail: known bug",
        "    skipped: pkg.mod_test::test_text: /x.py:3: no openssl",
        "tests: 1 passed, 0 failed, 3 skipped",
    ]


def test_a_skip_without_a_reason_counts_as_a_failure(tmp_path: Path) -> None:
    silent = case("test_silent", '<skipped type="pytest.skip" message="" />')
    write(tmp_path, "a.mod_test.py.tests.xml", report(PASSED, silent))
    rc, lines = summarise(tmp_path)
    assert rc == 1
    assert "    skipped without a reason (counted as failed): pkg.mod_test::test_silent" in lines
    assert lines[-1] == "tests: 1 passed, 1 failed, 0 skipped"
