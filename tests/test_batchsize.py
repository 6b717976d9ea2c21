"""The stochastic regime's analysis: critical batch size, steps by batch size, loss over seeds, the report's blocks."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from test_analysis_cases import fixture_report  # noqa: F401 (session fixture)

import bench
from bench.reporting import report
from bench.runs import runner
from bench.runs import suite as suites
from bench.stats import analysis, batchsize

INF = math.inf


@pytest.mark.parametrize("steps, expected", [
    ({8: 1000, 16: 500, 32: 300, 64: 280}, (32, False)),   # 32 -> 64 needs <= 225
    ({8: 800, 32: 200}, (32, True)),                       # every increase helped: a lower bound
    ({8: 100, 32: 57}, (8, False)),                        # two doublings need <= 100 * 0.75^2 = 56.25
    ({8: 100, 32: 56}, (32, True)),
    ({4: INF, 8: 400, 16: 390}, (8, False)),               # a leading miss is skipped
    ({8: 100, 16: INF, 32: 10}, (8, False)),               # a miss never helps
    ({8: 100, 16: 70, 0: 1}, (16, True)),                  # the full batch (0) is not a batch size here
    ({8: 100}, (math.nan, False)),
    ({8: INF, 16: INF}, (math.nan, False)),
])
def test_critical_batch_size_of_hand_made_tables(steps, expected):
    b, bound = batchsize.critical_batch_size(steps)
    assert (math.isnan(b) and math.isnan(expected[0])) or b == expected[0]
    assert bound == expected[1]


@pytest.mark.parametrize("b_noise", [3, 10, 48, 200])
def test_in_mccandlishs_model_it_is_the_first_measured_batch_size_past_b_noise(b_noise):
    # S(B) = S_min (1 + B_noise / B): a doubling from B cuts S by 25% or more exactly while B <= B_noise.
    sizes = [2**k for k in range(11)]
    b, bound = batchsize.critical_batch_size({s: 1000 * (1 + b_noise / s) for s in sizes})
    assert b == min(s for s in sizes if s > b_noise) and not bound


def _runs(rows):
    base = dict(impl="gdbench", lane_time_to_target_s=1.0, final_subopt=0.1, diverged=False, steps=1000)
    out = pd.DataFrame([{**base, **r} for r in rows])
    out["run_id"] = range(len(out))
    out["hyperparams"] = [json.dumps({"learning_rate": lr}) for lr in out["lr"]]
    return out


def test_steps_by_batch_tunes_each_batch_size_and_the_grid_shows_every_configuration():
    rows = []
    for b, by_lr in {8: {0.1: 400, 0.01: 900}, 32: {0.1: 300, 0.01: 250}, 0: {0.1: 50, 0.01: 200}}.items():
        for k, (lr, steps) in enumerate(by_lr.items()):
            for seed in range(3):
                rows.append(dict(instance="p(a=1)" + (f" batch={b}" if b else ""), batch_size=b, optimizer="gd",
                                 config_id=k, seed=seed, lr=lr, steps_to_target=steps + seed))
    runs = _runs(rows)
    table = analysis.steps_by_batch(runs)
    assert list(table["batch_size"]) == [0, 8, 32] and set(table["problem"]) == {"p(a=1)"}
    assert list(table["learning_rate"]) == [0.1, 0.1, 0.01] and list(table["steps"]) == [51, 401, 251]
    crit = analysis.critical_batch_sizes(runs)  # 401 -> 251 over two doublings needs <= 225.6
    assert crit["critical_batch_size"].tolist() == [8] and crit["lower_bound"].tolist() == [False]
    grid = analysis.lr_batch_grid(runs, "p(a=1)", "gd")
    assert list(grid.columns) == [8, 32, 0] and list(grid.index) == [0.01, 0.1]
    assert grid.loc[0.01, 32] == 251 and grid.loc[0.1, 0] == 51


def test_loss_bands_are_the_seeds_quantiles_of_the_tuned_configuration():
    rows = [dict(instance="p batch=4", batch_size=4, optimizer="gd", config_id=c, seed=s, lr=lr,
                 steps_to_target=st) for c, (lr, st) in enumerate([(0.1, 10), (0.01, INF)]) for s in range(5)]
    rows.append(dict(instance="p", batch_size=0, optimizer="gd", config_id=0, seed=0, lr=0.1, steps_to_target=5))
    runs = _runs(rows)
    curves = pd.DataFrame([dict(run_id=i, step=t, loss=(i + 1) * (10 - t)) for i in runs["run_id"] for t in (0, 5)])
    bands = analysis.loss_bands(runs, curves)
    assert set(bands["instance"]) == {"p batch=4"}  # full-batch instances have no band
    first = bands[bands["step"] == 0].iloc[0]
    losses = 10 * np.arange(1, 6)  # config 0's seeds: run_ids 0-4
    assert first["median"] == 30 and first["low"] == pytest.approx(np.quantile(losses, 0.1))
    assert first["high"] == pytest.approx(np.quantile(losses, 0.9))


TINY_STOCHASTIC = """
name = "tinystoch"
steps = 150
seeds = 3
optimizers = ["gd"]
impls = ["gdbench"]
repeats = 1
target = 1e-2
batch_size = [4, 16]
record_every = 5
[grid]
learning_rate = [0.05, 0.3]
[[problems]]
name = "noisy_quadratic"
args = { dim = 4, condition_number = 10, noise = 1e-2 }
"""


def test_the_stochastic_blocks_appear_for_a_minibatch_run_only(tmp_path, fixture_report):  # noqa: F811
    (tmp_path / "s.toml").write_text(TINY_STOCHASTIC)
    folder = runner.run_suite(suites.load(tmp_path / "s.toml"), tmp_path / "runs", show_progress=False)
    report.write(folder)
    md = (folder / "report.md").read_text()
    html = (folder / "report.html").read_text()
    assert "## Stochastic problems" in md and 'id="stochastic"' in html
    assert "(figures/loss-bands-noisy-quadratic" in md and "(figures/batch-noisy-quadratic" in md
    tables, _ = bench.read_run(folder)
    crit = analysis.critical_batch_sizes(tables["runs"]).iloc[0]
    shown = ("-" if math.isnan(crit["critical_batch_size"]) else
             (">= " if crit["lower_bound"] else "") + f"{crit['critical_batch_size']:.0f}")
    assert f"| {shown} |" in md and "| learning rate | batch 4 | batch 16 |" in md
    full = (fixture_report / "report.md").read_text()
    assert "Stochastic problems" not in full and "loss-bands" not in full
