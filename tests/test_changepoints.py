"""The step detection of `gdbench history`: known steps are found where they are, pure noise rarely splits."""

from __future__ import annotations

import numpy as np
import pytest

from bench.tracking import changepoints


def test_known_steps_are_found_exactly():
    rng = np.random.default_rng(0)
    levels = np.repeat([0.0, 0.3, -0.1], [12, 15, 10])  # log10: x2.0, then x0.4
    y = levels + rng.normal(0, 0.02, len(levels))
    seg = changepoints.segment(y)
    assert seg.change_points == (12, 27)
    np.testing.assert_allclose(np.unique(np.round(seg.levels, 1)), [-0.1, 0.0, 0.3])


def test_a_step_at_the_last_commit_is_found():
    y = np.r_[np.zeros(9), 0.05]  # noiseless (steps to target do not vary): a 12% change at the end
    assert changepoints.segment(y).change_points == (9,)


def test_noiseless_constant_and_tiny_series():
    assert changepoints.segment(np.full(20, 3.0)).change_points == ()
    assert changepoints.segment([1.0]).starts == (0,)
    assert changepoints.segment([]).starts == ()
    with pytest.raises(ValueError, match="finite"):
        changepoints.segment([1.0, np.inf])


def test_changes_under_the_floor_are_not_reported():
    # 0.1% moves of a noiseless series (SIGMA_FLOOR: about 1%) are not steps.
    y = np.r_[np.zeros(10), np.full(10, 4e-4)]
    assert changepoints.segment(y).change_points == ()


def test_pure_noise_rarely_splits():
    """Over 300 series of pure Gaussian noise, with the noise level estimated from each
    series alone (the worst case: the history pools it over many series): few split.
    The rate depends only on the normal distribution and the seeds, not on the CPU."""
    rng = np.random.default_rng(1)
    for n, allowed in ((10, 0.15), (30, 0.05), (100, 0.02)):
        split = np.mean([len(changepoints.segment(rng.normal(0, 0.05, n)).change_points) > 0 for _ in range(300)])
        assert split <= allowed, (n, split)


def test_pure_noise_with_a_known_noise_level_almost_never_splits():
    rng = np.random.default_rng(2)
    split = np.mean([len(changepoints.segment(rng.normal(0, 0.05, 8), sigma=0.05).change_points) > 0
                     for _ in range(500)])
    assert split <= 0.02, split


def test_a_step_of_four_sigma_is_found_most_of_the_time():
    rng = np.random.default_rng(3)
    found = 0
    for _ in range(200):
        y = rng.normal(0, 0.05, 20)
        y[10:] += 0.2
        cps = changepoints.segment(y).change_points
        found += len(cps) == 1 and abs(cps[0] - 10) <= 1
    assert found / 200 >= 0.85, found


def test_noise_level_pools_series_and_ignores_a_step():
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 0.1, 200), rng.normal(0, 0.1, 200)
    b[100:] += 5.0
    assert changepoints.noise_level(a, b) == pytest.approx(0.1, rel=0.15)
    assert changepoints.noise_level([1.0, 2.0]) == 0.0
