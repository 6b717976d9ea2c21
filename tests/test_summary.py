"""The end-of-run table: final and best suboptimality beside steps to target; learning rates at the edge."""

import io
import json
import types

import numpy as np
import pandas as pd
from rich.console import Console
from test_analysis_cases import FIXTURE_RUN, hyperparams, make_runs

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


def _search_runs():
    """adamw tuned over learning rate, b1 and weight_decay (quasi-random trials), and adam over the
    learning rate alone, on one instance, two seeds each: the second trial of adamw is the fastest."""
    trials = [dict(learning_rate=1e-2, b1=0.8, weight_decay=1e-3),
              dict(learning_rate=3.2e-3, b1=0.93, weight_decay=1e-4),
              dict(learning_rate=1e-3, b1=0.95, weight_decay=1e-2)]
    rows = []
    for c, (trial, steps) in enumerate(zip(trials, [300.0, 120.0, 200.0])):
        rows += [dict(optimizer="adamw", config_id=c, seed=s, steps_to_target=steps,
                      hyperparams=hyperparams("adamw", **trial)) for s in (0, 1)]
    for c, (lr, steps) in enumerate([(1e-2, 150.0), (1e-1, 140.0)]):
        rows += [dict(optimizer="adam", config_id=c, seed=s, steps_to_target=steps, learning_rate=lr) for s in (0, 1)]
    return make_runs(rows)


def test_every_tuned_hyperparameter_of_the_chosen_configuration_is_shown_and_never_cut():
    runs = _search_runs()
    table = summary.rows(runs)["P"].set_index("optimizer")
    assert table.loc["adamw", "tuned"] == {"b1": 0.93, "weight_decay": 1e-4}  # b2, eps took one value: not tuned
    assert table.loc["adam", "tuned"] == {}
    suite = types.SimpleNamespace(name="s", steps=200, dtype="float32", target=1e-6, seeds=(0, 1))
    out = summary.text(runs, suite, "complete")
    assert "best configuration" in out and "best lr" not in out
    for width in (110, 60):
        buf = io.StringIO()
        summary.show(runs, suite, "complete", Console(file=buf, width=width, color_system=None))
        for part in ("lr=0.0032,", "b1=0.93,", "weight_decay=0.0001 ", "lr=0.1 ", "adamw"):
            assert part in buf.getvalue()  # the cell wraps between the parts, never inside one


def test_a_learning_rate_grid_alone_keeps_the_best_lr_column():
    runs = _search_runs()
    out = summary.text(runs[runs.optimizer == "adam"], types.SimpleNamespace(
        name="s", steps=200, dtype="float32", target=1e-6, seeds=(0, 1)), "complete")
    assert "best lr" in out and "lr=" not in out and "0.1" in out
