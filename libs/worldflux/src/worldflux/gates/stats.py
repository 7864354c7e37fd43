"""Interval estimates and spread measures for a handful of seed runs.

Five seeds is a small sample: a percentile bootstrap of five successes out of five collapses to the
single point [1, 1] and says nothing about how sure we are. The gate therefore reports the bootstrap
(the doc's `ci_low`/`ci_high`) next to the exact Clopper-Pearson binomial interval, which stays
honest at any n: 5/5 at 95% still only guarantees a success probability above 0.478.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats as scipy_stats

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 2000


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def clopper_pearson(
    successes: int, trials: int, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """Exact (conservative) two-sided binomial interval for the success probability."""
    _check_confidence(confidence)
    if trials < 1:
        raise ValueError(f"an interval needs at least one trial, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in [0, {trials}], got {successes}")
    alpha = 1.0 - confidence
    low = (
        0.0
        if successes == 0
        else scipy_stats.beta.ppf(alpha / 2, successes, trials - successes + 1)
    )
    high = (
        1.0
        if successes == trials
        else scipy_stats.beta.ppf(1 - alpha / 2, successes + 1, trials - successes)
    )
    return float(low), float(high)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    statistic: Callable[..., np.ndarray] = np.mean,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic` over `values`, reproducible through `seed`.

    `statistic` is called as statistic(samples, axis=1) on a [resamples, n] array, so every
    resample is drawn and reduced in one vectorised step.
    """
    _check_confidence(confidence)
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or data.size == 0:
        raise ValueError(f"bootstrap needs a non-empty 1-D sample, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError("bootstrap sample contains NaN or infinite values")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, data.size, size=(resamples, data.size))
    estimates = statistic(data[index], axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(estimates, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def coefficient_of_variation(values: Sequence[float] | np.ndarray) -> float:
    """Sample standard deviation (ddof=1) over |mean|: the seed-to-seed spread of final losses.

    NaN for fewer than two values (no spread can be measured) and inf when the mean is zero.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size < 2:
        return math.nan
    mean = abs(float(data.mean()))
    std = float(data.std(ddof=1))
    if mean == 0.0:
        return 0.0 if std == 0.0 else math.inf
    return std / mean


def relative_difference(a: float, b: float) -> float:
    """|a - b| relative to the larger magnitude; 0 when both are equal (including both zero)."""
    if a == b:
        return 0.0
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale > 0 else math.inf
