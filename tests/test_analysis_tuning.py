"""The tuning protocol, the one-shot result, learning-rate sensitivity and parity, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_analysis_cases import INF, hyperparams, make_runs

from bench.stats import parity, tuning

NAN = float("nan")

# adam: c0 median 120 (subopt 1e-7), c1 median inf (2 of 3 missed), c2 median
# 120 too but subopt 1e-8: the tie goes to c2.
# gd: nothing hits; c1 has the lowest median final suboptimality (NaN counts
# as inf: median of {inf, 0.1, 0.2} is 0.2 < 0.5); c2 diverged (inf).
GRID = {
    ("adam", 0, 1e-3): ([100, 120, INF], [1e-7, 1e-7, 1e-3]),
    ("adam", 1, 1e-2): ([90, INF, INF], [1e-7, 1e-2, 1e-2]),
    ("adam", 2, 1e-1): ([120, 110, 130], [1e-8, 1e-8, 1e-8]),
    ("gd", 0, 1e-2): ([INF] * 3, [0.5, 0.5, 0.5]),
    ("gd", 1, 1e-1): ([INF] * 3, [NAN, 0.1, 0.2]),
    ("gd", 2, 1.0): ([INF] * 3, [INF, INF, INF]),
}


@pytest.fixture(scope="module")
def runs():
    return make_runs([dict(optimizer=o, config_id=c, learning_rate=lr, seed=s, steps_to_target=st, final_subopt=sub,
                           diverged=(o == "gd" and c == 2))
                      for (o, c, lr), (steps, subs) in GRID.items() for s, (st, sub) in enumerate(zip(steps, subs))])


def test_best_configs_break_ties_and_misses_by_final_suboptimality(runs):
    best = tuning.best_configs(runs).set_index("optimizer")
    assert best.loc["adam", "config_id"] == 2 and best.loc["gd", "config_id"] == 1
    assert best.loc["adam", "median_steps"] == 120 and best.loc["gd", "median_subopt"] == 0.2


def test_tuned_reports_the_median_and_its_interval(runs):
    t = tuning.tuned(runs).set_index("optimizer")
    adam = t.loc["adam"]
    # Three seeds {110, 120, 130}: the 95% interval of the median is their range
    # (each extreme is a resample's median with probability 7/27).
    assert (adam.steps, adam.steps_low, adam.steps_high) == (120, 110, 130)
    assert (adam.time_s, adam.time_s_low, adam.time_s_high) == pytest.approx((0.12, 0.11, 0.13))
    assert adam.learning_rate == 0.1 and adam.hit_share == 1 and adam.seeds == 3
    gd = t.loc["gd"]
    assert (gd.steps, gd.steps_low, gd.steps_high) == (INF, INF, INF)
    assert (gd.subopt, gd.subopt_low, gd.subopt_high) == (0.2, 0.1, INF)
    assert gd.hit_share == 0 and gd.diverged_share == 0 and gd.art == INF


def test_one_shot_is_the_default_configuration_or_says_it_is_missing(runs):
    one = tuning.one_shot(runs).set_index("optimizer")
    adam = one.loc["adam"]  # adam's default learning rate 1e-3 is c0: {100, 120, inf}
    assert adam.in_grid and adam.config_id == 0 and adam.note == ""
    assert (adam.steps, adam.steps_low, adam.steps_high) == (120, 100, INF)
    assert adam.art == (100 + 120 + 200) / 2  # COCO aRT: the miss costs its budget of 200 steps
    gd = one.loc["gd"]  # gd's default 1e-3 is not in its grid: nothing made up
    assert not gd.in_grid and gd.config_id == -1 and "not in the grid" in gd.note
    assert math.isnan(gd.steps) and math.isnan(gd.subopt)


def test_one_shot_ignores_problem_supplied_arguments():
    # Polyak's f_min comes from the problem (f*), not from the grid.
    runs = make_runs([dict(optimizer="polyak", hyperparams=hyperparams("polyak", f_min=3.0), steps_to_target=7.0)])
    one = tuning.one_shot(runs)
    assert one["in_grid"].item() and one["steps"].item() == 7.0


def test_lr_sensitivity(runs):
    s = tuning.lr_sensitivity(runs).set_index("optimizer")
    # adam: c0 and c2 reach the target (finite median), c1 does not.
    assert s.loc["adam", ["configs", "reaching"]].tolist() == [3, 2]
    assert s.loc["adam", "reach_share"] == pytest.approx(2 / 3)
    assert s.loc["adam", ["lr_min", "lr_max", "reach_lr_min", "reach_lr_max"]].tolist() == [1e-3, 1e-1, 1e-3, 1e-1]
    assert s.loc["gd", "reaching"] == 0 and np.isnan(s.loc["gd", "reach_lr_min"])


def test_per_config_and_best_configs_keep_their_columns(runs):
    # bench/runs/summary.py reads these.
    for table in (tuning.per_config(runs), tuning.best_configs(runs)):
        assert {"instance", "optimizer", "impl", "config_id", "median_steps", "median_time_s", "median_subopt",
                "seeds", "hit_share", "diverged_share", "hyperparams"} <= set(table.columns)


def test_parity_by_hand():
    # adam pairs (config, seed): 100 vs 100, 120 vs 60 (ratio 2), miss vs miss,
    # 90 vs a miss (a hit in one only). Time ratios per problem: 1.1, 0.9, NaN.
    pairs = [(0, 0, 100, 100), (0, 1, 120, 60), (0, 2, INF, INF), (1, 0, 90, INF)]
    rows = []
    for instance, ratio in [("P1", 1.1), ("P2", 0.9), ("P3", NAN)]:
        for c, s, ours, theirs in pairs:
            for impl, st in (("gdbench", ours), ("optax", theirs)):
                rows.append(dict(instance=instance, config_id=c, seed=s, impl=impl, steps_to_target=st,
                                 time_ratio_vs_optax=ratio))
    p = parity.parity(make_runs(rows)).set_index("optimizer").loc["adam"]
    assert p.pairs == 12 and p.hit_mismatch == 3
    assert (p.steps_ratio, p.steps_ratio_min, p.steps_ratio_max) == (1.5, 1.0, 2.0)
    assert p.identical_share == 0.5
    assert p.cells == 2 and (p.time_ratio, p.time_ratio_min, p.time_ratio_max) == pytest.approx((1.0, 0.9, 1.1))
