"""Checks a `--changed-since ... --changed-dependents=transitive` test selection against the graph.

    python3 build-support/affected_check.py --edited FILE --own-test ADDR --selected LIST --peek J

LIST is the output of `pants --changed-since=HEAD --changed-dependents=transitive
--filter-target-type=python_test list` after editing FILE; J is `pants peek ::` of the same tree
(every target with its resolved direct dependencies). The transitive closure is computed here, in
the forward direction, independently of Pants' dependents walk. Asserts:
  (a) ADDR (the edited file's own test target) is selected;
  (b) every selected target is a test that depends transitively on FILE, and every test that
      depends on FILE is selected (the selection is exact);
  (c) at least one test target that does not depend on FILE exists and was not selected.
Exit status 1 with the reasons when any assertion fails. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path


def dependency_graph(peek: Iterable[Mapping[str, object]]) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for target in peek:
        deps = target.get("dependencies") or []
        assert isinstance(deps, list)
        graph[str(target["address"])] = [str(d) for d in deps]
    return graph


def reaches(graph: Mapping[str, list[str]], start: str, goal: str) -> bool:
    """Whether `goal` is among the transitive dependencies of `start`."""
    seen: set[str] = set()
    stack = list(graph.get(start, []))
    while stack:
        address = stack.pop()
        if address == goal:
            return True
        if address not in seen:
            seen.add(address)
            stack.extend(graph.get(address, []))
    return False


def check(
    edited: str, own_test: str, selected: set[str], peek: list[Mapping[str, object]]
) -> tuple[list[str], list[str]]:
    """Returns (report lines, failures); the selection is right when failures is empty."""
    graph = dependency_graph(peek)
    tests = sorted(str(t["address"]) for t in peek if t.get("target_type") == "python_test")
    expected = {t for t in tests if reaches(graph, t, edited)}
    unaffected = [t for t in tests if t not in expected]
    failures: list[str] = []
    if edited not in graph:
        failures.append(f"{edited} is not a target in the peek output")
    if own_test not in selected:
        failures.append(f"(a) the edited file's own test {own_test} was not selected")
    for address in sorted(selected - set(tests)):
        failures.append(f"(b) selected {address} is not a python_test target")
    for address in sorted((selected & set(tests)) - expected):
        failures.append(f"(b) selected {address} does not depend on {edited}")
    for address in sorted(expected - selected):
        failures.append(f"(b) {address} depends on {edited} but was not selected")
    if not unaffected:
        failures.append(f"(c) every test depends on {edited}: the check proves nothing")
    lines = [f"selected ({len(selected)} of {len(tests)} test targets):"]
    lines += [f"  {a}" for a in sorted(selected)]
    lines.append(f"test targets not depending on {edited} ({len(unaffected)}):")
    lines += [f"  {a}" for a in unaffected]
    return lines, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edited", required=True, help="address of the edited file")
    parser.add_argument("--own-test", required=True, help="address of its own test target")
    parser.add_argument("--selected", required=True, type=Path, help="`pants list` output")
    parser.add_argument("--peek", required=True, type=Path, help="`pants peek ::` output")
    args = parser.parse_args(argv)

    selected = {line.strip() for line in args.selected.read_text().splitlines() if line.strip()}
    peek = json.loads(args.peek.read_text())
    lines, failures = check(args.edited, args.own_test, selected, peek)
    print("\n".join(lines))
    for failure in failures:
        print(f"FAIL {failure}")
    if failures:
        return 1
    print(f"affected-target selection is exact for an edit of {args.edited}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
