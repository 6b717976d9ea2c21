"""The tuning protocol end to end: a suite with a warmup-cosine schedule and held-out seeds.

Its runs table must carry `phase` and `schedule`; the selection rows only the
selection seeds, every configuration of the grid; the report rows only the
suite's seeds, one configuration per optimizer and implementation, the one
chosen on the selection rows; and a report row's final loss must be that of a
plain optax loop with optax's `warmup_cosine_decay_schedule` from that seed's
start. The report then shows the budgets, attempts to success, the default
result and both rankings.
"""

from __future__ import annotations

import json

import numpy as np
import optax
import pytest

import problems
from bench import cli
from bench.runs import results
from bench.stats import tuning
from test_lr_schedules import RTOL, f64, optax_final_losses

STEPS, WARMUP, END = 60, 15, 1e-4
SEEDS, SELECT = [0, 1], [7, 8]
LRS = [0.002, 0.01, 0.05]
SUITE = f"""
name = "protocol"
steps = {STEPS}
seeds = {SEEDS}
dtype = "float64"
optimizers = ["adam", "nesterov"]
impls = ["gdbench", "optax"]
repeats = 1
schedule = {{ name = "warmup_cosine", warmup_steps = {WARMUP}, end_value = {END} }}
[grid]
learning_rate = {LRS}
[tuning]
select_seeds = {SELECT}
[[problems]]
name = "rosenbrock"
args = {{ dim = 3, perturb = 0.2 }}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocol")
    config = root / "protocol.toml"
    config.write_text(SUITE)
    assert cli.main(["run", "--config", str(config), "--out", str(root / "runs"), "--no-progress"]) == 0
    (folder,) = (root / "runs").iterdir()
    tables, meta = results.read_run(folder)
    return folder, tables["runs"], meta


def test_the_phases_run_on_their_own_seeds_with_the_schedule_recorded(run):
    _, runs, meta = run
    select, report = runs[runs.phase == "select"], runs[runs.phase == "report"]
    assert sorted(select.seed.unique()) == SELECT and sorted(report.seed.unique()) == SEEDS
    assert set(runs.phase) == {"select", "report"}
    for _, g in select.groupby(["optimizer", "impl"]):
        assert sorted(g.learning_rate.unique()) == LRS and len(g) == len(LRS) * len(SELECT)
    chosen = tuning.best_configs(select).set_index(["optimizer", "impl"])["config_id"]
    for key, g in report.groupby(["optimizer", "impl"]):
        assert g.config_id.nunique() == 1 and int(g.config_id.iloc[0]) == int(chosen[key]) and len(g) == len(SEEDS)
    want = {"name": "warmup_cosine", "warmup_steps": WARMUP, "end_value": END}
    assert all(json.loads(s) == want for s in runs.schedule)
    assert meta["suite"]["schedule"]["name"] == "warmup_cosine"
    assert meta["tuning"] == {"select_seeds": SELECT, "shared_seeds": False}


@pytest.mark.parametrize("name, make", [
    ("adam", lambda lr: optax.adam(lr)),
    ("nesterov", lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True)),
])
def test_a_report_rows_final_loss_equals_a_plain_optax_loop(run, x64, name, make):
    _, runs, _ = run
    p = problems.get("rosenbrock", dim=3, perturb=0.2)
    report = runs[(runs.phase == "report") & (runs.optimizer == name)]
    for impl, g in report.groupby("impl"):
        lr = float(g.learning_rate.iloc[0])
        sched = optax.warmup_cosine_decay_schedule(0.0, lr, WARMUP, STEPS, END)
        want = optax_final_losses(p, lambda: make(f64(sched)), SEEDS, STEPS)
        np.testing.assert_allclose(g.sort_values("seed").final_loss, want, rtol=RTOL, err_msg=impl)


def test_the_report_shows_budgets_attempts_defaults_and_both_rankings(run):
    folder, _, _ = run
    md = (folder / "report.md").read_text()
    for heading in ("Budgets", "Attempts to success", "fixed budget"):
        assert heading.lower() in md.lower(), heading
    assert "held-out" in md or "report seeds" in md
    text = (folder / "summary.txt").read_text()
    assert "held-out seeds" in text and "default" in text
