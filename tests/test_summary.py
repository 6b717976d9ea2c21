"""The end-of-run table: final and best suboptimality beside steps to target; learning rates at the edge."""

import json

import numpy as np
import pandas as pd
from test_analysis_cases import FIXTURE_RUN

import bench
from bench.runs import summary


def test_final_and_best_are_the_medians_over_seeds_of_the_chosen_configuration():
    runs = bench.read_run(FIXTURE_RUN)[0]["runs"]
    checked = 0
    for instance, table in summary.rows(runs).items():
        for r in table.itertuples(index=False):
            lr = r[1]
            lanes = runs[(runs.instance == instance) & (runs.optimizer == r.optimizer) & (runs.impl == "gdbench")
                         & (runs.hyperparams.map(lambda h: json.loads(h).get("learning_rate")) == lr)]
            assert len(lanes) >= 2  # every seed of one configuration
            assert r.final == np.median(lanes.final_subopt)
            best = (lanes.best_loss - lanes.f_ref) / (lanes.initial_loss - lanes.f_ref)
            assert r.best == np.median(best) and r.best <= r.final * (1 + 1e-12)
            checked += 1
    assert checked >= 4


def test_a_best_learning_rate_at_the_edge_of_three_or_more_is_flagged():
    runs = pd.DataFrame({"instance": "p", "optimizer": "adam", "learning_rate": [0.01, 0.1, 1.0, 0.01, 0.1, 1.0]})
    assert summary._at_edge(runs, "p", "adam", 1.0) and summary._at_edge(runs, "p", "adam", 0.01)
    assert not summary._at_edge(runs, "p", "adam", 0.1)
    assert not summary._at_edge(runs[runs.learning_rate < 1], "p", "adam", 0.1)  # two tried: no interior
    assert not summary._at_edge(runs, "p", "adam", None)
