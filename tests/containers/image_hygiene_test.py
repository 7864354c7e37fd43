"""What each image contains and how it starts: a non-root user, a venv and nothing to build with."""

from __future__ import annotations

import json

import pytest

from . import podman

pytestmark = pytest.mark.usefixtures("images")

SITE = "/opt/venv/lib/python3.11/site-packages"


def sh(name: str, script: str) -> str:
    result = podman.run(name, "-c", script, entrypoint="sh")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("name", podman.IMAGES)
def test_runs_as_the_unprivileged_user(name: str) -> None:
    assert sh(name, "id -u; id -g").split() == [str(podman.IMAGE_UID)] * 2


@pytest.mark.parametrize("name", podman.IMAGES)
def test_exec_form_entrypoint_of_the_venv(name: str) -> None:
    config = json.loads(podman.podman("image", "inspect", podman.image(name), check=True).stdout)
    assert config[0]["Config"]["Entrypoint"] == ["/opt/venv/pex"]
    assert config[0]["Config"]["User"] == f"{podman.IMAGE_UID}:{podman.IMAGE_UID}"


@pytest.mark.parametrize("name", podman.IMAGES)
def test_no_build_tools_pip_or_pex_left(name: str) -> None:
    found = sh(
        name,
        "for tool in gcc cc c++ make apt-get pip pip3; do command -v $tool || true; done;"
        " /opt/venv/bin/python -m pip --version 2>/dev/null || true;"
        " find / -xdev -name '*.pex' -not -path '/proc/*' 2>/dev/null || true",
    )
    # apt-get is part of Debian's base itself (python:3.11-slim has it too): the image adds none
    # of the others.
    assert [line for line in found.split() if not line.endswith("/apt-get")] == []


@pytest.mark.parametrize("name", podman.IMAGES)
def test_venv_is_trimmed_and_compiled(name: str) -> None:
    out = sh(
        name,
        f"ls -d {SITE}/torch/test {SITE}/torch/include 2>/dev/null | wc -l;"
        f" find {SITE} -type d -name tests | wc -l;"
        f" ls {SITE}/torch/__pycache__ | grep -c '^__init__.cpython-311.pyc$'",
    )
    assert out.split() == ["0", "0", "1"]


@pytest.mark.parametrize("name", podman.IMAGES)
def test_the_venv_imports_its_program(name: str) -> None:
    module = {"gate": "wf_gate.cli", "dynamics": "wf_dynamics.main", "planner": "wf_planner.main"}
    result = podman.run(name, "-c", f"import {module[name]}, torch; print(torch.__version__)",
                        entrypoint="python3")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("+cpu")
