"""Read the deployment files under docker/ for the tests: the compose file (its `${VAR:-default}`
interpolation resolved to the defaults, as `docker compose config` would with no variables set)
and the Kubernetes manifests (every document of every docker/k8s/*.yaml)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
K8S_FILES = sorted((DOCKER / "k8s").glob("*.yaml"))
DOCKERFILES = sorted(DOCKER.glob("*/Dockerfile"))


def docker_images() -> dict[str, tuple[Path, dict[str, str]]]:
    """name -> (Dockerfile, build arguments) of every docker_image target in docker/*/BUILD: what
    build-support/image_spec.py reads through `pants peek` (Pants cannot run inside a test)."""
    images = {}
    for build in sorted(DOCKER.glob("*/BUILD")):
        for body in re.findall(r"^docker_image\((.*?)^\)", build.read_text(), flags=re.M | re.S):
            name = re.search(r'name="([^"]+)"', body)
            assert name, f"{build}: a docker_image without a name"
            source = re.search(r'source="([^"]+)"', body)
            args_list = re.search(r"extra_build_args=\[([^]]*)\]", body)
            args = re.findall(r'"([^"=]+)=([^"]*)"', args_list.group(1)) if args_list else []
            dockerfile = build.parent / (source.group(1) if source else "Dockerfile")
            images[name.group(1)] = (dockerfile, dict(args))
    return images


IMAGES = docker_images()
IMAGE_NAMES = sorted(IMAGES)

_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def _with_defaults(value: Any) -> Any:
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: m.group(2) or "", value)
    if isinstance(value, list):
        return [_with_defaults(v) for v in value]
    if isinstance(value, dict):
        return {k: _with_defaults(v) for k, v in value.items()}
    return value


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    resolved = _with_defaults(data)
    assert isinstance(resolved, dict)
    return resolved


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    """(file name, document) for every non-empty document of every manifest."""
    docs = []
    for path in K8S_FILES:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    for _, doc in k8s_documents():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name} in docker/k8s")


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def flag(args: list[str], name: str) -> list[str]:
    """Values of `--name=value` / `--name value` in an argument list."""
    values = []
    for i, arg in enumerate(args):
        if arg.startswith(f"{name}="):
            values.append(arg.split("=", 1)[1])
        elif arg == name and i + 1 < len(args):
            values.append(args[i + 1])
    return values
