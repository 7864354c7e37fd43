"""The published JSON Schema of seed_runs.json and validation against it.

The gates block of a model summary is filled in from the registered gates (gates.gate.GATES)
and the gate kinds from the registered kinds (gates.kinds.GATE_KINDS), so a new gate or gate
kind extends the schema by registering. The schema ships inside the package (a Pants
`resources` target), so the pex and the container image validate reports without reaching
anything outside.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import jsonschema

from worldflux.gates.gate import GATES, gates_schema
from worldflux.gates.kinds import GATE_KINDS

SCHEMA_RESOURCE = "schema/seed_runs.schema.json"


class ReportError(ValueError):
    """A report that is missing, unreadable, or does not match the schema."""


def report_schema() -> dict[str, Any]:
    """The schema for the gates and gate kinds registered now (a plugin's are validated like
    the built-ins)."""
    return _schema_for(*_registered())


def _registered() -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(GATES.names()), tuple(sorted(GATE_KINDS.names()))


@functools.cache
def _schema_for(gate_names: tuple[str, ...], kind_names: tuple[str, ...]) -> dict[str, Any]:
    del gate_names  # a cache key: registering a gate gives a new schema
    text = resources.files("worldflux.gates").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    schema["$defs"]["model_summary"]["properties"]["gates"] = gates_schema()
    schema["$defs"]["gate_kind"]["enum"] = list(kind_names)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@functools.cache
def _validator(
    gate_names: tuple[str, ...], kind_names: tuple[str, ...]
) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema_for(gate_names, kind_names))


def validate_report(data: Any, source: str = "report") -> None:
    """Raise ReportError listing (up to five) schema violations with their JSON paths."""
    errors = sorted(
        _validator(*_registered()).iter_errors(data), key=lambda e: list(e.absolute_path)
    )
    if errors:
        lines = [f"{e.json_path}: {e.message}" for e in errors[:5]]
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise ReportError(
            f"{source} does not match the seed_runs schema{more}:\n  " + "\n  ".join(lines)
        )
