"""What a gate is: a named judgement over one model's seed runs, and the one list of them.

Every gate is a `Gate` subclass registered in `GATES` (built-ins in gates.criteria and
gates.control, third-party gates through the `worldflux.gates` entry point group). That list
alone drives the report's `gates` block, its JSON Schema, the verdict, `wf-gate gates`, and
both summary tables: adding a gate is one class plus one registration.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from worldflux.core.plugins import Registry
from worldflux.gates.records import RunRecord
from worldflux.gates.settings import GateSettings, MeasureSettings

# What a gate without a verdict (pass None, "not measured") means for the model's verdict.
FAILS = "fails"  # the gate is required: not measured is a failure
INSUFFICIENT = "insufficient"  # not measured makes the verdict "insufficient evidence"
IGNORED = "ignored"  # the gate may not apply (no reward, no goal): only a failure counts
UNMEASURED_POLICIES = (FAILS, INSUFFICIENT, IGNORED)


@dataclass(frozen=True)
class GateResult:
    """One gate's judgement: pass (True/False/None = not measured), why, and its figures."""

    passed: bool | None
    reasons: tuple[str, ...] = ()
    figures: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.passed not in (True, False, None):
            raise TypeError(f"GateResult.passed must be True, False or None, got {self.passed!r}")
        clash = {"pass", "reasons"} & set(self.figures)
        if clash:
            raise ValueError(f"gate figures cannot be named {sorted(clash)}")
        object.__setattr__(self, "reasons", tuple(self.reasons))

    def to_dict(self) -> dict[str, Any]:
        return {"pass": self.passed, "reasons": list(self.reasons), **self.figures}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        figures = {k: v for k, v in data.items() if k not in ("pass", "reasons")}
        return cls(data["pass"], tuple(data["reasons"]), figures)


@dataclass(frozen=True)
class GateInput:
    """Everything a gate may read about one model (never the model itself: reports re-judge)."""

    model: str
    kind: str  # the family's gate kind (gates.kinds)
    runs: Sequence[RunRecord]  # one per seed, sorted by seed
    reruns: Sequence[RunRecord]  # stability reruns
    missing: Sequence[int]  # planned seeds without a record
    planned: Collection[str]  # run ids this report (or shard) was meant to hold
    measure: MeasureSettings
    settings: GateSettings
    earlier: Mapping[str, GateResult]  # results of the gates registered before this one


class Gate(ABC):
    """A gate: class attributes say what it is, `evaluate` judges.

    name: key in the report's `gates` block; column: short header in the summary tables;
    description: one line for `wf-gate gates` and the docs; unmeasured: what "not measured"
    means for the verdict; note: a figure shown beside the verdict in tables; schema: JSON
    Schema of the gate's figures (merged into the report schema).
    """

    name: ClassVar[str]
    column: ClassVar[str]
    description: ClassVar[str]
    unmeasured: ClassVar[str] = INSUFFICIENT
    note: ClassVar[str | None] = None
    schema: ClassVar[Mapping[str, Any] | None] = None

    @abstractmethod
    def evaluate(self, given: GateInput) -> GateResult:
        """Judge one model from its runs."""

    @classmethod
    def cell(cls, result: GateResult) -> str:
        """The extra text shown beside the verdict in the summary tables."""
        return str(result.figures.get(cls.note, "")) if cls.note else ""


def _check_gate_class(entry: type[Gate]) -> None:
    if not (isinstance(entry, type) and issubclass(entry, Gate)):
        raise TypeError(f"a gate must be a Gate subclass, got {entry!r}")
    for attribute in ("name", "column", "description"):
        if not isinstance(getattr(entry, attribute, None), str):
            raise TypeError(f"gate {entry.__name__} needs a string class attribute {attribute!r}")
    if entry.unmeasured not in UNMEASURED_POLICIES:
        raise ValueError(
            f"gate {entry.name}: unmeasured={entry.unmeasured!r}, use one of {UNMEASURED_POLICIES}"
        )
    if entry.name == "pass":
        raise ValueError("'pass' is the overall verdict, not a gate name")


GATES: Registry[type[Gate]] = Registry(
    "gate",
    "worldflux.gates",
    builtins=("worldflux.gates.criteria", "worldflux.gates.control"),
    check=_check_gate_class,
)
register_gate = GATES.register


def evaluate_gates(given: GateInput) -> tuple[dict[str, GateResult], bool | None]:
    """Run every registered gate in order; the overall verdict (True, False, or None for
    insufficient evidence: "n/a" is never "pass")."""
    results: dict[str, GateResult] = {}
    for gate_class in GATES.values():
        earlier = dataclasses.replace(given, earlier=dict(results))
        results[gate_class.name] = gate_class().evaluate(earlier)
    return results, overall(results)


def overall(results: Mapping[str, GateResult]) -> bool | None:
    verdicts = []
    for name, result in results.items():
        policy = GATES.get(name).unmeasured if name in GATES else INSUFFICIENT
        if result.passed is None:
            verdicts.append({FAILS: False, INSUFFICIENT: None, IGNORED: True}[policy])
        else:
            verdicts.append(result.passed)
    if any(v is False for v in verdicts):
        return False
    return None if any(v is None for v in verdicts) else True


def gates_schema() -> dict[str, Any]:
    """The JSON Schema of a summary's `gates` block, from the registered gates."""
    properties: dict[str, Any] = {"pass": {"type": "boolean"}}
    for gate_class in GATES.values():
        ref = {"$ref": "#/$defs/gate"}
        properties[gate_class.name] = (
            {"allOf": [ref, dict(gate_class.schema)]} if gate_class.schema else ref
        )
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": {"$ref": "#/$defs/gate"},
    }
