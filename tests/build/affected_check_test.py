"""build-support/affected_check.py: a test selection is checked against the dependency graph."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "build-support" / "affected_check.py"
EDITED = "libs/w/rpc/codec.py"
OWN = "libs/w/rpc/codec_test.py:tests"
VIA_GENERATOR = "services/d/main_test.py:tests"
UNRELATED = "tools/g/cli_test.py:tests"


def load() -> Any:
    spec = importlib.util.spec_from_file_location("affected_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


affected_check = load()


def target(address: str, target_type: str, *deps: str) -> dict[str, Any]:
    return {"address": address, "target_type": target_type, "dependencies": list(deps)}


# codec_test -> codec.py -> tensor.proto; main_test -> main.py -> rpc (generator) -> codec.py;
# cli_test -> cli.py -> __init__.py (no path to codec.py).
PEEK = [
    target("libs/w/__init__.py", "python_source"),
    target(EDITED, "python_source", "proto/w/tensor.proto", "3rdparty/python:reqs#torch"),
    target("proto/w/tensor.proto", "protobuf_source"),
    target("3rdparty/python:reqs#torch", "python_requirement"),
    target("libs/w/rpc:rpc", "python_sources", EDITED),
    target(OWN, "python_test", EDITED),
    target("libs/w/rpc:tests", "python_tests", OWN),
    target("services/d/main.py", "python_source", "libs/w/rpc:rpc"),
    target(VIA_GENERATOR, "python_test", "services/d/main.py"),
    target("tools/g/cli.py", "python_source", "libs/w/__init__.py"),
    target(UNRELATED, "python_test", "tools/g/cli.py"),
]


def failures(selected: set[str], peek: list[dict[str, Any]] = PEEK) -> list[str]:
    _, found = affected_check.check(EDITED, OWN, selected, peek)
    return list(found)


def test_exact_selection_passes() -> None:
    assert failures({OWN, VIA_GENERATOR}) == []


def test_own_test_missing_fails() -> None:
    found = failures({VIA_GENERATOR})
    assert any(f.startswith("(a)") for f in found)
    assert any(OWN in f and "was not selected" in f for f in found)


def test_unrelated_test_selected_fails() -> None:
    found = failures({OWN, VIA_GENERATOR, UNRELATED})
    assert found == [f"(b) selected {UNRELATED} does not depend on {EDITED}"]


def test_transitive_dependent_missing_fails() -> None:
    found = failures({OWN})
    assert found == [f"(b) {VIA_GENERATOR} depends on {EDITED} but was not selected"]


def test_selected_non_test_fails() -> None:
    found = failures({OWN, VIA_GENERATOR, "services/d/main.py"})
    assert found == ["(b) selected services/d/main.py is not a python_test target"]


def test_proves_nothing_when_every_test_depends_on_the_file() -> None:
    peek = [t for t in PEEK if t["address"] != UNRELATED]
    found = failures({OWN, VIA_GENERATOR}, peek)
    assert any(f.startswith("(c)") for f in found)


def test_cycles_terminate() -> None:
    peek = [*PEEK, target("a.py", "python_source", "b.py"), target("b.py", "python_source", "a.py")]
    peek.append(target("c_test.py:tests", "python_test", "a.py"))
    assert failures({OWN, VIA_GENERATOR}, peek) == []


@pytest.mark.parametrize(
    ("selected", "rc"), [([OWN, VIA_GENERATOR], 0), ([OWN, VIA_GENERATOR, UNRELATED], 1)]
)
def test_command_line(tmp_path: Path, selected: list[str], rc: int) -> None:
    (tmp_path / "selected.txt").write_text("\n".join(selected) + "\n")
    (tmp_path / "peek.json").write_text(json.dumps(PEEK))
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--edited", EDITED, "--own-test", OWN,
         "--selected", str(tmp_path / "selected.txt"), "--peek", str(tmp_path / "peek.json")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == rc, result.stdout + result.stderr
    assert f"selected ({len(selected)} of 3 test targets):" in result.stdout
