"""seed_runs.json: reading, writing (atomically, schema-checked) and merging gate reports.

A report holds the raw seed runs and the summary computed from them. The summary is always
recomputed from the runs, never trusted from disk, so a merged or appended report cannot carry a
stale verdict.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import worldflux
from worldflux.gates.criteria import summarize_model
from worldflux.gates.jobs import Shard, plan, run_order, shard_jobs
from worldflux.gates.records import RunRecord, encode_float
from worldflux.gates.schema import ReportError, validate_report
from worldflux.gates.settings import GateSettings, MeasureSettings
from worldflux.serialization import atomic_write_bytes

SCHEMA_VERSION = 3


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def tool_info() -> dict[str, str]:
    return {
        "name": "wf-gate",
        "worldflux": worldflux.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


@dataclass
class Report:
    settings: MeasureSettings
    gate_settings: GateSettings = field(default_factory=GateSettings)
    shard: Shard | None = None
    runs: dict[str, RunRecord] = field(default_factory=dict)
    created: str = field(default_factory=_now)
    tool: dict[str, str] = field(default_factory=tool_info)

    # -- contents ---------------------------------------------------------------------------
    def planned_ids(self) -> list[str]:
        return [job.run_id for job in shard_jobs(plan(self.settings), self.shard)]

    def missing_ids(self) -> list[str]:
        return [rid for rid in self.planned_ids() if rid not in self.runs]

    @property
    def complete(self) -> bool:
        return not self.missing_ids()

    def add(self, record: RunRecord) -> None:
        if record.model not in self.settings.models:
            raise ReportError(f"run {record.run_id}: model is not one of {self.settings.models}")
        self.runs[record.run_id] = record

    def ordered_runs(self) -> list[RunRecord]:
        order = run_order(self.settings)
        return sorted(self.runs.values(), key=lambda r: (order.get(r.run_id, len(order)), r.run_id))

    def summary(self) -> dict[str, dict[str, Any]]:
        planned = set(self.planned_ids())
        out = {}
        for model in self.settings.models:
            runs = [r for r in self.ordered_runs() if r.model == model]
            ids = {rid for rid in planned if rid.startswith(f"{model}/")}
            if runs or ids:
                out[model] = summarize_model(model, runs, self.settings, self.gate_settings, ids)
        return out

    def with_gate_settings(self, gate_settings: GateSettings) -> Report:
        return dataclasses.replace(self, gate_settings=gate_settings)

    # -- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": dict(self.tool),
            "created": self.created,
            "settings": self.settings.to_dict(),
            "gate_settings": self.gate_settings.to_dict(),
            "shard": self.shard.to_dict() if self.shard else None,
            "runs": [r.to_dict() for r in self.ordered_runs()],
            "summary": _encode_tree(self.summary()),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "report") -> Report:
        validate_report(data, source)
        try:
            settings = MeasureSettings.from_dict(data["settings"])
            report = cls(
                settings=settings,
                gate_settings=GateSettings.from_dict(data["gate_settings"]),
                shard=Shard(**data["shard"]) if data["shard"] else None,
                created=data["created"],
                tool=dict(data["tool"]),
            )
            for raw in data["runs"]:
                record = RunRecord.from_dict(raw)
                if record.run_id in report.runs:
                    raise ReportError(f"{source}: run {record.run_id} is recorded twice")
                report.add(record)
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, ReportError):
                raise
            raise ReportError(f"{source}: {err}") from None
        return report


def _encode_tree(value: Any) -> Any:
    """Summaries hold means that may be NaN (a diverged seed): make them strict JSON."""
    if isinstance(value, float):
        return encode_float(value)
    if isinstance(value, dict):
        return {k: _encode_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode_tree(v) for v in value]
    return value


def write_report(report: Report, path: str | Path) -> Path:
    """Validate, then replace `path` in one rename: a crash never leaves half a report."""
    path = Path(path)
    data = report.to_dict()
    validate_report(data, f"report for {path}")
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def read_report(path: str | Path) -> Report:
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: report file does not exist")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportError(f"{path}: not valid JSON ({err}); the file may be truncated") from None
    return Report.from_dict(data, str(path))


def merge_reports(reports: Iterable[Report]) -> Report:
    """Union of the runs of compatible reports (shards, or partial reruns).

    The same run in two reports must carry the same measurement (everything but timing), or
    the merge refuses: silently picking one would hide a nondeterminism or a mix-up.
    """
    reports = list(reports)
    if not reports:
        raise ReportError("nothing to merge")
    settings = reports[0].settings
    for other in reports[1:]:
        try:
            settings = settings.union(other.settings)
        except ValueError as err:
            raise ReportError(str(err)) from None
        if other.gate_settings != reports[0].gate_settings:
            raise ReportError("reports were measured with different gate settings")
    merged = Report(settings, reports[0].gate_settings, None, created=reports[0].created)
    for report in reports:
        for record in report.runs.values():
            existing = merged.runs.get(record.run_id)
            if existing is not None and measurement(existing) != measurement(record):
                raise ReportError(
                    f"run {record.run_id} appears twice with different results; "
                    "remove one of the reports or rerun that seed"
                )
            merged.runs.setdefault(record.run_id, record)
    return merged


TIMING_FIELDS = (
    "seconds",
    "train_seconds",
    "eval_seconds",
    "steps_per_second",
    "peak_memory_bytes",
)


def measurement(record: RunRecord) -> dict[str, Any]:
    """A run's result without its timing: what must agree when one run is recorded twice."""
    data = record.to_dict()
    for name in TIMING_FIELDS:
        data.pop(name)
    return data
