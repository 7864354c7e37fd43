"""The Markdown report: the summary table, every failing gate with its reason, each run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from wf_gate.display import duration, summary_cells, summary_columns
from worldflux.gates import Report, failures, not_measured


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.1%}"


def _gate(value: bool | None) -> str:
    return {True: "pass", False: "**FAIL**", None: "not measured"}[value]


def _num(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4g}"


def render(report: Report, figures: list[Path]) -> str:
    s, g = report.settings, report.gate_settings
    summary = report.summary()
    columns = summary_columns(ci="exact ci", drop="mean loss drop")
    lines = [
        "# Quality-gate report",
        "",
        f"Measured {report.created} with worldflux {report.tool.get('worldflux')}, "
        f"torch {report.tool.get('torch')}: {len(s.seeds)} seed(s) x {s.steps} steps"
        + "".join(f" ({family}: {steps})" for family, steps in sorted(s.family_steps.items()))
        + f", {s.schedule} learning rate, "
        f"batch {s.batch_size} x {s.seq_len}, device {s.device}, "
        f"{'deterministic' if s.deterministic else 'non-deterministic'}; "
        f"held-out losses over {s.eval_batches} fixed batches.",
        "",
    ]
    for family, fields in sorted(s.overrides.items()):
        settings = ", ".join(f"`{k}={v!r}`" for k, v in sorted(fields.items()))
        lines += [f"Config overrides for {family}: {settings} (not the family's own values).", ""]
    lines += [
        f"A run succeeds when every metric is finite, its held-out loss falls by at least "
        f"{g.min_loss_drop:.0%}, and each primary prediction metric ({s.skill_horizon} steps "
        f"open loop, in the data's units) beats the best trivial baseline fitted on the training "
        f"split by at least {g.min_skill:.0%} (skill = 1 - model error / baseline error). The "
        f"common gate needs a success rate of at least {g.min_success_rate:.0%}; predictions "
        f"must depend on the actions (error with actions shuffled across the batch at least "
        f"{g.min_action_gain:.0%} higher); a verdict needs {g.min_seeds} seeds. Intervals are "
        f"{g.confidence:.0%}: a percentile bootstrap ({g.bootstrap_resamples} resamples, seed "
        f"{g.bootstrap_seed}) and the exact Clopper-Pearson interval.",
        "",
        "## Summary",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for model, b in summary.items():
        lines.append("| " + " | ".join([*summary_cells(model, b, _gate), b["verdict"]]) + " |")
    lines += [
        "",
        "## Prediction skill",
        "",
        "Mean squared errors on held-out windows, averaged over the seeds; skill against the "
        "best baseline (its worst seed in brackets); action gain = error with shuffled actions "
        "/ error with the true actions - 1.",
        "",
        "| model | metric | primary | model error | baselines | skill (worst seed) | "
        "action gain |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, b in summary.items():
        for name, m in b["skill"].items():
            baselines = ", ".join(
                f"{k} {_num(v)}" for k, v in sorted(m["baseline_error_mean"].items())
            )
            lines.append(
                f"| {model} | {name} | {'yes' if m['primary'] else 'no'} | "
                f"{_num(m['model_error_mean'])} | {baselines} | {_pct(m['skill_mean'])} "
                f"({_pct(m['skill_min'])}) | {_pct(m['action_gain_mean'])} |"
            )
    problems = failures(summary)
    lines += ["", "## Failing gates", ""]
    lines += [f"- {p}" for p in problems] if problems else ["None: every gate passed."]
    notes = [f"- {line}" for line in not_measured(summary)]
    if notes:
        lines += ["", "Gates not measured (never counted as a pass):", "", *notes]
    lines += [
        "",
        "## Runs",
        "",
        "| run | status | initial | final | drop | success | train | eval | steps/s | peak MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report.ordered_runs():
        lines.append(
            f"| {r.run_id} | {r.status} | {_num(r.initial.total if r.initial else None)} | "
            f"{_num(r.final.total if r.final else None)} | {_pct(r.loss_drop)} | "
            f"{'yes' if r.success else 'no'} | {duration(r.train_seconds)} | "
            f"{duration(r.eval_seconds)} | {r.steps_per_second:.1f} | "
            f"{r.peak_memory_bytes / 2**20:.0f} |"
        )
    errors = [r for r in report.ordered_runs() if r.error]
    if errors:
        lines += ["", "Errors:", ""] + [f"- {r.run_id}: {r.error}" for r in errors]
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{p.stem}]({p.name})" for p in figures if p.suffix == ".png"]
    return "\n".join(lines) + "\n"
