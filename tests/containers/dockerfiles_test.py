"""docker/*/Dockerfile keep the rules the recipe and the release need beyond what hadolint checks:
Docker-compatible (no BuildKit-only syntax), the base image only through ARG BASE_IMAGE, a final
stage with only the venv, a numeric non-root USER and an exec-form ENTRYPOINT; each image (a
docker_image target) built from the PEX of the pex_binary in docker/NAME/BUILD, and the two
services from one Dockerfile (docker/service) that their build arguments parametrise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from . import deploy

DEFAULT_BASE = "python:3.11-slim-bookworm"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


@pytest.fixture(params=deploy.DOCKERFILES, ids=[p.parent.name for p in deploy.DOCKERFILES])
def dockerfile(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


def with_args(text: str, args: dict[str, str]) -> str:
    """The build arguments substituted, as the builder does in COPY/EXPOSE/ENV."""
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), text)


def test_there_is_one_per_service_and_the_gate() -> None:
    assert ["dynamics", "gate", "planner"] == deploy.IMAGE_NAMES
    assert [p.parent.name for p in deploy.DOCKERFILES] == ["gate", "service"]


def test_the_services_share_one_dockerfile_parametrised_by_program() -> None:
    service = deploy.DOCKER / "service" / "Dockerfile"
    for name in ("dynamics", "planner"):
        dockerfile, args = deploy.IMAGES[name]
        assert dockerfile == service
        assert set(args) == {"PROGRAM", "PORT"} and args["PROGRAM"] == name
    # Every argument the Dockerfile declares without a default is one the targets pass.
    declared = {rest for keyword, rest in instructions(service) if keyword == "ARG"}
    assert declared == {"BASE_IMAGE=python:3.11-slim-bookworm", "PROGRAM", "PORT"}


def test_base_image_comes_only_from_the_build_arg(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    assert steps[0] == ("ARG", f"BASE_IMAGE={DEFAULT_BASE}")
    froms = [rest for keyword, rest in steps if keyword == "FROM"]
    assert froms and all(rest.split()[0] == "${BASE_IMAGE}" for rest in froms)


def test_no_buildkit_only_syntax(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert "# syntax=" not in text
    assert "--mount" not in text
    assert "<<" not in text  # heredocs


def test_final_stage_has_only_the_venv_and_a_non_root_user(dockerfile: Path) -> None:
    final = final_stage(instructions(dockerfile))
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert copies and all(re.fullmatch(r"--from=\w+ /opt/venv /opt/venv", c) for c in copies)
    runs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    for tool in ("apt-get", "pip", "gcc"):
        assert tool not in runs
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users == ["10001:10001"]


def test_entrypoint_is_exec_form(dockerfile: Path) -> None:
    (entrypoint,) = (rest for keyword, rest in instructions(dockerfile) if keyword == "ENTRYPOINT")
    assert json.loads(entrypoint) == ["/opt/venv/pex"]


def pex_binaries(build: Path) -> dict[str, str]:
    """name -> the text of each pex_binary(...) in a BUILD file."""
    bodies = re.findall(r"^pex_binary\((.*?)^\)", build.read_text(), flags=re.M | re.S)
    return {re.search(r'name="([^"]+)"', body).group(1): body for body in bodies}  # type: ignore[union-attr]


def stage(steps: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    start = steps.index(("FROM", f"${{BASE_IMAGE}} AS {name}"))
    end = next(i for i in range(start + 1, len(steps)) if steps[i][0] == "FROM")
    return steps[start:end]


@pytest.mark.parametrize("name", deploy.IMAGE_NAMES)
def test_built_from_a_requirements_pex_and_a_sources_pex(name: str) -> None:
    dockerfile, args = deploy.IMAGES[name]
    steps = [(k, with_args(r, args)) for k, r in instructions(dockerfile)]
    (deps_pex,) = (r.split()[0] for k, r in stage(steps, "deps") if k == "COPY" and ".pex" in r)
    (app_pex,) = (r.split()[0] for k, r in stage(steps, "srcs") if k == "COPY" and ".pex" in r)
    # Pants' output path of pex_binary NAME in docker/DIR is docker.DIR/NAME.pex.
    assert app_pex == f"docker.{name}/wf-{name}.pex"
    folder, _, file = deps_pex.partition("/")
    deps = pex_binaries(deploy.REPO / folder.replace(".", "/") / "BUILD")[file.removesuffix(".pex")]
    app = pex_binaries(deploy.DOCKER / name / "BUILD")[f"wf-{name}"]
    assert "include_sources=False" in deps and "include_requirements=False" in app
    for body in (deps, app):  # PEX_TOOLS=1 ... venv needs the tools inside
        assert "include_tools=True" in body


def test_service_images_share_their_dependency_stage() -> None:
    """No build argument before the venv layer: the build cache reuses the stage and the layer."""
    steps = instructions(deploy.DOCKER / "service" / "Dockerfile")
    deps = stage(steps, "deps")
    assert all("${" not in rest for _, rest in deps[1:])
    final = final_stage(steps)
    assert final[3] == ("COPY", "--from=deps /opt/venv /opt/venv")
    assert all("${" not in rest for _, rest in final[1:4])  # ARG, user, COPY --from=deps


@pytest.mark.parametrize("name", deploy.IMAGE_NAMES)
def test_service_images_declare_their_port_and_health_check(name: str) -> None:
    dockerfile, args = deploy.IMAGES[name]
    steps = [(k, with_args(r, args)) for k, r in instructions(dockerfile)]
    if name == "gate":
        assert not [k for k, _ in steps if k in ("EXPOSE", "HEALTHCHECK")]
        return
    (port,) = (rest for keyword, rest in steps if keyword == "EXPOSE")
    assert port == args["PORT"]
    (check,) = (rest for keyword, rest in steps if keyword == "HEALTHCHECK")
    assert check.endswith('CMD ["python3", "-m", "wf_grpc_health"]')
    # The probe's default address (docker/common/wf_grpc_health.py reads it).
    env = " ".join(rest for keyword, rest in final_stage(steps) if keyword == "ENV")
    assert f"WF_GRPC_HEALTH_TARGET=127.0.0.1:{port}" in env.split()
