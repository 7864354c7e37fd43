"""The Markdown report: the summary table, every failing gate with its reason, each run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from wf_gate.display import duration
from worldflux.gates import Report, failures


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.1%}"


def _gate(value: bool | None) -> str:
    return {True: "pass", False: "**FAIL**", None: "n/a"}[value]


def _num(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4g}"


def render(report: Report, figures: list[Path]) -> str:
    s, g = report.settings, report.gate_settings
    summary = report.summary()
    lines = [
        "# Quality-gate report",
        "",
        f"Measured {report.created} with worldflux {report.tool.get('worldflux')}, "
        f"torch {report.tool.get('torch')}: {len(s.seeds)} seed(s) x {s.steps} steps, "
        f"batch {s.batch_size} x {s.seq_len}, device {s.device}, "
        f"{'deterministic' if s.deterministic else 'non-deterministic'}; "
        f"held-out losses over {s.eval_batches} fixed batches.",
        "",
    ]
    for family, fields in sorted(s.overrides.items()):
        settings = ", ".join(f"`{k}={v!r}`" for k, v in sorted(fields.items()))
        lines += [f"Config overrides for {family}: {settings} (not the family's own values).", ""]
    lines += [
        f"A run succeeds when every metric is finite and its held-out loss falls by at least "
        f"{g.min_loss_drop:.0%}; the common gate needs a success rate of at least "
        f"{g.min_success_rate:.0%}. Intervals are {g.confidence:.0%}: a percentile bootstrap "
        f"({g.bootstrap_resamples} resamples, seed {g.bootstrap_seed}) and the exact "
        "Clopper-Pearson interval.",
        "",
        "## Summary",
        "",
        "| model | dataset | runs | success_rate | ci (bootstrap) | exact ci | mean loss drop | "
        "seed cv | common | family | reproducibility | planner | pass |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, b in summary.items():
        gates = b["gates"]
        c = gates["common"]
        repro = gates["reproducibility"]
        lines.append(
            f"| {model} | {b['dataset']} | {b['runs']}/{b['planned_runs']} | "
            f"{b['success_rate']:.0%} ({b['successes']}/{b['runs']}) | "
            f"[{c['ci_low']:.2f}, {c['ci_high']:.2f}] | "
            f"[{c['exact_ci_low']:.3f}, {c['exact_ci_high']:.3f}] | {_pct(b['loss_drop_mean'])} | "
            f"{_pct(repro['seed_variance'].get('cv'))} | {_gate(c['pass'])} | "
            f"{_gate(gates['family']['pass'])} ({gates['family']['kind']}) | "
            f"{_gate(repro['pass'])} | {_gate(gates['planner']['pass'])} | {_gate(gates['pass'])} |"
        )
    problems = failures(summary)
    lines += ["", "## Failing gates", ""]
    lines += [f"- {p}" for p in problems] if problems else ["None: every gate passed."]
    notes = [
        f"- {model}: {name}: {reason}"
        for model, b in summary.items()
        for name, gate in (
            ("seed stability", b["gates"]["reproducibility"]["seed_stability"]),
            ("save/load parity", b["gates"]["reproducibility"]["save_load_parity"]),
            ("seed variance", b["gates"]["reproducibility"]["seed_variance"]),
            ("planner", b["gates"]["planner"]),
        )
        if gate["pass"] is None
        for reason in gate["reasons"]
    ]
    if notes:
        lines += ["", "Gates that did not apply:", "", *notes]
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
