"""The control gate: does a family's model, trained online, control the environment?

`wf-gate measure --control Pendulum-v1:-250` adds, to every (non-rerun) seed run, an online
run of the same model id on that gymnasium env (worldflux.agents.OnlineLoop: acting by the
planner, or by DreamerV3's actor, collecting, training at the set update-to-data ratio, with
the same seed), recorded as the run's `control` check with the final evaluation's returns.
The ControlGate then judges the family like the common gate judges prediction: a seed succeeds
when its mean evaluation return is above the threshold; the success rate over all planned
seeds with its exact (Clopper-Pearson) interval must reach min_success_rate and min_ci_low.

Honest by construction: the threshold is compared at judgement time with the recorded mean
return (so the report shows both), a seed whose run failed counts as a failure, a missing seed
fails the gate, and a family that cannot act in the env (no reward to plan for, an observation
space it cannot take) is "not measured" with the reason, never a pass. Without --control the
gate is not measured and does not touch the verdict.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping
from typing import Any, ClassVar

from worldflux.core import ContractError
from worldflux.gates.gate import IGNORED, Gate, GateInput, GateResult, register_gate
from worldflux.gates.records import CheckResult, RunRecord
from worldflux.gates.settings import ControlSettings
from worldflux.gates.stats import clopper_pearson

CHECK = "control"
# OnlineConfig.planner value that makes the agent act by the model's own actor (DreamerV3).
ACTOR = "actor"


def control_check(
    model: str,
    seed: int,
    control: ControlSettings,
    device: str = "cpu",
    overrides: Mapping[str, Any] | None = None,
    threads: int = 0,
) -> CheckResult:
    """One seed's online run. passed: mean return > threshold; None when the model cannot act
    in the env (the detail says why); False with the error when the run itself failed."""
    from worldflux.agents import OnlineConfig, OnlineLoop  # gymnasium: only when measured

    config = OnlineConfig(
        env_id=control.env_id,
        model=model,
        model_overrides=dict(overrides or {}),
        planner=control.planner,
        planner_settings=dict(control.planner_settings),
        num_envs=control.num_envs,
        total_env_steps=control.env_steps,
        seed_steps=control.seed_steps,
        utd_ratio=control.utd_ratio,
        batch_size=control.batch_size,
        seq_len=control.seq_len,
        eval_episodes=control.eval_episodes,
        seed=seed,
        device=device,
        threads=threads,
        max_episode_steps=control.max_episode_steps,
    )
    where = f"{model} on {control.env_id}"
    started = time.perf_counter()
    try:
        reason = cannot_act(model, control, overrides)
        if reason:
            return CheckResult(None, f"{where}: cannot act: {reason}")
        loop = OnlineLoop(config)
        try:
            result = loop.run()
        finally:
            loop.close()
    except Exception as err:  # a bad setting or a crash: a failure, never "not measured"
        at = traceback.extract_tb(err.__traceback__)[-1]
        return CheckResult(
            False,
            f"{where}: the online run failed: {type(err).__name__}: {err} "
            f"(at {at.filename}:{at.lineno})",
        )
    final = result["eval"][-1]
    mean = float(final["mean_return"])
    passed = math.isfinite(mean) and mean > control.threshold
    detail = (
        f"mean return {mean:.2f} over {len(final['returns'])} evaluation episodes "
        f"{'>' if passed else '<='} {control.threshold:g} after {result['env_steps']} env "
        f"steps and {result['updates']} updates"
    )
    return CheckResult(
        passed,
        detail,
        {
            "env_id": control.env_id,
            "mean_return": mean,
            "returns": [float(r) for r in final["returns"]],
            "threshold": control.threshold,
            "env_steps": int(result["env_steps"]),
            "updates": int(result["updates"]),
            "episodes": len(result["episodes"]),
            "seconds": time.perf_counter() - started,
            "seconds_by_part": {k: float(v) for k, v in result["seconds"].items()},
        },
    )


def cannot_act(
    model: str, control: ControlSettings, overrides: Mapping[str, Any] | None = None
) -> str | None:
    """Why `model` cannot act in the env at all, or None. Not measured, not failed: the env's
    spaces have no model spec, the family cannot take its observations, or it predicts no
    reward for a planner to maximise (and is not set to act by its actor). Everything else
    that goes wrong is the run's failure."""
    import gymnasium as gym

    from worldflux.agents import env_spaces
    from worldflux.core import create_world_model

    env = gym.make(control.env_id)  # an unknown id raises: a failure, the user's typo
    try:
        spaces = env_spaces(env.observation_space, env.action_space)
    except ContractError as err:
        return str(err)
    finally:
        env.close()
    try:
        built = create_world_model(model, **{**spaces.model_overrides(), **dict(overrides or {})})
    except ContractError as err:
        return f"the model does not take this env's spaces: {err}"
    if control.planner != ACTOR and not built.spec.has_reward:
        return "the model predicts no reward, so a planner has no return to maximise"
    return None


def _mean_return(check: CheckResult | None) -> float | None:
    if check is None or check.passed is None:
        return None
    value = check.values.get("mean_return")
    if isinstance(value, str):  # non-finite floats are stored as strings
        return math.nan
    return float(value) if isinstance(value, int | float) else math.nan


@register_gate
class ControlGate(Gate):
    name = "control"
    column = "control"
    description = (
        "with --control ENV:THRESHOLD: the model trained online on ENV gets a mean evaluation "
        "return above THRESHOLD on at least min_success_rate of the seeds (exact lower bound "
        ">= min_ci_low); not measured without it or for a model that cannot act"
    )
    # Not measured (no --control, or the family cannot act in the env) leaves the verdict to
    # the other gates; a measured failure fails the model.
    unmeasured = IGNORED
    note = "success_rate"
    schema: ClassVar[Mapping[str, Any]] = {
        "properties": {
            "env_id": {"type": "string"},
            "threshold": {"type": "number"},
            "runs": {"type": "integer", "minimum": 0},
            "successes": {"type": "integer", "minimum": 0},
            **{
                key: {"$ref": "#/$defs/fraction"}
                for key in ("success_rate", "exact_ci_low", "exact_ci_high", "confidence")
            },
            "mean_returns": {"type": "object"},
        },
    }

    def evaluate(self, given: GateInput) -> GateResult:
        if given.measure.control is None:
            return GateResult(None, ("not measured: no --control ENV:THRESHOLD was given",))
        control = ControlSettings.from_dict(given.measure.control)
        runs, settings = given.runs, given.settings
        if not runs:
            return GateResult(False, ("no runs recorded",))
        checks = [(r, r.checks.get(CHECK)) for r in runs]
        if all(c is not None and c.passed is None for _, c in checks):
            details = sorted({c.detail for _, c in checks if c is not None})
            return GateResult(None, tuple(f"not measured: {d}" for d in details))
        reasons: list[str] = []
        returns: dict[str, float | str | None] = {}
        successes = 0
        for run, check in checks:
            mean = _mean_return(check)
            returns[str(run.seed)] = None if mean is None else _json_float(mean)
            ok = mean is not None and math.isfinite(mean) and mean > control.threshold
            successes += ok
            if not ok:
                reasons.append(_seed_failure(run, check, mean, control.threshold))
        n = len(runs)
        rate = successes / n
        low, high = clopper_pearson(successes, n, settings.confidence)
        problems = []
        if given.missing:
            problems.append(
                f"incomplete: no record for seed(s) {', '.join(map(str, given.missing))}"
            )
        if rate < settings.min_success_rate:
            problems.append(
                f"{successes}/{n} seeds above return {control.threshold:g} on {control.env_id} "
                f"= {rate:.0%}, below {settings.min_success_rate:.0%}"
            )
            problems += reasons
        if low < settings.min_ci_low:
            problems.append(
                f"exact {settings.confidence:.0%} lower bound of the control success rate "
                f"{low:.3f} is below the required {settings.min_ci_low:.3f}"
            )
        figures = {
            "env_id": control.env_id,
            "threshold": control.threshold,
            "runs": n,
            "successes": successes,
            "success_rate": rate,
            "exact_ci_low": low,
            "exact_ci_high": high,
            "confidence": settings.confidence,
            "mean_returns": returns,
        }
        return GateResult(not problems, tuple(problems), figures)

    @classmethod
    def cell(cls, result: GateResult) -> str:
        if "successes" not in result.figures:
            return ""
        return f"{result.figures['successes']}/{result.figures['runs']}"


def _json_float(value: float) -> float | str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _seed_failure(
    run: RunRecord, check: CheckResult | None, mean: float | None, threshold: float
) -> str:
    if check is None:
        why = f"run {run.status}: {run.error}" if run.status != "ok" else "no control run recorded"
        return f"seed {run.seed}: no control measurement ({why})"
    if check.passed is None:
        return f"seed {run.seed}: {check.detail}"
    if mean is None or not math.isfinite(mean):
        return f"seed {run.seed}: {check.detail}"
    return f"seed {run.seed}: mean return {mean:.2f} <= {threshold:g}"
