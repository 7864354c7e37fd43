"""The gates: from recorded seed runs to pass/fail per model, with the reasons.

Everything here reads only RunRecords, never a model: `wf-gate check` can re-judge an old report
with stricter thresholds, and shards merged from many machines are judged exactly like one run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

from worldflux.gates import families
from worldflux.gates.records import Evaluation, RunRecord, run_id
from worldflux.gates.settings import GateSettings, MeasureSettings
from worldflux.gates.stats import (
    bootstrap_ci,
    clopper_pearson,
    coefficient_of_variation,
    relative_difference,
)

# Family metric names each trend gate looks for (first present wins; loss components count too).
TOKEN_METRICS = ("perplexity", "token_ce", "cross_entropy")
DIFFUSION_METRICS = ("denoise_error", "denoise_mse")
REPRESENTATION_METRICS = ("representation_loss", "rep_loss")
SPREAD_METRICS = ("embedding_std", "embedding_spread")
MASK_METRICS = ("mask_ratio", "masked_fraction")


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
    if not run.skill:
        return False, f"seed {run.seed}: no prediction metric was measured"
    if not gains:
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


def action_dependence_gate(runs: Sequence[RunRecord], settings: GateSettings) -> dict[str, Any]:
    """Every seed's predictions must depend on the actions (what a planner needs)."""
    results = [action_dependence(r, settings) for r in runs]
    failed = [why for ok, why in results if ok is False]
    if not runs:
        return {"pass": False, "reasons": ["no runs recorded"]}
    if failed:
        return {"pass": False, "reasons": failed}
    if all(ok is None for ok, _ in results):
        return {"pass": None, "reasons": ["does not apply: the model takes no actions"]}
    return {"pass": True, "reasons": [], "details": [why for _, why in results]}


# -- common -----------------------------------------------------------------------------------


def common_gate(
    runs: Sequence[RunRecord], settings: GateSettings, missing: Sequence[int] = ()
) -> dict[str, Any]:
    """Every metric finite and success rate >= the threshold, with two intervals for the rate."""
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
            f"exact {settings.confidence:.0%} lower bound of the success rate {exact_low:.3f} "
            f"is below the required {settings.min_ci_low:.3f}"
        )
    return {
        "runs": n,
        "successes": k,
        "success_rate": rate,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "exact_ci_low": exact_low,
        "exact_ci_high": exact_high,
        "confidence": settings.confidence,
        "finite": finite,
        "pass": not reasons,
        "reasons": reasons,
    }


# -- family -----------------------------------------------------------------------------------


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


def _components_finite(run: RunRecord) -> list[str]:
    if run.final is None:
        return [f"seed {run.seed}: no final evaluation ({run.status}: {run.error or ''})".rstrip()]
    bad = [k for k, v in run.final.components.items() if not math.isfinite(v)]
    if not math.isfinite(run.final.total):
        bad.insert(0, "total")
    return [f"seed {run.seed}: non-finite loss component(s) {', '.join(bad)}"] if bad else []


def _reference(run: RunRecord, settings: GateSettings) -> list[str]:
    reasons = _components_finite(run)
    drop = math.nan if run.loss_drop is None else run.loss_drop
    if not reasons and not drop >= settings.min_loss_drop:
        reasons.append(
            f"seed {run.seed}: held-out loss drop {drop:.1%} < {settings.min_loss_drop:.0%}"
        )
    return reasons


def _token(run: RunRecord, settings: GateSettings) -> list[str]:
    return _components_finite(run) or _trend(run, TOKEN_METRICS, settings, "token CE/perplexity")


def _diffusion(run: RunRecord, settings: GateSettings) -> list[str]:
    return _components_finite(run) or _trend(run, DIFFUSION_METRICS, settings, "denoise-error")


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
    return _components_finite(run) or _trend(
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
    return _components_finite(run) or _trend(
        run, REPRESENTATION_METRICS, settings, "representation-loss"
    ) + _mask_pipeline(run)


def _contract_failed(run: RunRecord) -> list[str]:
    """A contract failure fails the family whatever its kind."""
    contract = run.checks.get("contract")
    if contract is not None and contract.passed is False:
        return [f"seed {run.seed}: contract suite failed ({contract.detail})"]
    return []


def _generic(run: RunRecord, settings: GateSettings) -> list[str]:
    del settings
    reasons = []
    if run.checks.get("contract") is None:
        reasons.append(f"seed {run.seed}: contract suite not run")
    if run.status != "ok" or run.steps_done < 1:
        reasons.append(f"seed {run.seed}: no finite trainer step ({run.status}: {run.error or ''})")
    return reasons + _components_finite(run)


FamilyCheck = Callable[[RunRecord, GateSettings], list[str]]
FAMILY_CHECKS: dict[str, tuple[str, FamilyCheck]] = {
    families.REFERENCE: ("held-out loss drop >= threshold and finite components", _reference),
    families.TOKEN: ("token CE/perplexity falls", _token),
    families.DIFFUSION: ("denoise error falls", _diffusion),
    families.JEPA: ("representation loss falls and embeddings do not collapse", _jepa),
    families.VJEPA2: ("representation loss falls and the mask pipeline is finite", _vjepa2),
    families.GENERIC: ("contract suite passes and a trainer step is finite", _generic),
}


def family_gate(kind: str, runs: Sequence[RunRecord], settings: GateSettings) -> dict[str, Any]:
    """The family's own criterion, met by at least `family_min_fraction` of the seeds.

    Reference families demand the loss-drop threshold of every seed by default (issue 4: 5 of 5).
    """
    if kind not in FAMILY_CHECKS:
        raise ValueError(f"unknown gate kind {kind!r}; known: {', '.join(FAMILY_CHECKS)}")
    description, check = FAMILY_CHECKS[kind]
    per_run = [_contract_failed(r) + check(r, settings) for r in runs]
    met = sum(not reasons for reasons in per_run)
    fraction = met / len(runs) if runs else 0.0
    reasons: list[str] = []
    if not runs:
        reasons.append("no runs recorded")
    elif fraction < settings.family_min_fraction:
        reasons.append(
            f"{met}/{len(runs)} seeds meet '{description}' "
            f"(needs {settings.family_min_fraction:.0%})"
        )
        reasons += [r for run_reasons in per_run for r in run_reasons]
    return {
        "kind": kind,
        "criterion": description,
        "met": met,
        "fraction": fraction,
        "pass": not reasons,
        "reasons": reasons,
    }


# -- reproducibility --------------------------------------------------------------------------


def _comparable(evaluation: Evaluation | None, prefix: str) -> dict[str, float]:
    if evaluation is None:
        return {}
    values = {f"{prefix}.total": evaluation.total}
    values.update({f"{prefix}.{k}": v for k, v in evaluation.components.items()})
    values.update({f"{prefix}.metrics.{k}": v for k, v in evaluation.metrics.items()})
    return values


def seed_stability(
    original: RunRecord | None,
    rerun: RunRecord | None,
    settings: GateSettings,
    measure: MeasureSettings,
) -> dict[str, Any]:
    """A rerun of one seed must repeat its metrics: within tolerance, bit for bit on CPU."""
    if measure.rerun_seed is None:
        return {"pass": None, "reasons": ["not measured: no rerun seed was requested"]}
    if original is None or rerun is None:
        which = "original run" if original is None else "rerun"
        return {
            "pass": False,
            "reasons": [f"seed {measure.rerun_seed}: the {which} is missing"],
        }
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
    exact = settings.require_identical_on_cpu and measure.deterministic and original.device == "cpu"
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
    return {
        "pass": not reasons,
        "seed": original.seed,
        "identical": identical,
        "required_identical": exact,
        "max_relative_diff": worst,
        "reasons": reasons,
    }


def _check_gate(runs: Sequence[RunRecord], name: str) -> dict[str, Any]:
    """Aggregate one per-run check: fails if any run failed it, None if it never applied."""
    results = [(r, r.checks.get(name)) for r in runs]
    failed = [
        f"seed {r.seed}: {c.detail}" for r, c in results if c is not None and c.passed is False
    ]
    applied = [c for _, c in results if c is not None and c.passed is not None]
    if failed:
        return {"pass": False, "reasons": failed}
    if not applied:
        details = sorted({c.detail for _, c in results if c is not None and c.detail})
        return {"pass": None, "reasons": details or [f"not measured: the {name} check was not run"]}
    missing = [str(r.seed) for r, c in results if c is None and r.status == "ok"]
    if missing:
        return {
            "pass": False,
            "reasons": [f"no {name} check recorded for seed(s) {', '.join(missing)}"],
        }
    return {"pass": True, "checked": len(applied), "reasons": []}


def seed_variance(runs: Sequence[RunRecord], settings: GateSettings) -> dict[str, Any]:
    finals = [r.final.total for r in runs if r.status == "ok" and r.final is not None]
    if len(finals) < 2:
        return {"pass": None, "cv": None, "reasons": ["not measured: needs at least two seeds"]}
    cv = coefficient_of_variation(finals)
    reasons = []
    if not cv <= settings.max_seed_cv:
        reasons.append(
            f"coefficient of variation of final held-out loss {cv:.1%} "
            f"exceeds {settings.max_seed_cv:.0%}"
        )
    return {"pass": not reasons, "cv": cv, "reasons": reasons}


def _all_pass(*results: dict[str, Any]) -> bool | None:
    """False when any gate failed; None when none failed but one was not measured ("n/a" is
    never "pass"); True only when every one passed."""
    verdicts = [r["pass"] for r in results]
    if any(v is False for v in verdicts):
        return False
    return None if any(v is None for v in verdicts) else True


def planner_gate(runs: Sequence[RunRecord], dependence: dict[str, Any]) -> dict[str, Any]:
    """The planner boundary: planning returns a valid ActionPayload, and the plans can depend
    on the actions (a model whose predictions ignore them gives a planner nothing to choose)."""
    gate = _check_gate(runs, "planner")
    if gate["pass"] is True and dependence["pass"] is False:
        return {
            "pass": False,
            "reasons": [
                "plans cannot depend on the actions: " + why for why in dependence["reasons"]
            ],
        }
    return gate


def evidence_gate(runs: Sequence[RunRecord], settings: GateSettings) -> dict[str, Any]:
    """Enough seeds for a release verdict: fewer is "insufficient evidence", never a pass."""
    n = len(runs)
    if n >= settings.min_seeds:
        return {"pass": True, "seeds": n, "required": settings.min_seeds, "reasons": []}
    return {
        "pass": None,
        "seeds": n,
        "required": settings.min_seeds,
        "reasons": [f"insufficient evidence: {n} seed(s), a verdict needs {settings.min_seeds}"],
    }


# -- per model --------------------------------------------------------------------------------


def summarize_model(
    model: str,
    runs: Sequence[RunRecord],
    measure: MeasureSettings,
    settings: GateSettings,
    planned: Collection[str] | None = None,
) -> dict[str, Any]:
    """The summary block for one model, keeping the doc's field names.

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
    kind = first.gate_kind if first else families.GENERIC

    common = common_gate(seed_runs, settings, missing)
    family = family_gate(kind, seed_runs, settings)
    original = next((r for r in seed_runs if r.seed == measure.rerun_seed), None)
    rerun = next((r for r in reruns if r.seed == measure.rerun_seed), None)
    stability = seed_stability(original, rerun, settings, measure)
    if measure.rerun_seed is not None and not {
        run_id(model, measure.rerun_seed),
        run_id(model, measure.rerun_seed, True),
    } <= set(planned):
        stability = {
            "pass": None,
            "reasons": [
                "not measured in this shard: the run and its rerun are in different shards"
            ],
        }
    parity = _check_gate(seed_runs, "save_load_parity")
    variance = seed_variance(seed_runs, settings)
    reproducibility = {
        "seed_stability": stability,
        "save_load_parity": parity,
        "seed_variance": variance,
        "pass": _all_pass(stability, parity, variance),
    }
    dependence = action_dependence_gate(seed_runs, settings)
    planner = planner_gate(seed_runs, dependence)
    evidence = evidence_gate(seed_runs, settings)
    family_pass = bool(common["pass"] and family["pass"])
    # A planner gate that does not apply (no reward, no goal) is not missing evidence.
    judged = [reproducibility, dependence, evidence]
    if planner["pass"] is False:
        judged.append(planner)
    overall = _all_pass({"pass": family_pass}, *judged)
    verdict = {True: "pass", False: "fail", None: "insufficient evidence"}[overall]

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
            "common": common,
            "family": family,
            "family_pass": family_pass,
            "reproducibility": reproducibility,
            "action_dependence": dependence,
            "planner": planner,
            "evidence": evidence,
            "pass": overall is True,
        },
        "verdict": verdict,
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


def named_gates(block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every gate of a model's summary block with its display name, in report order."""
    gates = block["gates"]
    repro = gates["reproducibility"]
    return [
        ("common", gates["common"]),
        (f"family ({gates['family']['kind']})", gates["family"]),
        ("reproducibility.seed_stability", repro["seed_stability"]),
        ("reproducibility.save_load_parity", repro["save_load_parity"]),
        ("reproducibility.seed_variance", repro["seed_variance"]),
        ("action_dependence", gates["action_dependence"]),
        ("planner", gates["planner"]),
        ("evidence", gates["evidence"]),
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
        for name, gate in named_gates(block):
            if gate["pass"] is verdict:
                for reason in gate["reasons"] or ["failed" if verdict is False else "not measured"]:
                    lines.append(f"{model}: {name}: {reason}")
    return lines
