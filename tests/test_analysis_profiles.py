"""Performance profiles, AlgoPerf scores and data profiles on hand-made tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_analysis_cases import INF, make_runs

from bench.stats import profiles

NAN = float("nan")


def costs_table(rows):
    return pd.DataFrame(rows, columns=["problem", "solver", "cost"])


# Four problems, three solvers. P3: everyone fails (NaN is a failure too);
# P4: A and B tie and C did not run at all (a failure).
COSTS = costs_table([
    ("P1", "A", 10.0), ("P1", "B", 20.0), ("P1", "C", INF),
    ("P2", "A", 30.0), ("P2", "B", 10.0), ("P2", "C", 15.0),
    ("P3", "A", NAN), ("P3", "B", INF), ("P3", "C", INF),
    ("P4", "A", 5.0), ("P4", "B", 5.0),
])
# Worked out by hand: r = t / min over the problem's solvers.
RATIOS = {("P1", "A"): 1, ("P1", "B"): 2, ("P1", "C"): INF,
          ("P2", "A"): 3, ("P2", "B"): 1, ("P2", "C"): 1.5,
          ("P3", "A"): INF, ("P3", "B"): INF, ("P3", "C"): INF,
          ("P4", "A"): 1, ("P4", "B"): 1, ("P4", "C"): INF}


def test_performance_ratios():
    r = profiles.performance_ratios(COSTS)
    assert len(r) == 12  # the square table, the missing pair included
    got = {(p, s): v for p, s, v in zip(r["problem"], r["solver"], r["ratio"])}
    assert got == RATIOS


def test_performance_profile():
    prof = profiles.performance_profile(profiles.performance_ratios(COSTS), taus=[1, 1.5, 2, 3, 4, 100])
    rho = {s: list(g.sort_values("tau")["rho"]) for s, g in prof.groupby("solver")}
    # A: ratios {1, 3, inf, 1}; B: {2, 1, inf, 1}; C: {inf, 1.5, inf, inf}; n_p = 4 (P3 counts).
    assert rho["A"] == [0.5, 0.5, 0.5, 0.75, 0.75, 0.75]
    assert rho["B"] == [0.5, 0.5, 0.75, 0.75, 0.75, 0.75]
    assert rho["C"] == [0.0, 0.25, 0.25, 0.25, 0.25, 0.25]


def test_default_taus_hold_every_step_of_the_profile():
    prof = profiles.performance_profile(profiles.performance_ratios(COSTS))
    assert sorted(prof["tau"].unique()) == [1, 1.5, 2, 3, 4]


def test_algoperf_scores_by_hand():
    # score = sum_p max(0, r_max - r_ps) / (n_p (r_max - 1)), r_max = 4, n_p = 4:
    # A: (3 + 1 + 0 + 3) / 12; B: (2 + 3 + 0 + 3) / 12; C: (0 + 2.5 + 0 + 0) / 12.
    # The same as integrating the step functions above: A 0.5 * 2 + 0.75 * 1 = 1.75, / 3.
    s = profiles.algoperf_scores(profiles.performance_ratios(COSTS)).set_index("solver")
    assert list(s.index) == ["B", "A", "C"]  # best first
    assert s.loc["A", "score"] == pytest.approx(7 / 12)
    assert s.loc["B", "score"] == pytest.approx(8 / 12)
    assert s.loc["C", "score"] == pytest.approx(2.5 / 12)
    assert list(s["solved"]) == [3, 3, 1] and (s["problems"] == 4).all()


def test_nan_and_inf_never_leak_into_the_score():
    # AlgoPerf's filter `x != np.nan` is always true; here NaN must be a miss.
    costs = costs_table([("P1", "A", NAN), ("P1", "B", 2.0), ("P2", "A", 1.0), ("P2", "B", -INF),
                         ("P3", "A", INF), ("P3", "B", INF)])
    s = profiles.algoperf_scores(profiles.performance_ratios(costs)).set_index("solver")
    assert np.isfinite(s["score"]).all()
    assert s.loc["A", "score"] == pytest.approx(3 / 9)  # best on P2 only
    assert s.loc["B", "score"] == pytest.approx(3 / 9)  # best on P1 only (-inf is not a cost: a miss)


def test_a_zero_cost_is_the_best_not_a_nan():
    r = profiles.performance_ratios(costs_table([("P", "A", 0.0), ("P", "B", 5.0)])).set_index("solver")
    assert r.loc["A", "ratio"] == 1 and r.loc["B", "ratio"] == INF


def test_r_max_must_exceed_one():
    with pytest.raises(ValueError, match="r_max"):
        profiles.algoperf_scores(profiles.performance_ratios(COSTS), r_max=1.0)


def test_data_profile_by_hand():
    # Budgets t / (n + 1): P1 (n = 2): A 3/3 = 1, B 30/3 = 10; P2 (n = 9): A misses, B 20/10 = 2.
    costs = pd.DataFrame([("P1", "A", 0.1, 2, 3.0), ("P1", "B", 0.1, 2, 30.0),
                          ("P2", "A", 0.1, 9, INF), ("P2", "B", 0.1, 9, 20.0)],
                         columns=["problem", "solver", "tau", "dim", "cost"])
    d = profiles.data_profile(costs, alphas=[0.5, 1, 2, 10])
    got = {s: list(g["d"]) for s, g in d.groupby("solver")}
    assert got == {"A": [0, 0.5, 0.5, 0.5], "B": [0, 0, 0.5, 1.0]}


def test_convergence_costs_by_hand():
    # Problem P (f* known, f_ref = 0): f_L = the lowest loss reached, 1.0 (A).
    # tau = 0.1: solved when f <= 1 + 0.1 (10 - 1) = 1.9.
    # A reaches 1.8 at step 2: 3 evaluations (x_0, x_1, x_2), exact.
    # B is recorded at steps 0, 1, 2, 3, 10, 20 and is under 1.9 first at 20:
    # 21 evaluations, the true first hit one of steps 11..20 (resolution 10).
    # Problem Q (f* unknown, f_ref = f_L = 0.5): the exact first-hit column
    # steps_to_1e-1 = 37 is used although only steps 0 and 50 were recorded.
    runs = make_runs([
        dict(run_id=0, instance="P", optimizer="adam", best_loss=1.0, dim=1),
        dict(run_id=1, instance="P", optimizer="gd", best_loss=1.85, dim=1),
        dict(run_id=2, instance="Q", optimizer="adam", best_loss=0.5, f_ref=0.5, **{"steps_to_1e-1": 37.0}),
        dict(run_id=3, instance="Q", optimizer="gd", best_loss=0.9, f_ref=0.5, **{"steps_to_1e-1": INF}),
    ])
    curves = pd.DataFrame(
        [(0, s, v) for s, v in zip(range(5), [10, 5, 1.8, 1.0, 1.0])]
        + [(1, s, v) for s, v in zip([0, 1, 2, 3, 10, 20], [10, 8, 6, 4, 1.95, 1.85])]
        + [(2, 0, 10.0), (2, 50, 0.5), (3, 0, 10.0), (3, 50, 0.9)],
        columns=["run_id", "step", "loss"])
    c = profiles.convergence_costs(runs, curves, taus=[0.1]).set_index(["problem", "solver"])
    assert c.loc[("P", "adam"), ["cost", "resolution"]].tolist() == [3.0, 1.0]
    assert c.loc[("P", "gd"), ["cost", "resolution"]].tolist() == [21.0, 10.0]
    assert c.loc[("Q", "adam"), ["cost", "resolution"]].tolist() == [38.0, 1.0]
    assert c.loc[("Q", "gd"), "cost"] == INF
    assert c.loc[("P", "adam"), "dim"] == 1


def test_solver_costs_use_the_tuned_median():
    runs = make_runs([dict(config_id=c, seed=s, steps_to_target=v, learning_rate=lr)
                      for c, lr, vals in [(0, 1e-3, [100, 120, INF]), (1, 1e-2, [50, 60, 70])]
                      for s, v in enumerate(vals)])
    costs = profiles.solver_costs(runs, "steps")
    assert costs.to_dict("records") == [{"problem": "P", "solver": "adam", "cost": 60.0}]
    t = profiles.solver_costs(runs, "time")
    assert t["cost"].iloc[0] == pytest.approx(60 * 1e-3)
    with pytest.raises(ValueError, match="measure"):
        profiles.solver_costs(runs, "flops")
    assert math.isinf(profiles.solver_costs(make_runs([{}]), "steps")["cost"].iloc[0])
