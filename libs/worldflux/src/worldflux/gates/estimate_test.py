import pytest

from worldflux.gates.estimate import Scenario, estimate, model_rates, parse_scenarios, wall_seconds
from worldflux.gates.fakes_testutil import make_record


def test_scenarios_parse_and_reject_garbage() -> None:
    assert parse_scenarios("5x5000, 7X10000") == [Scenario(5, 5000), Scenario(7, 10000)]
    for bad in ("5x", "0x100", "5*100", "x"):
        with pytest.raises(ValueError, match="SEEDSxSTEPS"):
            Scenario.parse(bad)


def test_estimate_scales_training_by_steps_and_keeps_evaluation_separate() -> None:
    runs = [make_record("tdmpc2:ci", s, seconds=10.0) for s in range(3)]
    runs += [make_record("dreamerv3:ci", s, seconds=20.0) for s in range(2)]
    runs.append(make_record("dreamerv3:ci", 2, status="error", seconds=99.0))  # ignored
    rates = {r.model: r for r in model_rates(runs)}
    # make_record: 100 steps in 0.8 * seconds, evaluation 0.1 * seconds, overhead the rest.
    assert rates["tdmpc2:ci"].seconds_per_step == pytest.approx(0.08)
    assert rates["dreamerv3:ci"].runs == 2
    assert rates["dreamerv3:ci"].eval_seconds_per_run == pytest.approx(2.0)
    assert rates["dreamerv3:ci"].overhead_seconds_per_run == pytest.approx(2.0)
    results = estimate(rates.values(), [Scenario(5, 5000)])
    by_model = {e.model: e for e in results}
    assert by_model["tdmpc2:ci"].train_seconds == pytest.approx(5 * 5000 * 0.08)
    assert by_model["tdmpc2:ci"].eval_seconds == pytest.approx(5 * 1.0)
    assert by_model["dreamerv3:ci"].total_seconds == pytest.approx(5 * 5000 * 0.16 + 5 * 2 + 5 * 2)
    total = sum(e.total_seconds for e in results)
    assert wall_seconds(results, 1) == pytest.approx(total)
    assert wall_seconds(results, 5) == pytest.approx(total / 5)
    # Never faster than the longest single run.
    assert wall_seconds(results, 100) == pytest.approx(by_model["dreamerv3:ci"].total_seconds / 5)
