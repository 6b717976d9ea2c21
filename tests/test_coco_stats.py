"""COCO's runtimes, aRT and runtime ECDF (bench/stats/coco.py) on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.stats import coco

INF = float("inf")


def two_runs() -> tuple[pd.DataFrame, dict]:
    """Run 1 gets from Delta f = 100 to 0.01 in four steps; run 2 stalls at Delta f = 5 (f_opt = 10)."""
    gaps = {1: [100, 10, 1, 0.1, 0.01], 2: [50, 5, 5, 5]}
    rows = [(r, t, 10.0 + g) for r, gs in gaps.items() for t, g in enumerate(gs)]
    curves = pd.DataFrame(rows, columns=["run_id", "step", "loss"]).iloc[::-1]  # any order
    return curves, {1: 4, 2: 3}


def test_runtimes_are_first_hits_at_or_under_the_target():
    curves, _ = two_runs()
    hits = coco.runtimes(curves, 10.0, targets=(10.0, 1.0, 0.1))
    assert list(hits.index) == [1, 2]
    np.testing.assert_array_equal(hits.to_numpy(), [[1, 2, 3], [1, INF, INF]])


def test_average_running_time():
    curves, budgets = two_runs()
    art = coco.average_running_time(coco.runtimes(curves, 10.0, targets=(10.0, 1.0, 0.1, 1e-3)), budgets)
    # 10: (1 + 1) / 2; 1: (2 + run 2's budget 3) / 1; 0.1: (3 + 3) / 1; 1e-3: no hit.
    np.testing.assert_array_equal(art.to_numpy(), [1.0, 5.0, 6.0, INF])


def test_runtime_ecdf():
    curves, _ = two_runs()
    hits = coco.runtimes(curves, 10.0, targets=(10.0, 1.0, 0.1))
    ecdf = coco.runtime_ecdf(hits, [3, 0, 1, 2, 100])
    # Runtimes {1, 2, 3, 1, inf, inf} over 6 pairs.
    assert list(ecdf.index) == [0, 1, 2, 3, 100]
    np.testing.assert_array_equal(ecdf.to_numpy(), np.array([0, 2, 3, 4, 4]) / 6)


def test_f_opt_per_run_and_nan_losses():
    curves = pd.DataFrame({"run_id": [7, 7, 8, 8], "step": [0, 5, 0, 5], "loss": [3.0, 1.5, np.nan, -0.5]})
    hits = coco.runtimes(curves, {7: 1.0, 8: -1.0}, targets=(1.0,))
    np.testing.assert_array_equal(hits[1.0].to_numpy(), [5, 5])  # a NaN loss reaches nothing
    with pytest.raises(ValueError, match="f_opt"):
        coco.runtimes(curves, {7: 1.0}, targets=(1.0,))
    with pytest.raises(ValueError, match="budgets"):
        coco.average_running_time(hits, {7: 5})
    with pytest.raises(ValueError, match="positive"):
        coco.runtimes(curves, 0.0, targets=(1.0, 0.0))


def test_coco_targets():
    assert len(coco.TARGETS) == 51 and coco.TARGETS[0] == 100.0 and coco.TARGETS[-1] == 1e-8
    np.testing.assert_allclose(np.diff(np.log10(coco.TARGETS)), -0.2, atol=1e-12)
