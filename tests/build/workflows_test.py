"""The GitHub workflows are valid (GitHub's workflow schema, offline) and do what the docs say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
CI = REPO / ".github" / "workflows" / "ci.yml"


def schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with the GitHub workflow schema it ships (no network)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    # YAML 1.1 (PyYAML) reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job["steps"])


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in steps(job))


def pull_request_jobs(workflow: dict[str, Any]) -> dict[str, Any]:
    return {
        name: job
        for name, job in workflow["jobs"].items()
        if "pull_request" in str(job.get("if", "")) and "!=" not in str(job.get("if", ""))
    }


def test_workflows_exist() -> None:
    assert CI in WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_github_schema(path: Path) -> None:
    result = schema_check(path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "text",
    [
        # a job without runs-on
        "on: pull_request\njobs:\n  a:\n    steps:\n      - run: echo\n",
        # an event that does not exist
        "on: pull_reqest\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo\n",
        # `step:` for `steps:`
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    step:\n      - run: echo\n",
        # not YAML: an unquoted Pants spec `::` at the end of a line
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: pants test ::\n",
    ],
    ids=["no-runs-on", "unknown-event", "unknown-key", "invalid-yaml"],
)
def test_broken_workflow_is_rejected(tmp_path: Path, text: str) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("name: broken\n" + text)
    result = schema_check(path)
    assert result.returncode != 0, result.stdout


def test_pull_requests_run_affected_targets_with_full_history() -> None:
    workflow = load(CI)
    assert "pull_request" in workflow["on"]
    jobs = pull_request_jobs(workflow)
    assert jobs, "no job runs on pull requests"
    affected = [job for job in jobs.values() if "--changed-since=origin/main" in runs(job)]
    assert len(affected) == 1
    job = affected[0]
    assert "--changed-dependents=transitive" in runs(job)
    assert "lint check test ::" in runs(job)  # the full run when the build itself changed
    checkout = [s for s in steps(job) if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert checkout and checkout[0]["with"]["fetch-depth"] == 0
    for job in jobs.values():
        for step in steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["fetch-depth"] == 0


def test_full_run_on_main_and_nightly() -> None:
    workflow = load(CI)
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["on"]["schedule"][0]["cron"]
    full = [job for job in workflow["jobs"].values() if "bash .ci/run" in runs(job)]
    assert len(full) == 1
    assert full[0]["if"] == "github.event_name != 'pull_request'"
    assert workflow["env"]["PANTS_CONFIG_FILES"] == "pants.ci.toml"


def test_nightly_quality_gates_fan_out_merge_and_fail_on_a_failing_gate() -> None:
    workflow = load(CI)
    shard, verdict = workflow["jobs"]["gate-shard"], workflow["jobs"]["gates"]
    for gate_job in (shard, verdict):
        assert "schedule" in gate_job["if"] and "pull_request" not in gate_job["if"]
    count = len(shard["strategy"]["matrix"]["shard"])
    assert shard["strategy"]["matrix"]["shard"] == list(range(count)) and count > 1
    measure = runs(shard)
    assert "build-support/gate-pipeline.sh" in measure
    assert f"--shards {count} --shard ${{{{ matrix.shard }}}}" in measure
    assert "--seeds 0,1,2,3,4" in measure and "--models all" in measure
    assert verdict["needs"] == "gate-shard"
    assert f"build-support/gate-pipeline.sh --shards {count} --finish" in runs(verdict)
    uploads = [s for s in steps(verdict) if str(s.get("uses", "")).startswith("actions/upload")]
    assert uploads and uploads[0]["if"] == "always()"
    for name in ("seed_runs.json", "summary.md", "*.png"):
        assert name in uploads[0]["with"]["path"]
    assert "|| true" not in runs(verdict) and "continue-on-error" not in verdict


def test_gate_pipeline_script_refuses_bad_arguments() -> None:
    script = REPO / "build-support" / "gate-pipeline.sh"
    for args, message in (
        (["--shards", "0"], "--shards must be a positive integer"),
        (["--shards", "2", "--shard", "2"], "--shard must be in 0..1"),
        (["--bogus"], "unknown option --bogus"),
    ):
        result = subprocess.run(
            ["bash", str(script), *args], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2 and message in result.stderr, result


def test_pants_cache_is_keyed_on_lockfiles_and_config() -> None:
    for job in load(CI)["jobs"].values():
        for step in steps(job):
            if str(step.get("uses", "")).startswith("actions/cache@"):
                assert "~/.cache/pants" in step["with"]["path"]
                key = step["with"]["key"]
                assert "hashFiles('pants.toml', '3rdparty/python/*.lock')" in key


def build_inputs_pattern() -> re.Pattern[str]:
    text = CI.read_text()
    match = re.search(r"build_inputs='([^']+)'", text)
    assert match, "the scope step names its regex build_inputs='...'"
    return re.compile(match.group(1))


@pytest.mark.parametrize(
    ("path", "full"),
    [
        ("pants.toml", True),
        ("pants.ci.toml", True),
        ("pants", True),
        ("3rdparty/python/default.lock", True),
        ("3rdparty/python/tools.lock", True),
        ("3rdparty/python/requirements.txt", True),
        ("3rdparty/python/tools-requirements.txt", True),
        ("build-support/bootstrap.sh", True),
        ("ruff.toml", True),
        (".github/workflows/ci.yml", True),
        ("libs/worldflux/src/worldflux/rpc/codec.py", False),
        ("libs/worldflux/src/worldflux/rpc/BUILD", False),
        ("proto/worldflux/v1/tensor.proto", False),
        ("docs/content/index.md", False),
        ("tools/gate/src/pants.toml.md", False),
    ],
)
def test_full_run_when_the_build_changes(path: str, full: bool) -> None:
    assert bool(build_inputs_pattern().search(path)) is full


def test_buf_breaking_runs_on_pull_requests() -> None:
    jobs = pull_request_jobs(load(CI))
    assert any("build-support/buf-breaking.sh origin/main" in runs(job) for job in jobs.values())
