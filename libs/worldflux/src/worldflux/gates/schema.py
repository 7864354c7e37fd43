"""The published JSON Schema of seed_runs.json and validation against it.

The schema ships inside the package (a Pants `resources` target), so the pex and the container
image validate reports without reaching anything outside.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import jsonschema

SCHEMA_RESOURCE = "schema/seed_runs.schema.json"


class ReportError(ValueError):
    """A report that is missing, unreadable, or does not match the schema."""


@functools.cache
def report_schema() -> dict[str, Any]:
    text = resources.files("worldflux.gates").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(report_schema())


def validate_report(data: Any, source: str = "report") -> None:
    """Raise ReportError listing (up to five) schema violations with their JSON paths."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{e.json_path}: {e.message}" for e in errors[:5]]
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise ReportError(
            f"{source} does not match the seed_runs schema{more}:\n  " + "\n  ".join(lines)
        )
