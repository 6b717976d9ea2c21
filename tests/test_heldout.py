"""Held-out seeds: a suite's [tuning] chooses on `select_seeds` and reports on `seeds`.

The selection phase runs the grid on the selection seeds; each cell's chosen
configuration (`tuning.best_configs` on those rows) runs again on the suite's
seeds, as a second program of the same engine. Its rows must be those of
`bench.sweep` of that one configuration on those seeds (the same program: bit
for bit), and a resumed run must give the uninterrupted one's columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bench
from bench import cli
from bench.errors import ConfigError
from bench.runs import results, runner
from bench.runs import suite as suites
from bench.stats import tuning

# Rosenbrock (f* known) with seeded starts, and a tiny MLP (no f*: its targets are
# relative to the best loss of the selection phase); 3 learning rates, 2 optimizers.
SUITE = """
name = "heldout"
steps = 50
seeds = [0, 1]
dtype = "float64"
optimizers = ["adam", "gd"]
repeats = 1
[grid]
learning_rate = [0.0005, 0.004, 0.03]
[tuning]
select_seeds = [5, 6]
[[problems]]
name = "rosenbrock"
args = { dim = 2, perturb = 0.3 }
[[problems]]
name = "mlp"
args = { dataset = "synthetic", n_samples = 40, n_features = 3, n_classes = 2, hidden = 3 }
"""
N_CELLS = 4
PROBLEMS = {"rosenbrock": {"dim": 2, "perturb": 0.3},
            "mlp": {"dataset": "synthetic", "n_samples": 40, "n_features": 3, "n_classes": 2, "hidden": 3}}
CONVERGENCE = ["run_id", "instance", "optimizer", "impl", "phase", "config_id", "hyperparams", "seed",
               "initial_loss", "final_loss", "best_loss", "final_subopt", "f_ref", "diverged", "diverged_step"]


def convergence(runs: pd.DataFrame) -> pd.DataFrame:
    """The columns that do not depend on timing, in run_id order."""
    cols = CONVERGENCE + [c for c in runs.columns if c.startswith("steps_to_")]
    return runs[cols].sort_values("run_id").reset_index(drop=True)


def _folder(out: Path) -> Path:
    (folder,) = out.iterdir()
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of SUITE: (config path, tables, meta)."""
    root = tmp_path_factory.mktemp("heldout")
    config = root / "heldout.toml"
    config.write_text(SUITE)
    assert cli.main(["run", "--config", str(config), "--out", str(root / "runs"), "--no-progress",
                     "--no-report"]) == 0
    tables, meta = results.read_run(_folder(root / "runs"))
    return config, tables, meta


# --------------------------------------------------------------------------- the suite's section


def _parse(**changes):
    data = {"name": "t", "seeds": [0, 1], "optimizers": ["gd"], "problems": [{"name": "rosenbrock"}],
            "grid": {"learning_rate": [1e-3]}, **changes}
    return suites.parse(data, "t.toml")


def test_select_seeds_list_or_count():
    assert _parse(tuning={"select_seeds": [5, 6]}).select_seeds == (5, 6)
    # a count n: the n smallest integers >= 0 not in seeds
    assert _parse(seeds=[0, 2], tuning={"select_seeds": 2}).select_seeds == (1, 3)
    assert _parse(seeds=3, tuning={"select_seeds": 1}).select_seeds == (3,)
    assert _parse().select_seeds is None and "tuning" not in _parse().to_dict()
    # recorded as the list: meta.json's suite parses back to the same suite
    s = _parse(tuning={"select_seeds": 2})
    recorded = json.loads(json.dumps(s.to_dict()))  # as meta.json holds it
    again = suites.parse({k: v for k, v in recorded.items() if k not in ("source", "description")}, "t.toml")
    assert again == s and s.to_dict()["tuning"] == {"select_seeds": [2, 3]}


@pytest.mark.parametrize("tuning_table, message", [
    ({"select_seeds": [1, 7]}, "disjoint from seeds [0, 1]: both hold 1"),
    ({"select_seeds": [4, 4]}, "must not repeat a seed"),
    ({"select_seeds": []}, "non-empty list"),
    ({"select_seeds": 0}, ">= 1"),
    ({"select_seeds": [-1]}, "integers >= 0"),
    ({"select_seeds": "2"}, "a count or a list"),
    ({}, "missing"),
])
def test_bad_select_seeds_name_the_key(tuning_table, message):
    with pytest.raises(ConfigError) as e:
        _parse(tuning=tuning_table)
    assert e.value.where == "t.toml: tuning.select_seeds" and message in e.value.message


def test_bad_tuning_table_names_the_key():
    with pytest.raises(ConfigError, match="tuning.select_seed.*did you mean 'select_seeds'"):
        _parse(tuning={"select_seed": [3]})
    with pytest.raises(ConfigError, match="t.toml: tuning: must be a table"):
        _parse(tuning=[3])


def test_cli_flag_and_its_errors(tmp_path, capsys):
    config = tmp_path / "s.toml"
    config.write_text(SUITE)
    out = tmp_path / "out"
    assert cli.main(["run", "--config", str(config), "--select-seeds", "1,5", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "--select-seeds" in err and "disjoint from seeds [0, 1]" in err
    # --seeds that meet the suite's select_seeds: blamed on --seeds
    assert cli.main(["run", "--config", str(config), "--seeds", "6", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "--seeds" in err and "tuning.select_seeds" in err
    assert not out.exists()  # nothing written
    assert cli.main(["run", "--config", str(config), "--select-seeds", "3", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "chosen on seeds [2, 3, 4]" in printed and "9 trajectories" in printed


# --------------------------------------------------------------------------- the two phases


def test_select_rows_on_the_selection_seeds_report_rows_on_the_suite_seeds(reference):
    _, tables, meta = reference
    runs = tables["runs"]
    assert meta["tuning"] == {"select_seeds": [5, 6], "shared_seeds": False}
    assert runs["run_id"].is_unique and set(runs["phase"]) == {"select", "report"}
    select, report = runs[runs["phase"] == "select"], runs[runs["phase"] == "report"]
    assert set(select["seed"]) == {5, 6} and set(report["seed"]) == {0, 1}
    assert (select.groupby(list(tuning.GROUP))["config_id"].nunique() == 3).all()
    assert len(select.groupby(list(tuning.GROUP))) == 8  # 2 problems x 2 optimizers x 2 impls
    per_group = report.groupby(list(tuning.GROUP))
    assert len(per_group) == 8 and (per_group["config_id"].nunique() == 1).all()
    assert (per_group["seed"].apply(sorted).map(tuple) == (0, 1)).all()
    # the configuration chosen on the selection rows, with its id and hyperparameters
    best = tuning.best_configs(select).set_index(list(tuning.GROUP))
    for key, part in per_group:
        assert part["config_id"].iloc[0] == best.loc[key, "config_id"]
        assert part["hyperparams"].iloc[0] == best.loc[key, "hyperparams"]
    # best_configs never chooses on the report rows
    pd.testing.assert_frame_equal(tuning.best_configs(runs), tuning.best_configs(select))
    # one reference per problem across both phases: the selection phase's
    assert (runs.groupby("problem")["f_ref"].nunique() == 1).all()
    mlp = runs[runs["problem"] == "mlp"]
    assert (mlp["f_ref"] == mlp.loc[mlp["phase"] == "select", "best_loss"].min()).all()
    # curves for every row; the report rows' paths kept (rosenbrock 2-D records them)
    assert set(tables["curves"]["run_id"]) == set(runs["run_id"])
    rosen = report[report["problem"] == "rosenbrock"]["run_id"]
    assert set(rosen) <= set(tables["paths"]["run_id"])


def test_report_rows_are_those_of_a_sweep_of_the_chosen_configuration(reference):
    """The report program is `bench.sweep`'s for one configuration on the suite's seeds:
    the same compiled arithmetic, so every loss is equal bit for bit; one seed alone is
    another program (1 lane, not 2), equal to rounding."""
    _, tables, _ = reference
    runs = tables["runs"]
    report = runs[runs["phase"] == "report"]
    for (problem, optimizer), part in report.groupby(["problem", "optimizer"]):
        lrs = part.groupby("impl")["learning_rate"].first()
        assert lrs.nunique() == 1  # ours and optax's chose alike here
        kw = dict(problem=problem, problem_args=PROBLEMS[problem], optimizer=optimizer, steps=50, dtype="float64",
                  repeats=1, impl="both", grid={"learning_rate": [float(lrs.iloc[0])]})
        ref = bench.sweep(seeds=[0, 1], **kw)
        mine = part.sort_values(["impl", "seed"]).reset_index(drop=True)
        ref = ref.sort_values(["impl", "seed"]).reset_index(drop=True)
        cols = ["impl", "seed", "initial_loss", "final_loss", "best_loss", "grad_norm", "diverged_step"]
        if problem == "rosenbrock":  # f*: the same targets (the MLP's f_ref is the selection phase's)
            cols += [c for c in runs.columns if c.startswith("steps_to_")]
        pd.testing.assert_frame_equal(mine[cols], ref[cols], check_exact=True)
        # one seed alone: the lane's arithmetic in a program of other width; float64 drift over 50
        # steps is ~1e-14 relative (bench/tracking/gates.py), far below what a learning rate changes
        alone = bench.sweep(seeds=[1], **kw)
        for impl in ("gdbench", "optax"):
            np.testing.assert_allclose(mine.loc[(mine["impl"] == impl) & (mine["seed"] == 1), "final_loss"],
                                       alone.loc[alone["impl"] == impl, "final_loss"], rtol=1e-10, atol=0)


def test_each_implementation_keeps_its_own_choice():
    """Where ours and optax's chose differently, the report program ran both configurations
    under both; each keeps the rows of its own, config ids those of the selection phase."""
    runs = pd.DataFrame({"run_id": range(8), "impl": ["gdbench"] * 4 + ["optax"] * 4,
                         "config_id": [0, 0, 1, 1] * 2, "seed": [0, 1] * 4})
    curves = pd.DataFrame({"run_id": np.repeat(np.arange(8), 2), "step": [0, 1] * 8, "loss": np.arange(16.0)})
    paths = pd.DataFrame({"run_id": pd.Series(dtype="int64"), "step": pd.Series(dtype="int64"),
                          "coord": pd.Series(dtype="int64"), "value": pd.Series(dtype="float64")})
    out = runner.report_tables({"runs": runs, "curves": curves, "paths": paths}, [2, 7], {"gdbench": 7, "optax": 2})
    assert out["runs"]["impl"].tolist() == ["gdbench", "gdbench", "optax", "optax"]
    assert out["runs"]["config_id"].tolist() == [7, 7, 2, 2] and out["runs"]["run_id"].tolist() == [0, 1, 2, 3]
    # the curves follow their rows: old run ids 2, 3, 4, 5 -> 0, 1, 2, 3
    assert out["curves"]["run_id"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert out["curves"]["loss"].tolist() == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]


def test_summary_reports_the_report_phase(reference):
    from bench.runs import summary

    _, tables, _ = reference
    runs = tables["runs"]
    report = runs[runs["phase"] == "report"]
    for instance, table in summary.rows(runs).items():
        assert (table["phase"] == "report").all() and (table["seeds"] == 2).all()
        mine = report[(report["instance"] == instance) & (report["impl"] == "gdbench")]
        expected = mine.groupby("optimizer")["final_subopt"].median()  # each optimizer's report rows: one config
        got = table.set_index("optimizer")["final"]
        pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)


def test_without_tuning_every_row_is_select_and_meta_says_shared(tmp_path):
    config = tmp_path / "plain.toml"
    config.write_text('name = "plain"\nsteps = 10\nseeds = [0]\noptimizers = ["gd"]\nimpls = ["gdbench"]\n'
                      'repeats = 1\n[grid]\nlearning_rate = [0.001]\n[[problems]]\nname = "rosenbrock"\n')
    assert cli.main(["run", "--config", str(config), "--out", str(tmp_path / "runs"), "--no-progress",
                     "--no-report"]) == 0
    tables, meta = results.read_run(_folder(tmp_path / "runs"))
    assert set(tables["runs"]["phase"]) == {"select"}
    assert meta["tuning"] == {"select_seeds": None, "shared_seeds": True}


# --------------------------------------------------------------------------- resume


@pytest.mark.parametrize("stop_after", ["select", "report"])
def test_interrupted_between_phases_resumes_to_the_uninterrupted_result(reference, tmp_path, monkeypatch, capsys,
                                                                       stop_after):
    """Stopped once the first MLP part of a phase is stored (the MLP has no f*): "select", its
    selection half done; "report", its selection done and one report stored. The resumed run
    chooses again from the stored rows, with their f_ref: the uninterrupted columns."""
    config, tables, _ = reference
    real_add = results.RunFolder.add

    def add_then_stop(self, index, part):
        real_add(self, index, part)
        runs = part["runs"]
        if runs["problem"].iloc[0] == "mlp" and runs["phase"].iloc[0] == stop_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(results.RunFolder, "add", add_then_stop)
    out = tmp_path / "runs"
    code, _ = cli.main(["run", "--config", str(config), "--out", str(out), "--no-progress", "--no-report"]), None
    assert code == 130
    folder = _folder(out)
    stored = {int(p.name.split("-")[1]) for p in (folder / "parts").glob("cell-*-runs.parquet")}
    # parts: cells 0-3 their selection, 4-7 their report (rosenbrock's cells first)
    assert stored == ({0, 1, 2, 4, 5} if stop_after == "select" else {0, 1, 2, 3, 4, 5, 6})
    monkeypatch.setattr(results.RunFolder, "add", real_add)
    reported = []
    real_report = runner._report_problem
    monkeypatch.setattr(runner, "_report_problem", lambda *a, **k: reported.append(len(a[1])) or real_report(*a, **k))
    capsys.readouterr()
    assert cli.main(["run", "--resume", str(folder), "--no-progress", "--no-report"]) == 0, capsys.readouterr().err
    assert reported == ([2] if stop_after == "select" else [1])  # only the MLP's missing report phases ran
    resumed, meta = results.read_run(folder)
    assert meta["status"] == "complete"
    mine, ref = convergence(resumed["runs"]), convergence(tables["runs"])
    pd.testing.assert_frame_equal(mine, ref)
    assert json.loads((folder / "meta.json").read_text())["tuning"]["select_seeds"] == [5, 6]


# --------------------------------------------------------------------------- distributed


@pytest.mark.slow  # three fresh processes
def test_two_processes_give_the_columns_of_one_with_held_out_seeds(tmp_path):
    """Every process chooses alike (process 0's choice) and runs its lanes of the report programs."""
    from test_distributed import FAST, _compare_with_one_process

    _compare_with_one_process(tmp_path, FAST.replace("[grid]", "[tuning]\nselect_seeds = 2\n[grid]"))
    (folder,) = (tmp_path / "two").iterdir()
    runs = pd.read_parquet(folder / "runs.parquet")
    assert set(runs.loc[runs["phase"] == "report", "seed"]) == {0, 1}
    assert set(runs.loc[runs["phase"] == "select", "seed"]) == {2, 3}


def test_the_gates_compare_like_with_like(reference):
    """A run chosen on held-out seeds is another suite for compare and history; its baseline keeps `phase`."""
    from bench.tracking import baseline, gates

    _, tables, meta = reference
    plain = {**meta, "suite": {k: v for k, v in meta["suite"].items() if k != "tuning"}}
    assert gates.suite_key(meta) != gates.suite_key(plain)
    with pytest.raises(ConfigError, match="suite.tuning"):
        gates.check_same_suite(meta, plain, "A", "B")
    base, _ = baseline.from_run(tables, meta)
    assert base["runs"].groupby("phase")["seed"].agg(set).to_dict() == {"report": {0, 1}, "select": {5, 6}}
    assert not base["runs"].duplicated(gates.KEY).any()  # the phases' keys differ in seed
