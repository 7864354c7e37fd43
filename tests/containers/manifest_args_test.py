"""The command lines in docker/compose.yaml and docker/k8s/ parse with the programs' own parsers,
and name models that exist: a renamed flag or family breaks this test, not a deployment."""

from __future__ import annotations

import argparse

import pytest

import worldflux.models.catalog  # noqa: F401  (registers the built-in families)
from wf_dynamics.main import build_parser as dynamics_parser
from wf_gate.cli import build_parser as gate_parser
from wf_planner.main import build_parser as planner_parser
from worldflux.core.registry import list_models

from . import deploy

PARSERS = {"dynamics": dynamics_parser, "planner": planner_parser, "gate": gate_parser}


def parse(image: str, args: list[str]) -> argparse.Namespace:
    # An Indexed Job's pod i sees $(JOB_COMPLETION_INDEX) expanded to i.
    expanded = [arg.replace("$(JOB_COMPLETION_INDEX)", "0") for arg in args]
    try:
        return PARSERS[image]().parse_args(expanded)
    except SystemExit as exit_:  # argparse reports to stderr and exits 2
        raise AssertionError(f"{image} rejects {expanded}") from exit_


def image_of(reference: str) -> str:
    return reference.rsplit(":", 1)[0].rsplit("/", 1)[1]


def command_lines() -> list[tuple[str, str, list[str]]]:
    lines = []
    for name, service in deploy.compose()["services"].items():
        lines.append((f"compose:{name}", image_of(service["image"]), list(service["command"])))
    for _, doc in deploy.k8s_documents():
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        pod = deploy.pod_spec(doc)
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            where = f"k8s:{doc['metadata']['name']}/{container['name']}"
            lines.append((where, image_of(container["image"]), list(container["args"])))
    return lines


LINES = command_lines()


@pytest.mark.parametrize("where,image,args", LINES, ids=[w for w, _, _ in LINES])
def test_command_line_parses(where: str, image: str, args: list[str]) -> None:
    parsed = parse(image, args)
    if image == "dynamics":
        assert parsed.model in list_models(include_aliases=True), parsed.model
    if image == "gate" and getattr(parsed, "models", None):
        families = {model.partition(":")[0] for model in list_models()}
        assert set(parsed.models) <= families | {"all"}, parsed.models


def test_a_wrong_flag_is_caught() -> None:
    with pytest.raises(AssertionError, match="rejects"):
        parse("planner", ["--dynamics=dns:///wf-dynamics:50061", "--replicas=3"])
