"""The release workflow builds and pushes every image under docker/ on version tags, with an SBOM.
(GitHub's workflow schema is checked for every workflow by tests/build/workflows_test.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from . import deploy

RELEASE = deploy.REPO / ".github" / "workflows" / "release.yml"


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    if True in data:  # YAML 1.1 reads the key `on` as True
        data["on"] = data.pop(True)
    return data


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(action + "@")]


def job() -> dict[str, Any]:
    """The image job (the other one, `gates`, must pass before it)."""
    jobs = load(RELEASE)["jobs"]
    assert set(jobs) == {"gates", "image"}
    image = jobs["image"]
    assert isinstance(image, dict)
    return image


def test_release_gates_run_in_the_gate_image_and_block_every_push() -> None:
    gates = load(RELEASE)["jobs"]["gates"]
    assert job()["needs"] == "gates"
    built = [s for s in steps_using(gates, "docker/build-push-action") if s["with"].get("load")]
    assert built and built[0]["with"]["file"] == "docker/gate/Dockerfile"
    tag = built[0]["with"]["tags"]
    script = "\n".join(str(s.get("run", "")) for s in gates["steps"])
    # The pipeline script (measure -> merge -> report -> check) runs wf-gate from that image, on
    # the release policy's balanced settings; its exit status is the check's.
    assert "build-support/gate-pipeline.sh" in script and "--network none" in script
    assert tag in script and "--seeds 0,1,2,3,4" in script and "--models all" in script
    assert "|| true" not in script and "continue-on-error" not in gates


def test_runs_on_version_tags_only() -> None:
    on = load(RELEASE)["on"]
    assert on["push"] == {"tags": ["v*.*.*"]}
    assert "pull_request" not in on


def test_builds_every_image_under_docker() -> None:
    assert sorted(job()["strategy"]["matrix"]["image"]) == sorted(deploy.IMAGE_NAMES)


def test_pushes_with_sbom_and_provenance() -> None:
    builds = steps_using(job(), "docker/build-push-action")
    pushes = [s for s in builds if s["with"].get("push") is True]
    assert len(pushes) == 1
    (push,) = pushes
    assert push["with"]["sbom"] is True
    assert str(push["with"]["provenance"]).startswith("mode=max")
    # Dockerfile and build arguments from the image's docker_image target, for both builds.
    for build in builds:
        assert build["with"]["file"] == "${{ steps.spec.outputs.file }}"
        assert build["with"]["build-args"] == "${{ steps.spec.outputs.build-args }}"
    (spec,) = (s for s in job()["steps"] if s.get("id") == "spec")
    assert "build-support/image_spec.py" in spec["run"] and '>>"$GITHUB_OUTPUT"' in spec["run"]
    (sbom,) = steps_using(job(), "anchore/sbom-action")
    assert "${{ steps.push.outputs.digest }}" in sbom["with"]["image"]
    assert job()["permissions"]["packages"] == "write"


def test_smoke_test_comes_before_the_push_and_uses_no_network() -> None:
    steps = job()["steps"]
    names = [s.get("name", "") for s in steps]
    assert names.index("Smoke test") < names.index(
        "Build and push (SBOM and provenance attestations)"
    )
    script = next(s["run"] for s in steps if s.get("name") == "Smoke test")
    runs = [line for line in script.splitlines() if "docker run" in line]
    assert runs and all("--network none" in r or "--network container:" in r for r in runs)


def test_builds_from_the_shared_context_layout() -> None:
    runs = "\n".join(str(s.get("run", "")) for s in job()["steps"])
    assert "build-support/image-context.sh" in runs
    package = "./pants --filter-target-type=pex_binary package docker/common:"
    assert f'{package} "docker/${{{{ matrix.image }}}}:"' in runs
