"""Report figures (matplotlib, Agg: no display needed): held-out loss curves across seeds, and
success rates with both intervals against the threshold."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from worldflux.gates import Report

FORMATS = ("png", "svg")


def _save(fig: Any, directory: Path, stem: str) -> list[Path]:
    paths = []
    for fmt in FORMATS:
        path = directory / f"{stem}.{fmt}"
        # A fixed date keeps SVG output byte-stable across runs of the same report.
        metadata = {"Date": None} if fmt == "svg" else {"Software": "wf-gate"}
        fig.savefig(path, format=fmt, dpi=110, bbox_inches="tight", metadata=metadata)
        paths.append(path)
    plt.close(fig)
    return paths


def loss_curves(report: Report, directory: Path) -> list[Path]:
    """One panel per model: the held-out loss of every seed along training (reruns dashed)."""
    models = [m for m in report.settings.models if any(r.model == m for r in report.runs.values())]
    if not models:
        return []
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        for run in report.ordered_runs():
            if run.model != model or not run.curve:
                continue
            points = [(s, v) for s, v in run.curve if math.isfinite(v)]
            if not points:
                continue
            steps, values = zip(*points, strict=True)
            label = f"seed {run.seed}" + (" (rerun)" if run.rerun else "")
            ax.plot(steps, values, linestyle="--" if run.rerun else "-", marker=".", label=label)
        ax.set_title(model)
        ax.set_xlabel("training step")
        ax.set_ylabel("held-out loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("held-out loss across seeds")
    return _save(fig, directory, "loss_curves")


def success_rates(
    summary: dict[str, dict[str, Any]], threshold: float, directory: Path
) -> list[Path]:
    """Success rate per model, with the bootstrap (thick) and Clopper-Pearson (thin) intervals."""
    if not summary:
        return []
    models = list(summary)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.6 * len(models) + 2), 3.6))
    for i, model in enumerate(models):
        common = summary[model]["gates"]["common"]
        rate = summary[model]["success_rate"]
        ax.vlines(i, common["exact_ci_low"], common["exact_ci_high"], color="grey", linewidth=1.5)
        ax.vlines(i, common["ci_low"], common["ci_high"], color="tab:blue", linewidth=6, alpha=0.5)
        ax.plot(i, rate, "o", color="green" if common["pass"] else "red")
    ax.axhline(threshold, color="black", linestyle=":", label=f"threshold {threshold:.0%}")
    ax.set_xticks(range(len(models)), models, rotation=15)
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("success rate")
    ax.set_title("success rate, bootstrap CI (thick) and exact CI (thin)")
    ax.legend(fontsize=8, loc="lower left")
    return _save(fig, directory, "success_rates")
