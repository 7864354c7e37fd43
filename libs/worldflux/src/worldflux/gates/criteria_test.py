import math

import pytest

from worldflux.gates.criteria import (
    FamilyGate,
    failures,
    is_success,
    not_measured,
    summarize_model,
)
from worldflux.gates.fakes_testutil import make_record
from worldflux.gates.gate import GateInput
from worldflux.gates.records import CheckResult
from worldflux.gates.settings import GateSettings, MeasureSettings

GATES = GateSettings()
MEASURE = MeasureSettings(models=["tdmpc2:ci"], seeds=[0, 1, 2, 3, 4], steps=100)


def runs(finals: list[float], model: str = "tdmpc2:ci", **kwargs) -> list:
    return [make_record(model, seed, 2.0, final, **kwargs) for seed, final in enumerate(finals)]


def summary(records, measure: MeasureSettings = MEASURE, gates: GateSettings = GATES) -> dict:
    return summarize_model("tdmpc2:ci", records, measure, gates)


def test_five_of_five_passes_with_both_intervals() -> None:
    records = [*runs([1.0, 1.1, 1.05, 0.95, 1.0]), make_record(seed=0, final=1.0, rerun=True)]
    s = summary(records)
    common = s["gates"]["common"]
    assert s["success_rate"] == 1.0 and s["runs"] == 5 and s["successes"] == 5
    # The bootstrap collapses at 5/5; the exact interval does not.
    assert (common["ci_low"], common["ci_high"]) == (1.0, 1.0)
    assert common["exact_ci_low"] == pytest.approx(0.4782, abs=1e-4)
    assert common["exact_ci_high"] == 1.0
    assert common["pass"] and s["gates"]["family"]["pass"] and s["gates"]["pass"]
    assert s["gates"]["seed_stability"]["identical"] is True
    assert failures({"tdmpc2:ci": s}) == []


def test_four_of_five_passes_common_but_not_the_reference_family_gate() -> None:
    s = summary([*runs([1.0, 1.0, 1.0, 1.0, 1.9]), make_record(seed=0, final=1.0, rerun=True)])
    common = s["gates"]["common"]
    assert s["success_rate"] == 0.8 and common["pass"]
    assert common["exact_ci_low"] == pytest.approx(0.2836, abs=1e-4)
    assert common["exact_ci_high"] == pytest.approx(0.9949, abs=1e-4)
    assert common["ci_low"] < 0.8 < common["ci_high"]
    family = s["gates"]["family"]
    assert not family["pass"] and family["met"] == 4
    assert any("seed 4" in r and "5.0%" in r for r in family["reasons"])
    assert not s["gates"]["pass"] and s["verdict"] == "fail"
    lines = failures({"tdmpc2:ci": s})
    assert lines[0].startswith("tdmpc2:ci: family: 4/5 seeds meet")
    assert not any(line.startswith("tdmpc2:ci: common") for line in lines)


def test_three_of_five_fails_common_and_names_each_failing_seed() -> None:
    s = summary(runs([1.0, 1.0, 1.0, 1.95, 2.5]))
    common = s["gates"]["common"]
    assert not common["pass"] and s["success_rate"] == 0.6
    text = " | ".join(common["reasons"])
    assert "3/5 = 60% is below 80%" in text
    assert "seed 3: held-out loss drop 2.5% is below the 10% threshold" in text
    assert "seed 4: held-out loss drop -25.0%" in text


def test_nonfinite_and_failed_runs_break_the_common_gate() -> None:
    records = runs([1.0, 1.0, 1.0, 1.0])
    records.append(make_record(seed=4, status="nonfinite"))
    s = summary(records)
    assert not s["gates"]["common"]["finite"]
    assert any(
        "non-finite or failed metrics in seed(s) 4" in r for r in s["gates"]["common"]["reasons"]
    )
    nan_final = make_record(seed=4, final=math.nan)
    s = summary([*records[:4], nan_final])
    assert not s["gates"]["common"]["pass"] and not is_success(nan_final, GATES)


def test_missing_seeds_make_the_report_incomplete() -> None:
    s = summary(runs([1.0, 1.0, 1.0]))
    assert not s["gates"]["common"]["pass"]
    assert "incomplete: no record for seed(s) 3, 4" in s["gates"]["common"]["reasons"]


def test_stricter_threshold_rejudges_without_rerunning() -> None:
    records = [*runs([1.5, 1.5, 1.5, 1.5, 1.5]), make_record(seed=0, final=1.5, rerun=True)]
    assert summary(records)["gates"]["pass"]  # a 25% drop
    strict = GateSettings(min_loss_drop=0.3)
    assert not summary(records, gates=strict)["gates"]["common"]["pass"]


def test_seed_variance_uses_the_coefficient_of_variation() -> None:
    s = summary([*runs([0.5, 1.0, 1.5, 1.0, 1.0]), make_record(seed=0, final=0.5, rerun=True)])
    variance = s["gates"]["seed_variance"]
    assert variance["cv"] == pytest.approx(0.3536, abs=1e-3)
    assert not variance["pass"] and s["verdict"] == "fail"
    assert "35.4% exceeds 10%" in variance["reasons"][0]


def test_seed_stability_exact_on_cpu_and_tolerant_elsewhere() -> None:
    base = runs([1.0, 1.0, 1.0, 1.0, 1.0])
    close = make_record(seed=0, final=1.01, rerun=True)
    stability = summary([*base, close])["gates"]["seed_stability"]
    assert not stability["pass"] and stability["required_identical"]
    assert "deterministic CPU rerun differs" in stability["reasons"][0]

    gpu = [make_record(seed=s, final=1.0, device="cuda") for s in range(5)]
    stability = summary([*gpu, make_record(seed=0, final=1.01, rerun=True, device="cuda")])[
        "gates"
    ]["seed_stability"]
    assert stability["pass"] and stability["max_relative_diff"] == pytest.approx(0.01 / 1.01)
    far = make_record(seed=0, final=1.2, rerun=True, device="cuda")
    stability = summary([*gpu, far])["gates"]["seed_stability"]
    assert not stability["pass"] and "tolerance 5%" in stability["reasons"][0]


def test_seed_stability_missing_rerun_fails_and_disabled_is_not_applicable() -> None:
    s = summary(runs([1.0] * 5))
    assert s["gates"]["seed_stability"]["pass"] is False
    no_rerun = MeasureSettings(models=["tdmpc2:ci"], seeds=[0, 1, 2, 3, 4], rerun_seed=None)
    s = summary(runs([1.0] * 5), measure=no_rerun)
    assert s["gates"]["seed_stability"]["pass"] is None
    # Not measured is reported, neither failed nor passed: no pass without evidence.
    assert not s["gates"]["pass"] and s["verdict"] == "insufficient evidence"
    assert failures({"tdmpc2:ci": s}) == []
    assert not_measured({"tdmpc2:ci": s}) == [
        "tdmpc2:ci: seed_stability: not measured: no rerun seed was requested",
        "tdmpc2:ci: control: not measured: no --control ENV:THRESHOLD was given",
    ]


def test_parity_and_planner_failures_are_reported_per_seed() -> None:
    records = [*runs([1.0] * 5), make_record(seed=0, final=1.0, rerun=True)]
    records[2].checks["save_load_parity"] = CheckResult(False, "loss.total: max abs diff 0.5")
    records[3].checks["planner"] = CheckResult(False, "extras['wf.planner.horizon'] is None")
    s = summary(records)
    assert s["gates"]["save_load_parity"]["reasons"] == ["seed 2: loss.total: max abs diff 0.5"]
    assert s["gates"]["planner"]["pass"] is False and s["gates"]["family"]["pass"]
    assert not s["gates"]["pass"]
    lines = failures({"tdmpc2:ci": s})
    assert "tdmpc2:ci: planner: seed 3: extras['wf.planner.horizon'] is None" in lines


def test_unplannable_family_skips_the_planner_gate_with_a_reason() -> None:
    skip = {"planner": CheckResult(None, "not plannable: no reward head and no goal latent")}
    records = [make_record(seed=s, checks=skip) for s in range(5)]
    planner = summary(records)["gates"]["planner"]
    assert planner["pass"] is None
    assert planner["reasons"] == ["not plannable: no reward head and no goal latent"]


# -- trend gates of the families that land later, on synthetic run records ----------------------


def family_gate(kind: str, records: list, settings: GateSettings) -> dict:
    given = GateInput("m:ci", kind, records, [], [], [], MEASURE, settings, {})
    return FamilyGate().evaluate(given).to_dict()


def family(kind: str, records: list) -> dict:
    return family_gate(kind, records, GATES)


def test_token_gate_needs_a_falling_perplexity() -> None:
    good = [
        make_record(
            seed=s,
            gate_kind="token",
            metrics_before={"perplexity": 400.0},
            metrics_after={"perplexity": 90.0},
        )
        for s in range(3)
    ]
    assert family("token", good)["pass"]
    flat = make_record(
        seed=3,
        gate_kind="token",
        metrics_before={"perplexity": 90.0},
        metrics_after={"perplexity": 95.0},
    )
    result = family("token", [*good, flat])
    assert not result["pass"] and "seed 3: perplexity did not fall (90 -> 95)" in result["reasons"]
    missing = make_record(seed=0, gate_kind="token")
    assert "no token CE/perplexity metric" in family("token", [missing])["reasons"][1]


def test_token_gate_accepts_a_cross_entropy_component() -> None:
    rec = make_record(seed=0, gate_kind="token", components={"cross_entropy": 1.0})
    # make_record's initial components are twice the final ones: the CE fell from 2 to 1.
    assert family("token", [rec])["pass"]


def test_diffusion_gate_needs_a_falling_denoise_error() -> None:
    good = make_record(
        seed=0, metrics_before={"denoise_error": 0.9}, metrics_after={"denoise_error": 0.3}
    )
    bad = make_record(
        seed=1, metrics_before={"denoise_error": 0.3}, metrics_after={"denoise_error": math.nan}
    )
    assert family("diffusion", [good])["pass"]
    result = family("diffusion", [good, bad])
    assert not result["pass"] and "seed 1: denoise_error is not finite" in result["reasons"][1]


def test_jepa_gate_detects_collapse() -> None:
    healthy = make_record(
        seed=0,
        metrics_before={"representation_loss": 1.0, "embedding_std": 0.5},
        metrics_after={"representation_loss": 0.2, "embedding_std": 0.4},
    )
    collapsed = make_record(
        seed=1,
        metrics_before={"representation_loss": 1.0, "embedding_std": 0.5},
        metrics_after={"representation_loss": 0.0001, "embedding_std": 1e-6},
    )
    assert family("jepa", [healthy])["pass"]
    result = family("jepa", [healthy, collapsed])
    assert not result["pass"]
    assert "seed 1: representation collapsed (embedding_std 1e-06 < 0.001)" in result["reasons"]


def test_vjepa2_gate_checks_the_mask_pipeline() -> None:
    ok = make_record(
        seed=0,
        metrics_before={"representation_loss": 1.0, "mask_ratio": 0.75},
        metrics_after={"representation_loss": 0.5, "mask_ratio": 0.75},
    )
    broken = make_record(
        seed=1,
        metrics_before={"representation_loss": 1.0, "mask_ratio": 0.75},
        metrics_after={"representation_loss": 0.5, "mask_ratio": math.nan},
    )
    assert family("vjepa2", [ok])["pass"]
    result = family("vjepa2", [ok, broken])
    assert "seed 1: mask pipeline broken (mask_ratio = nan)" in result["reasons"]


def test_generic_gate_needs_the_contract_suite_and_a_finite_step() -> None:
    ok = make_record(seed=0, gate_kind="generic")
    assert family("generic", [ok])["pass"]
    broken = make_record(
        seed=1,
        gate_kind="generic",
        checks={"contract": CheckResult(False, "rollout.z has shape [4]")},
    )
    result = family("generic", [ok, broken])
    assert "seed 1: contract suite failed (rollout.z has shape [4])" in result["reasons"]
    errored = make_record(seed=2, gate_kind="generic", status="error")
    assert any("no finite trainer step" in r for r in family("generic", [errored])["reasons"])


def test_family_gate_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown gate kind 'magic'"):
        family("magic", [])


@pytest.mark.parametrize("kind", ["reference", "token", "diffusion", "jepa", "vjepa2", "generic"])
def test_a_failed_contract_fails_the_family_whatever_its_kind(kind: str) -> None:
    metrics = {
        "perplexity": 2.0,
        "denoise_error": 0.1,
        "representation_loss": 0.1,
        "embedding_std": 1.0,
        "mask_ratio": 0.5,
    }
    good = [
        make_record(seed=s, gate_kind=kind, metrics_before=metrics, metrics_after=metrics)
        for s in range(5)
    ]
    for record in good:  # every trend metric falls
        assert record.initial is not None
        record.initial.metrics = {k: v * 2 for k, v in metrics.items()}
    assert family_gate(kind, good, GATES)["pass"], family_gate(kind, good, GATES)["reasons"]
    good[3].checks["contract"] = CheckResult(False, "encode.z has shape [4]")
    result = family_gate(kind, good, GATES)
    assert not result["pass"]
    assert "seed 3: contract suite failed (encode.z has shape [4])" in result["reasons"]


def test_action_dependence_fails_the_planner_gate_and_the_verdict() -> None:
    from worldflux.gates.fakes_testutil import metric

    blind = {"reward": metric(0.5, 1.0, shuffled=0.51)}  # +2%: under the 5% margin
    records = [*runs([1.0] * 5), make_record(seed=0, final=1.0, rerun=True)]
    records[2] = make_record(seed=2, skill=blind)
    s = summary(records)
    assert s["gates"]["common"]["pass"]  # skill itself is fine
    assert s["gates"]["action_dependence"]["pass"] is False
    assert s["gates"]["planner"]["pass"] is False and s["verdict"] == "fail"
    lines = failures({"tdmpc2:ci": s})
    assert (
        "tdmpc2:ci: action_dependence: seed 2: predictions barely depend on the actions: with "
        "actions shuffled across the batch the reward error changes by +2.0% (needs +5%)"
    ) in lines
    # Just over the margin passes.
    records[2] = make_record(seed=2, skill={"reward": metric(0.5, 1.0, shuffled=0.526)})
    assert summary(records)["gates"]["action_dependence"]["pass"] is True


def test_the_action_gate_does_not_apply_to_a_model_that_takes_no_actions() -> None:
    from worldflux.gates.records import MetricSkill

    def action_free(primary: bool = True) -> dict:  # measure_skill for action kind `none`
        return {"representation": MetricSkill(0.5, {"mean": 3.0, "context": 1.0}, None, primary)}

    records = [make_record(seed=s, skill=action_free()) for s in range(5)]
    records.append(make_record(seed=0, final=1.0, rerun=True, skill=action_free()))
    s = summary(records)
    gate = s["gates"]["action_dependence"]
    assert gate["pass"] is None
    assert gate["reasons"] == ["does not apply: the model takes no actions"]
    assert s["gates"]["common"]["pass"] and s["gates"]["pass"] is True and s["verdict"] == "pass"
    # A seed with no primary metric is a failure, never "does not apply".
    records[1] = make_record(seed=1, skill=action_free(primary=False))
    failed = summary(records)["gates"]["action_dependence"]
    assert failed["pass"] is False
    assert failed["reasons"] == ["seed 1: no prediction metric was measured"]
