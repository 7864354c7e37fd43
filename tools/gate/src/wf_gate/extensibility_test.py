"""The extensibility check passes a variant added beside the library and fails a planted core
edit; without git it measures nothing (never a pass)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wf_gate.cli import main
from wf_gate.extensibility import core_untouched


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout with one core file and one family file, committed as the base."""
    for path in (
        "libs/worldflux/src/worldflux/core/model.py",
        "libs/worldflux/src/worldflux/models/x.py",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("# base\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    git(tmp_path, "tag", "base")
    return tmp_path


def add_variant(repo: Path) -> None:
    (repo / "tests/plugins").mkdir(parents=True)
    (repo / "tests/plugins/tdmpc2_variant.py").write_text("# the variant\n")


def test_a_variant_beside_the_library_passes(repo: Path) -> None:
    add_variant(repo)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "variant")
    result = core_untouched("base", repo)
    assert result.passed is True and "1 file(s) changed since base" in result.detail


def test_a_planted_core_edit_fails_committed_or_not(repo: Path) -> None:
    add_variant(repo)
    (repo / "libs/worldflux/src/worldflux/core/model.py").write_text("# edited for the variant\n")
    result = core_untouched("base", repo)
    assert result.passed is False
    assert "libs/worldflux/src/worldflux/core/model.py" in result.detail
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "variant and a core edit")
    assert core_untouched("base", repo).passed is False
    (repo / "services").mkdir()
    (repo / "services/new.py").write_text("# untracked\n")
    assert "services/new.py" in core_untouched("base", repo).detail


def test_without_git_nothing_is_measured(tmp_path: Path) -> None:
    result = core_untouched("base", tmp_path)
    assert result.passed is None and result.detail.startswith("not measured")


def test_the_command_runs_the_contract_suite_on_the_variant(repo: Path, capsys) -> None:
    add_variant(repo)
    argv = ["extensibility", "--models", "tdmpc2-wide", "--base", "base", "--repo", str(repo)]
    argv += ["--import", "plugins.tdmpc2_variant"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "pass core untouched" in out and "pass tdmpc2-wide:ci: served:" in out
    (repo / "libs/worldflux/src/worldflux/core/model.py").write_text("# planted\n")
    assert main(argv) == 1
    assert "FAIL core untouched: 1 core file(s) changed" in capsys.readouterr().out
    assert main([*argv[:5], "--repo", str(repo / "nowhere"), *argv[7:]]) == 3
