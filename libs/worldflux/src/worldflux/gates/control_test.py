"""The control gate: real online runs of tdmpc2:ci on Pendulum-v1 through `measure`, judged
against reachable, unreachable and random-policy thresholds; and its statistics on recorded
runs (exact interval, failed and missing seeds, families that cannot act)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

import worldflux.models.catalog  # noqa: F401  (registers the built-in families)
from worldflux.core import ContractError
from worldflux.gates.control import ControlGate, control_check
from worldflux.gates.criteria import failures, not_measured, summarize_model
from worldflux.gates.fakes_testutil import make_record
from worldflux.gates.gate import GATES, GateResult, overall
from worldflux.gates.measure import measure
from worldflux.gates.records import CheckResult
from worldflux.gates.report import read_report
from worldflux.gates.schema import validate_report
from worldflux.gates.settings import ControlSettings, GateSettings, MeasureSettings
from worldflux.gates.stats import clopper_pearson

torch.set_num_threads(1)
TINY_PLANNER = {
    "horizon": 3,
    "iterations": 1,
    "num_samples": 16,
    "num_elites": 2,
    "num_pi_trajs": 2,
}
# 10-step episodes: a Pendulum step costs at most 16.27, so every return is in [-162.7, 0].
SHORT = ControlSettings(
    "Pendulum-v1",
    threshold=-1000.0,
    env_steps=30,
    seed_steps=10,
    batch_size=8,
    eval_episodes=2,
    max_episode_steps=10,
    planner_settings=TINY_PLANNER,
)
MEASURE = MeasureSettings(
    models=["tdmpc2:ci"],
    seeds=[0, 1],
    steps=3,
    batch_size=4,
    seq_len=4,
    eval_batches=1,
    curve_points=0,
    datasets={"tdmpc2": "pendulum"},
    rerun_seed=None,
    checks=[],
    control=SHORT.to_dict(),
)
GATE = GateSettings(min_seeds=2)


def judged(report_runs: list, threshold: float, measure: MeasureSettings = MEASURE) -> dict:
    control = {**(measure.control or {}), "threshold": threshold}
    settings = dataclasses.replace(measure, control=control)
    return summarize_model("tdmpc2:ci", report_runs, settings, GATE)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    path = tmp_path_factory.mktemp("control") / "seed_runs.json"
    report = measure(MEASURE, GATE, path, workers=0, threads_per_worker=1)
    return path, report.ordered_runs()


def test_measured_runs_record_the_online_returns(measured: tuple[Path, list]) -> None:
    path, runs = measured
    data = json.loads(path.read_text())
    validate_report(data)  # the control settings and the gate's figures are in the schema
    assert data["settings"]["control"]["env_id"] == "Pendulum-v1"
    for run in runs:
        check = run.checks["control"]
        assert check.values["env_steps"] == 30 and check.values["updates"] == 20  # UTD 1
        returns = check.values["returns"]
        assert len(returns) == 2 and all(-163.0 < r <= 0.0 for r in returns)
        assert check.values["mean_return"] == pytest.approx(sum(returns) / 2)
    # The two seeds train and act differently.
    assert (
        runs[0].checks["control"].values["returns"] != runs[1].checks["control"].values["returns"]
    )
    gate = data["summary"]["tdmpc2:ci"]["gates"]["control"]
    assert gate["pass"] is True and gate["successes"] == 2
    assert read_report(path).summary()["tdmpc2:ci"]["gates"]["control"] == gate


def test_a_reachable_threshold_passes_with_the_exact_interval(measured: tuple[Path, list]) -> None:
    _, runs = measured
    worst = min(r.checks["control"].values["mean_return"] for r in runs)
    block = judged(runs, worst - 1.0)
    gate = block["gates"]["control"]
    low, high = clopper_pearson(2, 2, GATE.confidence)
    assert gate["pass"] is True and (gate["successes"], gate["runs"]) == (2, 2)
    assert (gate["exact_ci_low"], gate["exact_ci_high"]) == (low, high)
    assert set(gate["mean_returns"]) == {"0", "1"}


def test_an_unreachable_threshold_fails_and_says_why(measured: tuple[Path, list]) -> None:
    _, runs = measured
    best = max(r.checks["control"].values["mean_return"] for r in runs)
    for threshold in (1.0, best):  # above any return; exactly the best one ("above" is strict)
        block = judged(runs, threshold)
        gate = block["gates"]["control"]
        assert gate["pass"] is False and block["gates"]["pass"] is False
        assert block["verdict"] == "fail"
        lines = failures({"tdmpc2:ci": block})
        assert any("control" in line and "seeds above return" in line for line in lines)
    worst = min(r.checks["control"].values["mean_return"] for r in runs)
    assert worst < best  # (the seeds differ) ...
    assert judged(runs, worst)["gates"]["control"]["successes"] == 1  # ... and one is above


def test_an_untrained_agent_fails_a_threshold_random_policies_do_not_reach(
    tmp_path: Path,
) -> None:
    # Whole 200-step episodes, no update before evaluation: random seeding only. A random
    # Pendulum policy scores about -1200; -400 needs a swing-up.
    untrained = dataclasses.replace(
        SHORT, threshold=-400.0, env_steps=10, seed_steps=10, max_episode_steps=None
    )
    settings = dataclasses.replace(MEASURE, control=untrained.to_dict())
    report = measure(settings, GATE, tmp_path / "untrained.json", workers=0, threads_per_worker=1)
    block = report.summary()["tdmpc2:ci"]
    gate = block["gates"]["control"]
    for run in report.ordered_runs():
        values = run.checks["control"].values
        assert values["updates"] == 0 and len(values["returns"]) == 2
        assert values["mean_return"] < -400.0
        assert run.checks["control"].passed is False
    assert gate["pass"] is False and gate["successes"] == 0
    assert gate["exact_ci_low"] == 0.0
    validate_report(json.loads((tmp_path / "untrained.json").read_text()))


# -- the statistics on recorded runs ------------------------------------------------------


def control_run(seed: int, mean: float | None, passed: bool | None = True, **kwargs):
    record = make_record("tdmpc2:ci", seed, 2.0, 1.0, **kwargs)
    if mean is not None or passed is not None:
        values = {} if mean is None else {"mean_return": mean, "returns": [mean]}
        record.checks["control"] = CheckResult(passed, "detail", values)
    return record


FIVE = dataclasses.replace(MEASURE, seeds=[0, 1, 2, 3, 4], control={**SHORT.to_dict()})


def test_success_counts_every_seed_and_failed_runs_fail() -> None:
    # Four above -150, one run whose online loop crashed (no return): 4/5 = 80% passes the
    # default rate, but its exact lower bound is shown honestly; 3/5 fails.
    runs = [control_run(s, -100.0) for s in range(4)] + [control_run(4, None, passed=False)]
    settings = GateSettings()
    five = dataclasses.replace(FIVE, control={**SHORT.to_dict(), "threshold": -150.0})
    gate = summarize_model("tdmpc2:ci", runs, five, settings)["gates"]["control"]
    assert (gate["successes"], gate["runs"], gate["pass"]) == (4, 5, True)
    assert gate["exact_ci_low"] == pytest.approx(clopper_pearson(4, 5, 0.95)[0])
    runs[3] = control_run(3, -200.0, passed=False)
    gate = summarize_model("tdmpc2:ci", runs, five, settings)["gates"]["control"]
    assert (gate["successes"], gate["pass"]) == (3, False)
    assert any("seed 3: mean return -200.00 <= -150" in r for r in gate["reasons"])
    assert any("seed 4: detail" in r for r in gate["reasons"])
    strict = dataclasses.replace(settings, min_ci_low=0.5)
    runs[3] = control_run(3, -100.0)
    gate = summarize_model("tdmpc2:ci", runs, five, strict)["gates"]["control"]
    assert gate["pass"] is False and any("lower bound" in r for r in gate["reasons"])


def test_missing_seeds_and_missing_control_records_fail() -> None:
    five = dataclasses.replace(FIVE, control={**SHORT.to_dict(), "threshold": -150.0})
    runs = [control_run(s, -100.0) for s in range(4)]
    gate = summarize_model("tdmpc2:ci", runs, five, GateSettings())["gates"]["control"]
    assert gate["pass"] is False and any("no record for seed(s) 4" in r for r in gate["reasons"])
    runs.append(control_run(4, None, passed=None))  # no control check in the record at all
    assert "control" not in runs[4].checks
    gate = summarize_model("tdmpc2:ci", runs, five, GateSettings())["gates"]["control"]
    assert (gate["successes"], gate["runs"], gate["pass"]) == (4, 5, True)  # 80% is enough
    every = GateSettings(min_success_rate=1.0)
    gate = summarize_model("tdmpc2:ci", runs, five, every)["gates"]["control"]
    assert gate["pass"] is False
    assert any("seed 4: no control measurement" in r for r in gate["reasons"])


def test_not_measured_is_never_a_pass() -> None:
    runs = [control_run(s, None, passed=None) for s in range(5)]
    for r in runs:
        r.checks["control"] = CheckResult(None, "jepa:ci on Pendulum-v1: cannot act: no reward")
    block = summarize_model("tdmpc2:ci", runs, FIVE, GateSettings())
    gate = block["gates"]["control"]
    assert gate["pass"] is None and "cannot act" in gate["reasons"][0]
    assert any("control: not measured" in line for line in not_measured({"m": block}))
    # Without --control the gate is not measured either, and the other gates decide.
    plain = dataclasses.replace(FIVE, control=None)
    gate = summarize_model("tdmpc2:ci", runs, plain, GateSettings())["gates"]["control"]
    assert gate["pass"] is None and "no --control" in gate["reasons"][0]
    # Registered, and "not measured" leaves the verdict to the other gates; a fail fails it.
    assert GATES.get("control") is ControlGate
    assert overall({"control": GateResult(None, ("not measured",))}) is True
    assert overall({"control": GateResult(False, ("below",))}) is False


def test_a_family_without_reward_cannot_act_and_is_not_measured() -> None:
    check = control_check("jepa:ci", 0, SHORT)
    assert check.passed is None and "cannot act" in check.detail


def test_a_bad_setting_or_env_fails_instead_of_not_measured() -> None:
    bad_planner = dataclasses.replace(SHORT, planner_settings={"num_samples": 16})  # 64 elites
    check = control_check("tdmpc2:ci", 0, bad_planner)
    assert check.passed is False and "MPPIConfig.num_elites" in check.detail
    check = control_check("tdmpc2:ci", 0, dataclasses.replace(SHORT, env_id="NoSuchEnv-v0"))
    assert check.passed is False and "NoSuchEnv" in check.detail


@pytest.mark.parametrize(
    "text",
    ["Pendulum-v1", "Pendulum-v1:", ":-250", "Pendulum-v1:high", "Pendulum-v1:nan"],
)
def test_bad_control_targets_are_clear_errors(text: str) -> None:
    with pytest.raises(ValueError, match="ENV:THRESHOLD"):
        ControlSettings.parse(text)


def test_control_settings_are_validated_and_round_trip() -> None:
    parsed = ControlSettings.parse("Pendulum-v1:-250", env_steps=200, seed_steps=50)
    assert (parsed.env_id, parsed.threshold) == ("Pendulum-v1", -250.0)
    assert ControlSettings.from_dict(parsed.to_dict()) == parsed
    with pytest.raises(ValueError, match="seed_steps 300 exceeds env_steps 200"):
        ControlSettings("Pendulum-v1", -250, env_steps=200, seed_steps=300)
    with pytest.raises(ValueError, match="eval_episodes"):
        ControlSettings("Pendulum-v1", -250, eval_episodes=0)
    with pytest.raises(ContractError, match="unknown key 'steps'"):
        MeasureSettings(control={"env_id": "Pendulum-v1", "threshold": 0, "steps": 5})
    a = dataclasses.replace(MEASURE, control={**SHORT.to_dict(), "threshold": 0.0})
    assert any("control differs" in p for p in MEASURE.incompatibilities(a))
