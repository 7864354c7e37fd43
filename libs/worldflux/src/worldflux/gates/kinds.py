"""Gate kinds: the family-specific criterion of the `family` gate, and the dataset it trains on.

A family names its kind itself (`gate_kind` class attribute on its WorldModel subclass, and
optionally `gate_dataset`); nothing here names a family. A new kind is one `GateKind`
registered in `GATE_KINDS` (or through the `worldflux.gate_kinds` entry point group).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from worldflux.core.plugins import Registry
from worldflux.gates.records import Evaluation, RunRecord
from worldflux.gates.settings import GateSettings

KindCheck = Callable[[RunRecord, GateSettings], list[str]]


@dataclass(frozen=True)
class GateKind:
    """name; criterion: what the check demands, in words; check: a run's reasons to fail (empty
    when it meets the criterion); dataset: the bundled dataset a family of this kind trains on
    unless it declares its own."""

    name: str
    criterion: str
    check: KindCheck
    dataset: str = "pendulum"


GATE_KINDS: Registry[GateKind] = Registry(
    "gate kind", "worldflux.gate_kinds", builtins=("worldflux.gates.kinds",)
)
register_gate_kind = GATE_KINDS.register

REFERENCE = "reference"
GENERIC = "generic"

# Family metric names each trend check looks for (first present wins; loss components count too).
TOKEN_METRICS = ("perplexity", "token_ce", "cross_entropy")
DIFFUSION_METRICS = ("denoise_error", "denoise_mse")
REPRESENTATION_METRICS = ("representation_loss", "rep_loss")
SPREAD_METRICS = ("embedding_std", "embedding_spread")
MASK_METRICS = ("mask_ratio", "masked_fraction")
NOVEL_VIEW_METRICS = ("novel_view_error",)
NOVEL_VIEW_SKILL = "novel_view"  # the held-out prediction metric (worldflux.gates.views)


def gate_kind(model_class: Any) -> str:
    """The kind a family declares (`gate_kind`), or generic; an unknown kind is an error."""
    declared = getattr(model_class, "gate_kind", None) or GENERIC
    return GATE_KINDS.get(declared).name


def default_dataset(model_class: Any) -> str:
    """The family's `gate_dataset`, else its kind's dataset."""
    declared = getattr(model_class, "gate_dataset", None)
    if isinstance(declared, str) and declared:
        return declared
    return GATE_KINDS.get(gate_kind(model_class)).dataset


# -- the built-in checks ------------------------------------------------------------------------


def _lookup(evaluation: Evaluation | None, names: Sequence[str]) -> tuple[str, float] | None:
    if evaluation is None:
        return None
    for name in names:
        for table in (evaluation.metrics, evaluation.components):
            if name in table:
                return name, table[name]
    return None


def _trend(run: RunRecord, names: Sequence[str], settings: GateSettings, what: str) -> list[str]:
    before, after = _lookup(run.initial, names), _lookup(run.final, names)
    if before is None or after is None:
        return [f"seed {run.seed}: no {what} metric (one of {', '.join(names)}) in the evaluations"]
    name, first = before
    last = after[1]
    if not (math.isfinite(first) and math.isfinite(last)):
        return [f"seed {run.seed}: {name} is not finite ({first} -> {last})"]
    if not last < first - abs(first) * settings.trend_min_drop:
        return [f"seed {run.seed}: {name} did not fall ({first:.4g} -> {last:.4g})"]
    return []


def components_finite(run: RunRecord) -> list[str]:
    if run.final is None:
        return [f"seed {run.seed}: no final evaluation ({run.status}: {run.error or ''})".rstrip()]
    bad = [k for k, v in run.final.components.items() if not math.isfinite(v)]
    if not math.isfinite(run.final.total):
        bad.insert(0, "total")
    return [f"seed {run.seed}: non-finite loss component(s) {', '.join(bad)}"] if bad else []


def _reference(run: RunRecord, settings: GateSettings) -> list[str]:
    reasons = components_finite(run)
    drop = math.nan if run.loss_drop is None else run.loss_drop
    if not reasons and not drop >= settings.min_loss_drop:
        reasons.append(
            f"seed {run.seed}: held-out loss drop {drop:.1%} < {settings.min_loss_drop:.0%}"
        )
    return reasons


def _token(run: RunRecord, settings: GateSettings) -> list[str]:
    return components_finite(run) or _trend(run, TOKEN_METRICS, settings, "token CE/perplexity")


def _diffusion(run: RunRecord, settings: GateSettings) -> list[str]:
    return components_finite(run) or _trend(run, DIFFUSION_METRICS, settings, "denoise-error")


def _no_collapse(run: RunRecord, settings: GateSettings) -> list[str]:
    spread = _lookup(run.final, SPREAD_METRICS)
    if spread is None:
        return [f"seed {run.seed}: no embedding-spread metric (one of {', '.join(SPREAD_METRICS)})"]
    name, value = spread
    if not (math.isfinite(value) and value >= settings.min_embedding_std):
        return [
            f"seed {run.seed}: representation collapsed ({name} {value:.3g} "
            f"< {settings.min_embedding_std:g})"
        ]
    return []


def _jepa(run: RunRecord, settings: GateSettings) -> list[str]:
    return components_finite(run) or _trend(
        run, REPRESENTATION_METRICS, settings, "representation-loss"
    ) + _no_collapse(run, settings)


def _mask_pipeline(run: RunRecord) -> list[str]:
    mask = _lookup(run.final, MASK_METRICS)
    if mask is None:
        return [f"seed {run.seed}: no mask metric (one of {', '.join(MASK_METRICS)})"]
    name, value = mask
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        return [f"seed {run.seed}: mask pipeline broken ({name} = {value})"]
    return []


def _vjepa2(run: RunRecord, settings: GateSettings) -> list[str]:
    return components_finite(run) or _trend(
        run, REPRESENTATION_METRICS, settings, "representation-loss"
    ) + _mask_pipeline(run)


def _novel_view(run: RunRecord, settings: GateSettings) -> list[str]:
    """Rendered held-out views beat both the mean frame and the input view by min_skill, and
    the model's own novel-view error fell in training."""
    reasons = components_finite(run) or _trend(run, NOVEL_VIEW_METRICS, settings, "novel-view")
    metric = run.skill.get(NOVEL_VIEW_SKILL)
    if metric is None:
        return [*reasons, f"seed {run.seed}: no {NOVEL_VIEW_SKILL} prediction metric measured"]
    for baseline, error in sorted(metric.baselines.items()):
        skill = 1.0 - metric.model_error / error if error > 0 else math.nan
        if not skill >= settings.min_skill:
            reasons.append(
                f"seed {run.seed}: novel views {metric.model_error:.4g} vs {baseline} "
                f"{error:.4g}: skill {skill:.1%} < {settings.min_skill:.0%}"
            )
    return reasons


def _generic(run: RunRecord, settings: GateSettings) -> list[str]:
    del settings
    reasons = []
    if run.checks.get("contract") is None:
        reasons.append(f"seed {run.seed}: contract suite not run")
    if run.status != "ok" or run.steps_done < 1:
        reasons.append(f"seed {run.seed}: no finite trainer step ({run.status}: {run.error or ''})")
    return reasons + components_finite(run)


for _kind in (
    GateKind(REFERENCE, "held-out loss drop >= threshold and finite components", _reference),
    GateKind("token", "token CE/perplexity falls", _token, "tokens"),
    GateKind("diffusion", "denoise error falls", _diffusion, "pendulum-pixels"),
    # The representation kinds train on `push-natural` (content fills the frame with the 1/f
    # spectrum of natural images): on mostly-black frames a masked patch is known without any
    # prediction, and on the `push` mosaic almost nothing of it is implied by its context.
    GateKind(
        "jepa",
        "representation loss falls and embeddings do not collapse",
        _jepa,
        "push-natural",
    ),
    GateKind(
        "vjepa2",
        "representation loss falls and the mask pipeline is finite",
        _vjepa2,
        "push-natural",
    ),
    GateKind(
        "novel_view",
        "held-out novel views beat the mean frame and the input view; novel-view error falls",
        _novel_view,
        "scene3d",
    ),
    GateKind(GENERIC, "contract suite passes and a trainer step is finite", _generic),
):
    register_gate_kind(_kind)
