"""The built-in gates: from recorded seed runs to pass/fail per model, with the reasons.

Each gate is a `Gate` class registered in `GATES` in report order (gates.gate says what a gate
is). The per-run predicates (`is_success`, `skill_problems`, `action_dependence`) are shared by
the gates and the run table.

Everything here reads only RunRecords, never a model: `wf-gate check` can re-judge an old report
with stricter thresholds, and shards merged from many machines are judged exactly like one run.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from worldflux.gates.gate import (
    FAILS,
    GATES,
    IGNORED,
    Gate,
    GateInput,
    GateResult,
    evaluate_gates,
    register_gate,
)
from worldflux.gates.kinds import GATE_KINDS, GENERIC
from worldflux.gates.records import Evaluation, RunRecord, run_id
from worldflux.gates.settings import GateSettings, MeasureSettings
from worldflux.gates.stats import (
    bootstrap_ci,
    clopper_pearson,
    coefficient_of_variation,
    relative_difference,
)


def skill_problems(run: RunRecord, settings: GateSettings) -> list[str]:
    """Why the run's held-out predictions do not count as skill (empty when they do).

    No primary metric is no evidence, never a pass; every metric, primary or not, must be
    finite."""
    if run.status != "ok" or run.final is None:
        return []  # the status says why; nothing was measured
    primary = {name: m for name, m in run.skill.items() if m.primary}
    if not primary:
        return [
            f"seed {run.seed}: no prediction metric was measured (the family declares none "
            "that its interface supports), so there is no evidence of skill"
        ]
    out = []
    for name, metric in sorted(run.skill.items()):
        best, error = metric.best_baseline
        if not metric.finite:
            out.append(
                f"seed {run.seed}: {name} prediction error is not finite "
                f"(model {metric.model_error:.4g}, {best} baseline {error:.4g})"
            )
        elif metric.primary and not metric.skill >= settings.min_skill:
            out.append(
                f"seed {run.seed}: {name} skill {metric.skill:.1%} is below "
                f"{settings.min_skill:.0%} (held-out open-loop MSE {metric.model_error:.4g} "
                f"vs {best} baseline {error:.4g})"
            )
    return out


def is_success(run: RunRecord, settings: GateSettings) -> bool:
    """Finite, the held-out loss fell by at least the threshold, and every primary prediction
    metric beats the best trivial baseline by at least `min_skill`."""
    return (
        run.status == "ok"
        and run.finite
        and run.loss_drop is not None
        and math.isfinite(run.loss_drop)
        and run.loss_drop >= settings.min_loss_drop
        and bool(run.skill)
        and not skill_problems(run, settings)
    )


def _describe_failure(run: RunRecord, settings: GateSettings) -> list[str]:
    if run.status != "ok":
        return [f"seed {run.seed}: {run.status}: {run.error or 'no detail'}"]
    if not run.finite:
        return [f"seed {run.seed}: non-finite held-out metrics", *skill_problems(run, settings)]
    out = []
    drop = run.loss_drop if run.loss_drop is not None else math.nan
    if not drop >= settings.min_loss_drop:
        out.append(
            f"seed {run.seed}: held-out loss drop {drop:.1%} is below "
            f"the {settings.min_loss_drop:.0%} threshold"
        )
    return out + skill_problems(run, settings)


def action_dependence(run: RunRecord, settings: GateSettings) -> tuple[bool | None, str]:
    """Whether the run's predictions depend on the actions: (verdict, why).

    None only for a model that takes no actions; a run without measurements fails."""
    if run.status != "ok" or run.final is None:
        return False, f"seed {run.seed}: not measured ({run.status})"
    gains = {
        name: m.action_gain
        for name, m in run.skill.items()
        if m.primary and m.action_gain is not None
    }
    if not any(m.primary for m in run.skill.values()):
        return False, f"seed {run.seed}: no prediction metric was measured"
    if not gains:  # measure_skill leaves action_gain unset only for action kind `none`
        return None, f"seed {run.seed}: the model takes no actions"
    name = max(gains, key=lambda k: gains[k] if math.isfinite(gains[k]) else -math.inf)
    gain = gains[name]
    if not gain >= settings.min_action_gain:
        return False, (
            f"seed {run.seed}: predictions barely depend on the actions: with actions shuffled "
            f"across the batch the {name} error changes by {gain:+.1%} "
            f"(needs +{settings.min_action_gain:.0%})"
        )
    return True, f"seed {run.seed}: {name} error {gain:+.1%} with shuffled actions"


def _contract_failed(run: RunRecord) -> list[str]:
    """A contract failure fails the family whatever its kind."""
    contract = run.checks.get("contract")
    if contract is not None and contract.passed is False:
        return [f"seed {run.seed}: contract suite failed ({contract.detail})"]
    return []


@register_gate
class CommonGate(Gate):
    name = "common"
    column = "common"
    description = (
        "every metric finite, success rate >= min_success_rate (a success: loss drop and "
        "prediction skill over the baselines) and its exact lower bound >= min_ci_low"
    )
    unmeasured = FAILS
    schema: ClassVar[Mapping[str, Any]] = {
        "required": ["ci_low", "ci_high", "exact_ci_low", "exact_ci_high", "confidence", "finite"],
        "properties": {
            "pass": {"type": "boolean"},
            **{
                key: {"$ref": "#/$defs/fraction"}
                for key in ("ci_low", "ci_high", "exact_ci_low", "exact_ci_high")
            },
        },
    }

    def evaluate(self, given: GateInput) -> GateResult:
        runs, settings, missing = given.runs, given.settings, given.missing
        reasons: list[str] = []
        n = len(runs)
        successes = [is_success(r, settings) for r in runs]
        k = sum(successes)
        rate = k / n if n else 0.0
        finite = n > 0 and all(r.finite and r.status != "error" for r in runs)
        if n:
            ci_low, ci_high = bootstrap_ci(
                np.asarray(successes, dtype=float),
                settings.confidence,
                settings.bootstrap_resamples,
                settings.bootstrap_seed,
            )
            exact_low, exact_high = clopper_pearson(k, n, settings.confidence)
        else:
            ci_low = ci_high = exact_low = exact_high = 0.0
            reasons.append("no runs recorded")
        if missing:
            reasons.append(f"incomplete: no record for seed(s) {', '.join(map(str, missing))}")
        if n and not finite:
            bad = [str(r.seed) for r in runs if not r.finite or r.status == "error"]
            reasons.append(f"non-finite or failed metrics in seed(s) {', '.join(bad)}")
        if n and rate < settings.min_success_rate:
            reasons.append(
                f"success rate {k}/{n} = {rate:.0%} is below {settings.min_success_rate:.0%}"
            )
            for run, ok in zip(runs, successes, strict=True):
                if not ok:
                    reasons += _describe_failure(run, settings)
        if n and exact_low < settings.min_ci_low:
            reasons.append(
                f"exact {settings.confidence:.0%} lower bound of the success rate "
                f"{exact_low:.3f} is below the required {settings.min_ci_low:.3f}"
            )
        figures = {
            "runs": n,
            "successes": k,
            "success_rate": rate,
            "ci_low": ci_low,
            "ci_high": ci_high,
            "exact_ci_low": exact_low,
            "exact_ci_high": exact_high,
            "confidence": settings.confidence,
            "finite": finite,
        }
        return GateResult(not reasons, tuple(reasons), figures)


@register_gate
class FamilyGate(Gate):
    """The criterion of the family's gate kind (gates.kinds), met by at least
    `family_min_fraction` of the seeds; a failed contract check fails it whatever the kind."""

    name = "family"
    column = "family"
    description = "the family's own criterion (its gate kind) on at least family_min_fraction seeds"
    unmeasured = FAILS
    note = "kind"
    schema: ClassVar[Mapping[str, Any]] = {"required": ["kind", "criterion"]}

    def evaluate(self, given: GateInput) -> GateResult:
        runs, settings = given.runs, given.settings
        kind = GATE_KINDS.get(given.kind)
        per_run = [_contract_failed(r) + kind.check(r, settings) for r in runs]
        met = sum(not reasons for reasons in per_run)
        fraction = met / len(runs) if runs else 0.0
        reasons: list[str] = []
        if not runs:
            reasons.append("no runs recorded")
        elif fraction < settings.family_min_fraction:
            reasons.append(
                f"{met}/{len(runs)} seeds meet '{kind.criterion}' "
                f"(needs {settings.family_min_fraction:.0%})"
            )
            reasons += [r for run_reasons in per_run for r in run_reasons]
        figures = {"kind": kind.name, "criterion": kind.criterion, "met": met, "fraction": fraction}
        return GateResult(not reasons, tuple(reasons), figures)


def _comparable(evaluation: Evaluation | None, prefix: str) -> dict[str, float]:
    if evaluation is None:
        return {}
    values = {f"{prefix}.total": evaluation.total}
    values.update({f"{prefix}.{k}": v for k, v in evaluation.components.items()})
    values.update({f"{prefix}.metrics.{k}": v for k, v in evaluation.metrics.items()})
    return values


@register_gate
class SeedStabilityGate(Gate):
    name = "seed_stability"
    column = "stable"
    description = (
        "a rerun of one seed repeats its metrics: bit for bit on CPU, else within "
        "stability_tolerance"
    )

    def evaluate(self, given: GateInput) -> GateResult:
        measure, settings, model = given.measure, given.settings, given.model
        if measure.rerun_seed is None:
            return GateResult(None, ("not measured: no rerun seed was requested",))
        if not {
            run_id(model, measure.rerun_seed),
            run_id(model, measure.rerun_seed, True),
        } <= set(given.planned):
            return GateResult(
                None,
                ("not measured in this shard: the run and its rerun are in different shards",),
            )
        original = next((r for r in given.runs if r.seed == measure.rerun_seed), None)
        rerun = next((r for r in given.reruns if r.seed == measure.rerun_seed), None)
        if original is None or rerun is None:
            which = "original run" if original is None else "rerun"
            return GateResult(False, (f"seed {measure.rerun_seed}: the {which} is missing",))
        a = {**_comparable(original.initial, "initial"), **_comparable(original.final, "final")}
        b = {**_comparable(rerun.initial, "initial"), **_comparable(rerun.final, "final")}
        reasons = []
        if original.status != rerun.status or set(a) != set(b):
            reasons.append(
                f"seed {original.seed}: the rerun ended differently "
                f"({original.status} vs {rerun.status})"
            )
        diffs = {k: relative_difference(a[k], b[k]) for k in sorted(set(a) & set(b))}
        finite_diffs = [d for k, d in diffs.items() if not (math.isnan(a[k]) and math.isnan(b[k]))]
        worst = max(finite_diffs, default=0.0)
        identical = not reasons and all(
            a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in diffs
        )
        exact = (
            settings.require_identical_on_cpu and measure.deterministic and original.device == "cpu"
        )
        if exact and not identical and not reasons:
            worst_key = max(diffs, key=lambda k: diffs[k])
            reasons.append(
                f"seed {original.seed}: deterministic CPU rerun differs "
                f"({worst_key}: {a[worst_key]!r} vs {b[worst_key]!r})"
            )
        elif not exact and worst > settings.stability_tolerance:
            worst_key = max(diffs, key=lambda k: diffs[k])
            reasons.append(
                f"seed {original.seed}: rerun differs by {worst:.1%} in {worst_key} "
                f"(tolerance {settings.stability_tolerance:.0%})"
            )
        figures = {
            "seed": original.seed,
            "identical": identical,
            "required_identical": exact,
            "max_relative_diff": worst,
        }
        return GateResult(not reasons, tuple(reasons), figures)


def check_gate(runs: Sequence[RunRecord], name: str) -> GateResult:
    """Aggregate one per-run check: fails if any run failed it, None if it never applied."""
    results = [(r, r.checks.get(name)) for r in runs]
    failed = [
        f"seed {r.seed}: {c.detail}" for r, c in results if c is not None and c.passed is False
    ]
    applied = [c for _, c in results if c is not None and c.passed is not None]
    if failed:
        return GateResult(False, tuple(failed))
    if not applied:
        details = sorted({c.detail for _, c in results if c is not None and c.detail})
        return GateResult(None, tuple(details or [f"not measured: the {name} check was not run"]))
    missing = [str(r.seed) for r, c in results if c is None and r.status == "ok"]
    if missing:
        return GateResult(False, (f"no {name} check recorded for seed(s) {', '.join(missing)}",))
    return GateResult(True, (), {"checked": len(applied)})


@register_gate
class SaveLoadParityGate(Gate):
    name = "save_load_parity"
    column = "parity"
    description = "a saved and reloaded model gives identical outputs, on every seed"

    def evaluate(self, given: GateInput) -> GateResult:
        return check_gate(given.runs, "save_load_parity")


@register_gate
class SeedVarianceGate(Gate):
    name = "seed_variance"
    column = "variance"
    description = "coefficient of variation of the final held-out loss <= max_seed_cv"
    note = "cv"

    def evaluate(self, given: GateInput) -> GateResult:
        finals = [r.final.total for r in given.runs if r.status == "ok" and r.final is not None]
        if len(finals) < 2:
            return GateResult(None, ("not measured: needs at least two seeds",), {"cv": None})
        cv = coefficient_of_variation(finals)
        reasons = []
        if not cv <= given.settings.max_seed_cv:
            reasons.append(
                f"coefficient of variation of final held-out loss {cv:.1%} "
                f"exceeds {given.settings.max_seed_cv:.0%}"
            )
        return GateResult(not reasons, tuple(reasons), {"cv": cv})

    @classmethod
    def cell(cls, result: GateResult) -> str:
        cv = result.figures.get("cv")
        return "" if cv is None or not math.isfinite(cv) else f"{cv:.1%}"


@register_gate
class ActionDependenceGate(Gate):
    name = "action_dependence"
    column = "actions"
    description = (
        "every seed's predictions depend on the actions: shuffling them across the batch "
        "raises the error by at least min_action_gain (does not apply to a model that takes "
        "no actions)"
    )
    # Not measured only when every seed's model takes no actions (action kind `none`): then
    # there is nothing for a planner to choose and nothing to gate; a seed with no primary
    # metric fails instead.
    unmeasured = IGNORED

    def evaluate(self, given: GateInput) -> GateResult:
        results = [action_dependence(r, given.settings) for r in given.runs]
        failed = [why for ok, why in results if ok is False]
        if not given.runs:
            return GateResult(False, ("no runs recorded",))
        if failed:
            return GateResult(False, tuple(failed))
        if all(ok is None for ok, _ in results):
            return GateResult(None, ("does not apply: the model takes no actions",))
        return GateResult(True, (), {"details": [why for _, why in results]})


@register_gate
class PlannerGate(Gate):
    """The planner boundary: planning returns a valid ActionPayload, and the plans can depend
    on the actions (a model whose predictions ignore them gives a planner nothing to choose).
    A planner check that does not apply (no reward, no goal) is not missing evidence."""

    name = "planner"
    column = "planner"
    description = (
        "planning through the model returns a valid ActionPayload that can depend on the actions"
    )
    unmeasured = IGNORED

    def evaluate(self, given: GateInput) -> GateResult:
        gate = check_gate(given.runs, "planner")
        dependence = given.earlier.get(ActionDependenceGate.name)
        if gate.passed is True and dependence is not None and dependence.passed is False:
            return GateResult(
                False,
                tuple("plans cannot depend on the actions: " + why for why in dependence.reasons),
            )
        return gate


@register_gate
class EvidenceGate(Gate):
    name = "evidence"
    column = "evidence"
    description = 'at least min_seeds seeds; fewer is "insufficient evidence", never a pass'

    def evaluate(self, given: GateInput) -> GateResult:
        n, required = len(given.runs), given.settings.min_seeds
        figures = {"seeds": n, "required": required}
        if n >= required:
            return GateResult(True, (), figures)
        return GateResult(
            None,
            (f"insufficient evidence: {n} seed(s), a verdict needs {required}",),
            figures,
        )


# -- per model --------------------------------------------------------------------------------


def summarize_model(
    model: str,
    runs: Sequence[RunRecord],
    measure: MeasureSettings,
    settings: GateSettings,
    planned: Collection[str] | None = None,
) -> dict[str, Any]:
    """The summary block for one model: its figures, every registered gate, the verdict.

    `planned` holds the run ids this report was meant to contain (a shard plans a slice); by
    default every seed and the stability rerun.
    """
    seed_runs = sorted((r for r in runs if not r.rerun), key=lambda r: r.seed)
    reruns = [r for r in runs if r.rerun]
    if planned is None:
        planned = {run_id(model, s) for s in measure.seeds}
        if measure.rerun_seed is not None:
            planned.add(run_id(model, measure.rerun_seed, True))
    planned_seeds = [s for s in measure.seeds if run_id(model, s) in planned]
    missing = sorted(set(planned_seeds) - {r.seed for r in seed_runs})
    first = seed_runs[0] if seed_runs else (reruns[0] if reruns else None)
    kind = first.gate_kind if first else GENERIC
    given = GateInput(model, kind, seed_runs, reruns, missing, planned, measure, settings, {})
    results, verdict = evaluate_gates(given)
    common = results[CommonGate.name].figures

    finals = [r.final.total for r in seed_runs if r.final is not None]
    initials = [r.initial.total for r in seed_runs if r.initial is not None]
    drops = [r.loss_drop for r in seed_runs if r.loss_drop is not None]
    return {
        "model": model,
        "family": first.family if first else model.partition(":")[0],
        "dataset": first.dataset if first else "",
        "gate_kind": kind,
        "runs": len(seed_runs),
        "planned_runs": len(planned_seeds),
        "successes": common["successes"],
        "success_rate": common["success_rate"],
        "initial_loss_mean": _mean(initials),
        "final_loss_mean": _mean(finals),
        "final_loss_std": float(np.std(finals, ddof=1)) if len(finals) > 1 else None,
        "loss_drop_mean": _mean(drops),
        "loss_drop_min": min(drops) if drops else None,
        "seconds_total": sum(r.seconds for r in runs),
        "steps_per_second_mean": _mean([r.steps_per_second for r in seed_runs]),
        "peak_memory_bytes_max": max((r.peak_memory_bytes for r in runs), default=0),
        "gates": {
            **{name: result.to_dict() for name, result in results.items()},
            "pass": verdict is True,
        },
        "verdict": {True: "pass", False: "fail", None: "insufficient evidence"}[verdict],
        "skill": skill_summary(seed_runs),
    }


def skill_summary(runs: Sequence[RunRecord]) -> dict[str, dict[str, Any]]:
    """Per metric, over the seeds: mean skill, its worst seed, mean errors of the model and of
    each baseline, mean action gain."""
    out: dict[str, dict[str, Any]] = {}
    names = sorted({name for r in runs for name in r.skill})
    for name in names:
        metrics = [r.skill[name] for r in runs if name in r.skill]
        gains = [m.action_gain for m in metrics if m.action_gain is not None]
        baselines = sorted({b for m in metrics for b in m.baselines})
        out[name] = {
            "primary": any(m.primary for m in metrics),
            "seeds": len(metrics),
            "skill_mean": _mean([m.skill for m in metrics]),
            "skill_min": min((m.skill for m in metrics), default=None),
            "model_error_mean": _mean([m.model_error for m in metrics]),
            "baseline_error_mean": {
                b: _mean([m.baselines[b] for m in metrics if b in m.baselines]) for b in baselines
            },
            "action_gain_mean": _mean(gains) if gains else None,
        }
    return out


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def gate_results(block: dict[str, Any]) -> list[tuple[type[Gate], GateResult]]:
    """Each registered gate with its result in a model's summary block, in report order."""
    return [
        (gate_class, GateResult.from_dict(block["gates"][gate_class.name]))
        for gate_class in GATES.values()
        if gate_class.name in block["gates"]
    ]


def failures(summary: dict[str, dict[str, Any]]) -> list[str]:
    """'model: gate: reason' lines for every failing gate, in a stable order."""
    return _lines(summary, False)


def not_measured(summary: dict[str, dict[str, Any]]) -> list[str]:
    """'model: gate: reason' lines for every gate without a verdict (never counted as pass)."""
    return _lines(summary, None)


def _lines(summary: dict[str, dict[str, Any]], verdict: bool | None) -> list[str]:
    lines = []
    for model, block in sorted(summary.items()):
        for gate_class, result in gate_results(block):
            if result.passed is verdict:
                for reason in result.reasons or ["failed" if verdict is False else "not measured"]:
                    lines.append(f"{model}: {gate_class.name}: {reason}")
    return lines
