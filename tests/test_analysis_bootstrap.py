"""The bootstrap interval of the median: reproducible, honest with misses, and it covers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.stats import bootstrap

INF = math.inf


def test_same_seed_same_interval_and_the_seed_is_used():
    x = np.random.default_rng(1).lognormal(size=15)
    assert bootstrap.median_ci(x, seed=7) == bootstrap.median_ci(x, seed=7)
    intervals = {bootstrap.median_ci(x, n_boot=200, seed=s)[1:] for s in range(5)}
    assert len(intervals) > 1


def test_three_seeds_give_their_range():
    # A resample's median is the smallest of 1, 2, 3 when at least two of its
    # three draws are 1: probability 7/27 (26%), well above 2.5%; likewise for 3.
    assert bootstrap.median_ci([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0)


def test_a_miss_makes_a_bound_infinite_never_nan():
    # Two misses out of three: the median is a miss, the low bound is 1 (7/27 again).
    assert bootstrap.median_ci([1.0, INF, INF]) == (INF, 1.0, INF)
    # NaN counts as a miss.
    assert bootstrap.median_ci([1.0, np.nan, 2.0, 3.0, 4.0]) == bootstrap.median_ci([1.0, INF, 2.0, 3.0, 4.0])
    median, low, high = bootstrap.median_ci([5.0, 6.0, INF])
    assert (median, low, high) == (6.0, 5.0, INF)


def test_columns_are_independent_intervals():
    x = np.random.default_rng(2).normal(size=(9, 4))
    med, low, high = bootstrap.median_ci(x, seed=3)
    for k in range(4):
        assert (med[k], low[k], high[k]) == bootstrap.median_ci(x[:, k], seed=3)


def test_empty_and_bad_level():
    assert all(math.isnan(v) for v in bootstrap.median_ci([]))
    with pytest.raises(ValueError, match="level"):
        bootstrap.median_ci([1.0], level=1.0)


def test_95_percent_interval_covers_the_true_median():
    # 200 samples of 25 log-normal values (true median exp(0) = 1).
    rng = np.random.default_rng(2024)
    covered = 0
    for rep in range(200):
        _, low, high = bootstrap.median_ci(rng.lognormal(0.0, 1.0, size=25), n_boot=1000, seed=rep)
        covered += low <= 1.0 <= high
    assert covered >= 180, f"covered the true median in {covered}/200"


@pytest.mark.parametrize("n", range(1, 12))
def test_median_of_resamples_is_numpys_median(n):
    """The sorting-network median (few seeds) gives np.median's numbers exactly, misses (inf) included."""
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 40))
    x[rng.random(x.shape) < 0.25] = np.inf
    resampled = x[rng.integers(0, n, size=(200, n))]
    np.testing.assert_array_equal(bootstrap._median_of_resamples(resampled), np.median(resampled, axis=1))
