"""The published JSON Schema of seed_runs.json and validation against it.

The gates block of a model summary is filled in from the registered gates (gates.gate.GATES),
so a new gate extends the schema by registering. The schema ships inside the package (a Pants
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

SCHEMA_RESOURCE = "schema/seed_runs.schema.json"


class ReportError(ValueError):
    """A report that is missing, unreadable, or does not match the schema."""


def report_schema() -> dict[str, Any]:
    """The schema for the gates registered now (a plugin gate is validated like a built-in)."""
    return _schema_for(tuple(GATES.names()))


@functools.cache
def _schema_for(gate_names: tuple[str, ...]) -> dict[str, Any]:
    del gate_names  # the cache key: registering a gate gives a new schema
    text = resources.files("worldflux.gates").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    schema["$defs"]["model_summary"]["properties"]["gates"] = gates_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@functools.cache
def _validator(gate_names: tuple[str, ...]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema_for(gate_names))


def validate_report(data: Any, source: str = "report") -> None:
    """Raise ReportError listing (up to five) schema violations with their JSON paths."""
    errors = sorted(
        _validator(tuple(GATES.names())).iter_errors(data), key=lambda e: list(e.absolute_path)
    )
    if errors:
        lines = [f"{e.json_path}: {e.message}" for e in errors[:5]]
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise ReportError(
            f"{source} does not match the seed_runs schema{more}:\n  " + "\n  ".join(lines)
        )
