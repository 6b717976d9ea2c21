"""Quasi-random search (bench/core/search.py): the sequence, the space, bad input, sweeps and suites with trials."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

import bench
import optimizers
from bench import cli
from bench.core import search
from bench.errors import ConfigError
from bench.runs import suite
from bench.stats import tuning


def test_halton_is_reproducible_from_its_seed_and_stratified():
    a, b, c = search.halton(64, 3, seed=5), search.halton(64, 3, seed=5), search.halton(64, 3, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (64, 3) and (a >= 0).all() and (a < 1).all()
    # Halton's property, kept by digit permutations: the first b^k points of base b's coordinate
    # fall one in each interval [j / b^k, (j + 1) / b^k). Bases 2, 3, 5 here.
    for col, base, k in ((0, 2, 6), (1, 3, 3), (2, 5, 2)):
        n = base**k
        cells = np.floor(search.halton(n, 3, seed=5)[:, col] * n)
        assert sorted(cells) == list(range(n))


def test_points_lie_in_the_space_and_cover_a_log_range_decile_by_decile():
    ranges = {"learning_rate": (1e-5, 1.0, "log"), "b1": (0.5, 0.99, "linear")}
    pts = search.points(ranges, 16, seed=0)
    lr = np.array([p["learning_rate"] for p in pts])
    b1 = np.array([p["b1"] for p in pts])
    assert (lr >= 1e-5).all() and (lr <= 1.0).all() and (b1 >= 0.5).all() and (b1 <= 0.99).all()
    # 16 points of base 2 are one per sixteenth of the unit interval: on a log scale every tenth
    # of log10(lr)'s range [-5, 0] holds one at least (a uniform map would leave the low deciles empty).
    deciles = np.floor((np.log10(lr) + 5) / 5 * 10)
    assert set(deciles) == set(range(10))
    assert len(np.unique(b1)) == 16


def test_configs_cross_the_grid_with_the_trials_and_name_each_hyperparameter():
    spec = optimizers.get("adam")
    out = search.configs(spec, {"b1": [0.8, 0.9]}, ["learning_rate"], 3, seed=1)
    assert [c["b1"] for c in out] == [0.8] * 3 + [0.9] * 3
    assert [c["learning_rate"] for c in out[:3]] == [c["learning_rate"] for c in out[3:]]
    # nothing named: the whole search space less the grid's hyperparameters
    assert set(search.space(spec, None, {"b1": [0.9]})) == set(spec.search_space) - {"b1"}
    assert search.space(spec, {"learning_rate": {"low": 1e-3, "high": 1e-2}}) == {"learning_rate": (1e-3, 1e-2, "log")}


@pytest.mark.parametrize("kwargs, where", [
    (dict(trials=0), "trials"),
    (dict(trials=2.5), "trials"),
    (dict(trials=3, search_seed=-1), "seed"),
    (dict(trials=3, grid={"learning_rate": [0.1]}, search=["learning_rate"]), "search.learning_rate"),
    (dict(trials=3, search=["nope"]), "search.nope"),
    (dict(trials=3, search={"learning_rate": {"low": 0.1, "high": 0.01}}), "search.learning_rate"),
    (dict(search=["learning_rate"]), "search"),
])
def test_bad_search_input_is_one_line_naming_the_field(kwargs, where):
    with pytest.raises(ConfigError) as e:
        bench.sweep("rosenbrock", "gd", steps=5, repeats=1, **kwargs)
    assert e.value.where.endswith(where) and "\n" not in str(e.value)


def test_a_hyperparameter_without_a_search_space_needs_a_range():
    with pytest.raises(ConfigError, match="search.eps: adamax has no search space for eps; give low and high"):
        search.configs(optimizers.get("adamax"), None, ["eps"], 4)


def test_trials_run_as_their_grid_would_and_tuning_picks_the_best_trial():
    kw = dict(problem="quadratic", problem_args={"dim": 5, "condition_number": 10.0}, optimizer="gd",
              seeds=2, steps=120, repeats=1, target=1e-3)
    a = bench.sweep(trials=6, search_seed=3, **kw)
    points = search.configs(optimizers.get("gd"), None, None, 6, seed=3)
    c = bench.sweep(grid=points, **kw)
    cols = ["config_id", "seed", "learning_rate", "final_loss", "steps_to_target"]
    pd.testing.assert_frame_equal(a[cols], c[cols])  # the same seed's trials are these configurations, run alike
    assert sorted(a["learning_rate"].unique()) == sorted(p["learning_rate"] for p in points)
    per = tuning.per_config(a)
    best = tuning.best_configs(a)
    assert len(best) == 1
    hits = per[np.isfinite(per["median_steps"])]
    assert 0 < len(hits) < len(per), "some trials must reach the target and some not for the choice to mean anything"
    assert best["config_id"].iloc[0] == hits.sort_values("median_steps", kind="stable")["config_id"].iloc[0]


SEARCHED = """
name = "searched"
steps = 40
seeds = 2
optimizers = ["gd", "adam"]
impls = ["gdbench"]
repeats = 1
[search]
trials = 3
seed = 7
learning_rate = {}
[grid]
b1 = [0.9]
[[problems]]
name = "rosenbrock"
args = { dim = 2 }
"""


@pytest.mark.slow  # ~25 s: a run and its report
def test_a_suite_with_search_runs_end_to_end(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(SEARCHED)  # b1 is adam's, not gd's: the grid is blamed, once, before anything runs
    code = cli.main(["run", "--config", str(bad), "--out", str(tmp_path / "runs"), "--no-progress"])
    assert code == 2 and "grid.b1" in capsys.readouterr().err
    config = tmp_path / "searched.toml"
    config.write_text(SEARCHED.replace('optimizers = ["gd", "adam"]', 'optimizers = ["adam"]'))
    assert cli.main(["run", "--config", str(config), "--out", str(tmp_path / "runs"), "--no-progress"]) == 0
    folder = next((tmp_path / "runs").iterdir())
    tables, meta = bench.read_run(folder)
    runs = tables["runs"]
    s = suite.load(config)
    expected = sorted(c["learning_rate"] for c in s.configs_for(optimizers.get("adam")))
    assert sorted(runs["learning_rate"].unique()) == expected and (runs["b1"] == 0.9).all()
    assert meta["suite"]["search"] == {"trials": 3, "seed": 7, "learning_rate": {}}
    assert (folder / "report.md").exists()
    capsys.readouterr()


def test_trials_flag(tmp_path, capsys):
    code = cli.main(["run", "--suite", "quick", "--trials", "0", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2 and "--trials" in err and err.count("\n") == 1
    assert cli.main(["run", "--suite", "quick", "--optimizers", "gd", "--problems", "rosenbrock:dim=2:perturb=0.1",
                     "--trials", "5", "--dry-run"]) == 0
    assert "(both): 15 trajectories" in capsys.readouterr().out  # 5 trials x 3 seeds (seeded starts), no grid


@pytest.mark.parametrize("search, message", [
    ("trials = 0", "search.trials: must be an integer in [1, 10000], got 0"),
    ("trials = 2.5", "search.trials: must be an integer in [1, 10000], got 2.5"),
    ("seed = 1", "search.trials: missing"),
    ("trials = 3\nb1 = {}", "search.b1: is on the grid too"),
    ("trials = 3\nbeta = {}", "search.beta: not a hyperparameter of adam"),
    ("trials = 3\neps_root = {}", "search.eps_root: adam has no search space for eps_root; give low and high"),
    ("trials = 3\nlearning_rate = { low = 0 }", "search.learning_rate.low: must be a finite number > 0"),
])
def test_a_bad_search_table_exits_2_with_one_line(tmp_path, capsys, search, message):
    config = tmp_path / "s.toml"
    config.write_text(SEARCHED.replace('optimizers = ["gd", "adam"]', 'optimizers = ["adam"]')
                      .replace("trials = 3\nseed = 7\nlearning_rate = {}", search))
    assert cli.main(["run", "--config", str(config), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_the_search_seed_is_recorded_when_it_is_the_default():
    """meta.json's suite must say which trials ran: the seed is written even when not given."""
    text = SEARCHED.replace("seed = 7\n", "").replace('optimizers = ["gd", "adam"]', 'optimizers = ["adam"]')
    s = suite.parse(tomllib.loads(text), "test.toml")
    assert s.to_dict()["search"]["seed"] == 0
