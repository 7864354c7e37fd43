"""Quality gates: seed runs, per-family criteria, honest statistics, the report and its schema.

`wf-gate` (tools/gate) is the command line over this package; everything here is importable so a
notebook or another CI system can measure and judge models the same way.
"""

from worldflux.gates.criteria import failures, not_measured, summarize_model
from worldflux.gates.estimate import Scenario, estimate, model_rates, parse_scenarios
from worldflux.gates.gate import GATES, Gate, GateInput, GateResult, register_gate
from worldflux.gates.jobs import Job, Shard, plan
from worldflux.gates.kinds import GATE_KINDS, GateKind, register_gate_kind
from worldflux.gates.measure import MeasureError, measure
from worldflux.gates.records import CheckResult, Evaluation, RunRecord
from worldflux.gates.report import Report, merge_reports, read_report, write_report
from worldflux.gates.schema import ReportError, report_schema, validate_report
from worldflux.gates.settings import GateSettings, MeasureSettings
from worldflux.gates.stats import (
    bootstrap_ci,
    clopper_pearson,
    coefficient_of_variation,
    relative_difference,
)

__all__ = [
    "register_gate_kind",
    "register_gate",
    "GateResult",
    "GateKind",
    "GateInput",
    "Gate",
    "GATE_KINDS",
    "GATES",
    "CheckResult",
    "Evaluation",
    "GateSettings",
    "Job",
    "MeasureError",
    "MeasureSettings",
    "Report",
    "ReportError",
    "RunRecord",
    "Scenario",
    "Shard",
    "bootstrap_ci",
    "clopper_pearson",
    "coefficient_of_variation",
    "estimate",
    "failures",
    "measure",
    "merge_reports",
    "model_rates",
    "not_measured",
    "parse_scenarios",
    "plan",
    "read_report",
    "relative_difference",
    "report_schema",
    "summarize_model",
    "validate_report",
    "write_report",
]
