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


def ladder_runs() -> pd.DataFrame:
    """A runs table of absolute targets, by hand: Delta f 10, 1, 0.1; budgets 100 steps."""
    rows = [  # run_id, instance, optimizer, first hits of 10, 1, 0.1
        (0, "bbob(function=1, instance=1, dim=2)", "gd", 5, 20, INF),
        (1, "bbob(function=1, instance=2, dim=2)", "gd", 10, INF, INF),
        (2, "bbob(function=2, instance=1, dim=2)", "gd", 0, 50, 90),
        (3, "bbob(function=1, instance=1, dim=2)", "adam", 1, 2, 3),
        (4, "bbob(function=1, instance=1, dim=10)", "gd", INF, INF, INF),
    ]
    runs = pd.DataFrame(rows, columns=["run_id", "instance", "optimizer", "steps_to_df_1e+1", "steps_to_df_1e+0",
                                       "steps_to_df_1e-1"])
    return runs.assign(dim=[2, 2, 2, 2, 10], steps=100, target_kind="absolute",
                       steps_to_target=runs["steps_to_df_1e+0"])


def pick(table: pd.DataFrame, **values) -> pd.DataFrame:
    return table[np.logical_and.reduce([table[k] == v for k, v in values.items()])]


def test_art_per_function_dimension_and_target_from_the_runs_table():
    art = coco.art_table(ladder_runs())
    f1 = pick(art, function="bbob(function=1, dim=2)", dim=2, optimizer="gd")
    assert list(f1["target"]) == [10.0, 1.0, 0.1]
    # 10: both runs hit, (5 + 10) / 2; 1: one hit, (20 + the miss's budget 100) / 1; 0.1: no hit.
    np.testing.assert_array_equal(f1["art"].to_numpy(), [7.5, 120.0, INF])
    np.testing.assert_array_equal(f1["successes"].to_numpy(), [2, 1, 0])
    assert (f1["trials"] == 2).all()
    np.testing.assert_array_equal(pick(art, function="bbob(function=2, dim=2)", optimizer="gd")["art"], [0, 50, 90])
    np.testing.assert_array_equal(pick(art, function="bbob(function=1, dim=2)", optimizer="adam")["art"], [1, 2, 3])
    assert np.isinf(pick(art, function="bbob(function=1, dim=10)", dim=10)["art"]).all()
    one = coco.art_table(ladder_runs(), targets=[1.0])
    assert list(one["target"].unique()) == [1.0] and len(one) == 4
    with pytest.raises(ValueError, match="no target 0.003"):
        coco.art_table(ladder_runs(), targets=[3e-3])


def test_ecdf_per_dimension_over_function_instance_and_target_pairs():
    ecdf = coco.ecdf_table(ladder_runs(), [0, 1, 10, 100])
    # dim 2, gd: runtimes {5, 20, inf, 10, inf, inf, 0, 50, 90} over 9 pairs, at budgets 0, 1, 10, 100.
    gd = pick(ecdf, dim=2, optimizer="gd")
    assert list(gd["budget"]) == [0, 1, 10, 100]
    np.testing.assert_allclose(gd["ecdf"], np.array([1, 1, 3, 6]) / 9)
    np.testing.assert_allclose(pick(ecdf, dim=2, optimizer="adam")["ecdf"], np.array([0, 1, 3, 3]) / 3)
    np.testing.assert_array_equal(pick(ecdf, dim=10, optimizer="gd")["ecdf"], [0, 0, 0, 0])
    whole = pick(coco.ecdf_table(ladder_runs()), dim=2, optimizer="gd")  # at every runtime reached: exact steps
    assert list(whole["budget"]) == [0, 1, 2, 3, 5, 10, 20, 50, 90, 100]
    np.testing.assert_allclose(whole["ecdf"], np.array([1, 1, 1, 1, 2, 3, 4, 5, 6, 6]) / 9)


def test_ladder_runtimes_prefer_evaluations_where_the_table_counts_them():
    runs = ladder_runs()
    hits, budgets, unit = coco.ladder_runtimes(runs)
    assert unit == "steps" and list(hits.columns) == [10.0, 1.0, 0.1] and (budgets == 100).all()
    counted = runs.assign(**{f"evals_to_df_{t}": 2 * runs[f"steps_to_df_{t}"] for t in ("1e+1", "1e+0", "1e-1")},
                          evals=200)
    hits2, budgets2, unit2 = coco.ladder_runtimes(counted)
    assert unit2 == "evaluations" and (budgets2 == 200).all()
    np.testing.assert_array_equal(hits2.to_numpy(), 2 * hits.to_numpy())
    assert coco.is_absolute(runs) and not coco.is_absolute(runs.assign(target_kind="relative"))
    with pytest.raises(ValueError, match="steps_to_df_"):
        coco.ladder_runtimes(runs.drop(columns=["steps_to_df_1e+1", "steps_to_df_1e+0", "steps_to_df_1e-1"]))


def test_function_of_drops_the_instance():
    assert coco.function_of("bbob(function=3, instance=2, dim=10)") == "bbob(function=3, dim=10)"
    assert coco.function_of("bbob(instance=2, dim=5) batch=8") == "bbob(dim=5) batch=8"
    assert coco.function_of("rosenbrock(dim=2)") == "rosenbrock(dim=2)"
