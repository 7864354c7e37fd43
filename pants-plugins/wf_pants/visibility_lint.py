"""The `visibility` linter: one lint result per target whose dependencies break a BUILD rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pants.core.goals.lint import LintResult, LintTargetsRequest
from pants.core.util_rules.partitions import PartitionerType
from pants.engine.addresses import Addresses
from pants.engine.internals.dep_rules import DependencyRuleActionDeniedError
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import Dependencies, DependenciesRequest, FieldSet
from pants.option.option_types import SkipOption
from pants.option.subsystem import Subsystem
from pants.util.logging import LogLevel


class VisibilityLint(Subsystem):
    options_scope = "visibility"
    name = "visibility"
    help = "Fail `lint` when a target depends on one that its BUILD file's dependency rules deny."

    skip = SkipOption("lint")


@dataclass(frozen=True)
class VisibilityFieldSet(FieldSet):
    required_fields = (Dependencies,)

    dependencies: Dependencies


class VisibilityLintRequest(LintTargetsRequest):
    field_set_type = VisibilityFieldSet
    tool_subsystem = VisibilityLint
    # One batch per target: targets are checked in parallel and a violation names its target.
    partitioner_type = PartitionerType.DEFAULT_ONE_PARTITION_PER_INPUT


@rule(desc="Check dependency rules", level=LogLevel.DEBUG)
async def check_dependency_rules(request: VisibilityLintRequest.Batch[Any, Any]) -> LintResult:
    violations: list[str] = []
    for field_set in request.elements:
        try:
            # Resolving the dependencies runs the visibility backend's validation, which raises
            # on a denied dependency (and logs a warning for a `?` rule).
            await Get(Addresses, DependenciesRequest(field_set.dependencies))
        except DependencyRuleActionDeniedError as error:
            violations.append(str(error))
    return LintResult(
        exit_code=1 if violations else 0,
        stdout="\n".join(violations),
        stderr="",
        linter_name=VisibilityLintRequest.tool_name,
        # One line per clean target would drown the report: only violations are shown.
        _render_message=bool(violations),
    )


def rules():
    return [*collect_rules(), *VisibilityLintRequest.rules()]
