"""Summarise the JUnit XML reports that `pants test` writes (pants.toml: [test] report = true).

    python3 build-support/junit_summary.py [--allow-empty] dist/test/reports [more dirs or files]

Prints one line per report (the Pants target it came from and its counts), under it one line per
skipped test case with its reason (`skipped: module::test: reason`, xfails included), then, as the
last line, exactly `tests: N passed, M failed, K skipped`. A test case counts as failed when it has
a <failure> or an <error> child (pytest writes collection and fixture errors as <error>), and when
it was skipped without a reason (a skip nobody can explain must not pass silently); a report that
is not valid XML counts as one failure. Exit status 1 when M > 0, or when N == 0 unless
--allow-empty is given (a run that executed no test must not look green). Standard library only.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, other: Counts) -> None:
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped

    def line(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def skip_reason(skipped: ElementTree.Element) -> str:
    """The reason pytest wrote for a skip: the message attribute, else the element's text."""
    message = (skipped.get("message") or "").strip()
    if not message:
        message = (skipped.text or "").strip()
    kind = skipped.get("type") or ""
    if message and kind == "pytest.xfail" and not message.startswith("xfail"):
        message = f"xfail: {message}"
    return message


def count_report(path: Path) -> tuple[Counts, list[str]]:
    """Counts of one JUnit XML file (root <testsuites> or <testsuite>), and one line per skip."""
    counts = Counts()
    skips: list[str] = []
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        print(f"  {path}: not valid JUnit XML ({exc}); counted as 1 failure")
        counts.failed = 1
        return counts, skips
    for case in root.iter("testcase"):
        skipped = case.find("skipped")
        if case.find("failure") is not None or case.find("error") is not None:
            counts.failed += 1
        elif skipped is not None:
            name = f"{case.get('classname', '?')}::{case.get('name', '?')}"
            reason = skip_reason(skipped)
            if reason:
                counts.skipped += 1
                skips.append(f"    skipped: {name}: {reason}")
            else:
                counts.failed += 1
                skips.append(f"    skipped without a reason (counted as failed): {name}")
        else:
            counts.passed += 1
    return counts, skips


def report_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.rglob("*.xml")))
        elif path.is_file():
            files.append(path)
    return files


def target_name(path: Path) -> str:
    """Pants names a report after its target: a.b.c_test.py.tests.xml -> a/b/c_test.py:tests."""
    stem = path.name.removesuffix(".xml")
    head, sep, name = stem.rpartition(".py.")
    if not sep:
        return stem
    return head.replace(".", "/") + ".py:" + name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="report files or folders of them")
    parser.add_argument("--allow-empty", action="store_true", help="exit 0 when no test passed")
    args = parser.parse_args(argv)

    total = Counts()
    files = report_files(args.paths)
    for path in files:
        counts, skips = count_report(path)
        total.add(counts)
        print(f"  {target_name(path)}: {counts.line()}")
        for line in skips:
            print(line)
    empty = total.passed == 0 and not args.allow_empty
    if empty:
        where = ", ".join(str(p) for p in args.paths)
        print(f"  no test passed ({len(files)} report(s) under {where})")
    print(f"tests: {total.line()}")
    return 1 if total.failed > 0 or empty else 0


if __name__ == "__main__":
    sys.exit(main())
