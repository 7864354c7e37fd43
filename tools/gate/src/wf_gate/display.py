"""What wf-gate prints: live progress of a measurement and the summary tables.

On a terminal the progress is a rich display (runs, and steps of each active run); in CI logs,
where redrawing is noise, each finished run prints one line instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from worldflux.gates import Job, RunRecord
from worldflux.gates.criteria import gate_results
from worldflux.gates.estimate import Estimate, ModelRate
from worldflux.gates.gate import GATES


def make_console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal:  # CI logs: wide enough that tables do not wrap
        console = Console(stderr=stderr, width=240)
    return console


class ProgressDisplay:
    """measure()'s Events, shown with rich."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.live = enabled and console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not self.live,
        )
        self.overall: TaskID | None = None
        self.tasks: dict[str, TaskID] = {}
        self.steps = 0

    def __enter__(self) -> ProgressDisplay:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def planned(self, total: int, done: int, jobs: Sequence[Job], steps: int) -> None:
        self.steps = steps
        self.overall = self.progress.add_task("runs", total=total, completed=done)
        self.console.print(
            f"{total} planned run(s), {done} already recorded, {len(jobs)} to run "
            f"({steps} steps each)"
        )

    def started(self, run_id: str) -> None:
        if run_id not in self.tasks:
            self.tasks[run_id] = self.progress.add_task(f"  {run_id}", total=self.steps)

    def step(self, run_id: str, step: int, total: int) -> None:
        self.started(run_id)
        self.progress.update(self.tasks[run_id], completed=step, total=total)

    def finished(self, record: RunRecord, recorded: int) -> None:
        task = self.tasks.pop(record.run_id, None)
        if task is not None:
            self.progress.remove_task(task)
        if self.overall is not None:
            self.progress.update(self.overall, completed=recorded)
        self.console.print(run_line(record, recorded))


def run_line(record: RunRecord, recorded: int) -> str:
    if record.initial is not None and record.final is not None:
        drop = record.loss_drop if record.loss_drop is not None else math.nan
        losses = f"held-out {record.initial.total:.4g} -> {record.final.total:.4g} ({-drop:+.1%})"
    else:
        losses = f"{record.status}: {record.error}"
    verdict = "success" if record.success else "no success"
    return (
        f"[{recorded}] {record.run_id} on {record.dataset}: {losses}, {verdict}, "
        f"{record.seconds:.1f} s, {record.steps_per_second:.1f} steps/s"
    )


def _gate(value: bool | None) -> str:
    return {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[yellow]not measured[/]"}[value]


def _pct(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1%}"


def summary_columns(ci: str = "exact ci (C-P)", drop: str = "loss drop") -> list[str]:
    """The summary table's columns, one per registered gate among them (console and Markdown)."""
    columns = ["model", "dataset", "runs", "success_rate", "ci (bootstrap)", ci, drop]
    columns.append("skill (min over seeds)")
    return [*columns, *[gate.column for gate in GATES.values()], "verdict"]


def summary_cells(
    model: str, block: dict[str, Any], verdict: Callable[[bool | None], str]
) -> list[str]:
    """One model's row of the summary table; `verdict` renders pass / FAIL / not measured."""
    common = block["gates"]["common"]
    cells = [
        model,
        block["dataset"],
        f"{block['runs']}/{block['planned_runs']}",
        f"{block['success_rate']:.0%} ({block['successes']}/{block['runs']})",
        f"[{common['ci_low']:.2f}, {common['ci_high']:.2f}]",
        f"[{common['exact_ci_low']:.3f}, {common['exact_ci_high']:.3f}]",
        _pct(block["loss_drop_mean"]),
        skill_cell(block),
    ]
    cells += [
        " ".join(filter(None, (verdict(result.passed), gate.cell(result))))
        for gate, result in gate_results(block)
    ]
    return cells


def summary_table(summary: dict[str, dict[str, Any]]) -> Table:
    """One row per model: its figures, one column per registered gate, the verdict."""
    table = Table(title="quality gates", show_lines=False)
    for name in summary_columns():
        table.add_column(name, justify="left" if name in ("model", "dataset") else "right")
    for model, block in summary.items():
        table.add_row(*summary_cells(model, block, _gate), VERDICTS[block["verdict"]])
    return table


VERDICTS = {
    "pass": "[green]pass[/]",
    "fail": "[red]FAIL[/]",
    "insufficient evidence": "[yellow]insufficient evidence[/]",
}


def skill_cell(block: dict[str, Any]) -> str:
    """'obs 42%, reward 91%': each primary metric's worst skill over the seeds."""
    parts = [f"{name} {_pct(m['skill_min'])}" for name, m in block["skill"].items() if m["primary"]]
    return ", ".join(parts) or "none"


def estimate_table(rates: Sequence[ModelRate], estimates: Sequence[Estimate]) -> Table:
    table = Table(title="runtime estimate (sequential, one process)")
    for name in ("scenario", "model", "s/step", "train", "eval", "overhead", "total"):
        table.add_column(name, justify="left" if name in ("scenario", "model") else "right")
    per_step = {r.model: r.seconds_per_step for r in rates}
    for e in estimates:
        table.add_row(
            str(e.scenario),
            e.model,
            f"{per_step[e.model]:.4f}",
            duration(e.train_seconds),
            duration(e.eval_seconds),
            duration(e.overhead_seconds),
            duration(e.total_seconds),
        )
    return table


def duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
