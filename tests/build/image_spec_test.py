"""build-support/image_spec.py: each image's Dockerfile and build arguments from `pants peek`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "build-support" / "image_spec.py"
PEEK: list[dict[str, Any]] = [
    {"address": "docker/gate:gate", "target_type": "docker_image",
     "sources": ["docker/gate/Dockerfile"], "extra_build_args": []},
    {"address": "docker/service:dynamics", "target_type": "docker_image",
     "sources": ["docker/service/Dockerfile"], "extra_build_args": ["PROGRAM=dynamics", "PORT=1"]},
    {"address": "docker/dynamics:wf-dynamics", "target_type": "pex_binary"},
]  # fmt: skip


def run(tmp_path: Path, peek: list[dict[str, Any]], *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "images.json"
    path.write_text(json.dumps(peek))
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(path), *args], capture_output=True, text=True
    )


def test_names_are_the_docker_image_targets(tmp_path: Path) -> None:
    assert run(tmp_path, PEEK, "names").stdout.split() == ["gate", "dynamics"]


def test_buildah_flags_name_the_shared_dockerfile_and_the_program(tmp_path: Path) -> None:
    out = run(tmp_path, PEEK, "buildah", "dynamics").stdout.splitlines()
    assert out == ["-f", "docker/service/Dockerfile", "--build-arg", "PROGRAM=dynamics",
                   "--build-arg", "PORT=1"]  # fmt: skip
    assert run(tmp_path, PEEK, "buildah", "gate").stdout.splitlines() == [
        "-f",
        "docker/gate/Dockerfile",
    ]


def test_github_output_is_a_multiline_value(tmp_path: Path) -> None:
    out = run(tmp_path, PEEK, "github", "dynamics").stdout
    assert out == (
        "file=docker/service/Dockerfile\nbuild-args<<WF_BUILD_ARGS\n"
        "PROGRAM=dynamics\nPORT=1\nWF_BUILD_ARGS\n"
    )


@pytest.mark.parametrize(
    "peek, args, message",
    [
        (PEEK, ["buildah", "nope"], "unknown image"),
        ([{**PEEK[1], "extra_build_args": ["PROGRAM"]}], ["names"], "has no value"),
        ([PEEK[1], {**PEEK[1], "address": "docker/x:dynamics"}], ["names"], "two docker_image"),
    ],
)
def test_refuses_what_would_build_the_wrong_image(
    tmp_path: Path, peek: list[dict[str, Any]], args: list[str], message: str
) -> None:
    result = run(tmp_path, peek, *args)
    assert result.returncode != 0 and message in result.stdout + result.stderr
