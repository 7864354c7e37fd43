import math

import numpy as np
import pytest

from worldflux.gates.stats import (
    bootstrap_ci,
    clopper_pearson,
    coefficient_of_variation,
    relative_difference,
)


@pytest.mark.parametrize(
    "k, n, low, high",
    [
        # Known exact intervals at 95% (e.g. the tables of Clopper & Pearson 1934, or R's
        # binom.test): 5/5 -> [0.478, 1], 4/5 -> [0.284, 0.995], 0/5 -> [0, 0.522].
        (5, 5, 0.4782, 1.0),
        (4, 5, 0.2836, 0.9949),
        (0, 5, 0.0, 0.5218),
        (8, 10, 0.4439, 0.9748),
        (50, 100, 0.3983, 0.6017),
    ],
)
def test_clopper_pearson_matches_known_values(k: int, n: int, low: float, high: float) -> None:
    got_low, got_high = clopper_pearson(k, n, 0.95)
    assert got_low == pytest.approx(low, abs=5e-4)
    assert got_high == pytest.approx(high, abs=5e-4)


def test_clopper_pearson_closed_forms_at_the_edges() -> None:
    # All successes: the lower bound solves p^n = alpha / 2.
    for n in (1, 5, 20):
        low, high = clopper_pearson(n, n, 0.9)
        assert low == pytest.approx(0.05 ** (1 / n)) and high == 1.0
    low, high = clopper_pearson(0, 7, 0.95)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 7))


def test_clopper_pearson_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="at least one trial"):
        clopper_pearson(0, 0)
    with pytest.raises(ValueError, match=r"successes must be in \[0, 5\]"):
        clopper_pearson(6, 5)
    with pytest.raises(ValueError, match="confidence"):
        clopper_pearson(1, 5, 1.0)


def test_bootstrap_collapses_at_five_of_five_and_spreads_at_four() -> None:
    assert bootstrap_ci([1, 1, 1, 1, 1]) == (1.0, 1.0)
    low, high = bootstrap_ci([1, 1, 1, 1, 0], seed=0)
    # Resampled means of four ones and a zero take values k/5; the 2.5th percentile is 0.4.
    assert (low, high) == (0.4, 1.0)


def test_bootstrap_is_seeded_and_matches_a_direct_computation() -> None:
    values = np.array([0.3, 1.2, 0.8, 2.5, 1.1, 0.9])
    a = bootstrap_ci(values, resamples=2000, seed=7)
    assert a == bootstrap_ci(values, resamples=2000, seed=7)
    rng = np.random.default_rng(7)
    means = values[rng.integers(0, 6, size=(2000, 6))].mean(axis=1)
    assert a == (float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)))
    assert a != bootstrap_ci(values, resamples=2000, seed=8)
    assert a[0] < values.mean() < a[1]


def test_bootstrap_rejects_empty_and_nonfinite() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci([1.0, math.nan])


def test_coefficient_of_variation() -> None:
    assert coefficient_of_variation([2.0, 4.0]) == pytest.approx(math.sqrt(2) / 3)
    assert coefficient_of_variation([1.0, 1.0, 1.0]) == 0.0
    assert math.isnan(coefficient_of_variation([1.0]))
    assert coefficient_of_variation([-1.0, 1.0]) == math.inf


def test_relative_difference() -> None:
    assert relative_difference(1.0, 1.0) == 0.0
    assert relative_difference(0.0, 0.0) == 0.0
    assert relative_difference(1.0, 1.05) == pytest.approx(0.05 / 1.05)
    assert relative_difference(-2.0, 2.0) == pytest.approx(2.0)
