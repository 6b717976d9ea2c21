"""Phases (chosen on the selection seeds, reported on the report seeds), rankings at a fixed budget and
their disagreement with those to the target, attempts to success and budgets, by hand; the report's sections."""

from __future__ import annotations

import types

import pandas as pd
import pytest
from test_analysis_cases import INF, copy_run, fixture_report, make_runs  # noqa: F401 (session fixture)

import bench
from bench.reporting import report
from bench.runs import suite as suites
from bench.runs import summary
from bench.stats import profiles, rankings, tuning


def _runs(spec: dict, **extra) -> pd.DataFrame:
    """{(instance, optimizer, config_id, lr): (steps per seed, final subopt per seed)} -> a runs table."""
    return make_runs([dict(instance=i, optimizer=o, config_id=c, learning_rate=lr, seed=s, steps_to_target=st,
                           final_subopt=sub, best_loss=10.0 * sub, **extra)
                      for (i, o, c, lr), (steps, subs) in spec.items() for s, (st, sub) in enumerate(zip(steps, subs))])


# --------------------------------------------------------------------------- phases

def _phased() -> pd.DataFrame:
    # adam: c1 is best on the selection seeds (100 < 300 steps); its report rows (seeds 10-12) say 200.
    # gd: no report rows, so it is reported on its selection seeds.
    select = _runs({("P", "adam", 0, 1e-3): ([300] * 3, [1e-7] * 3), ("P", "adam", 1, 1e-2): ([100] * 3, [1e-8] * 3),
                    ("P", "gd", 0, 1e-3): ([INF] * 3, [0.5] * 3), ("P", "gd", 1, 1e-2): ([400] * 3, [1e-7] * 3)},
                   phase="select")
    held = _runs({("P", "adam", 1, 1e-2): ([190, 200, 210], [1e-9] * 3)}, phase="report")
    held["seed"] += 10
    held["run_id"] += len(select)
    return pd.concat([select, held], ignore_index=True)


def test_the_choice_is_made_on_the_select_rows_and_reported_on_the_report_rows():
    runs = _phased()
    assert len(tuning.select_rows(runs)) == 12 and (tuning.select_rows(runs)["phase"] == "select").all()
    best = tuning.best_configs(runs).set_index("optimizer")
    assert best.loc["adam", "config_id"] == 1 and best.loc["adam", "median_steps"] == 100  # selection seeds
    rows = tuning.report_rows(runs)
    adam, gd = rows[rows.optimizer == "adam"], rows[rows.optimizer == "gd"]
    assert sorted(adam["seed"]) == [10, 11, 12] and (adam["phase"] == "report").all()
    assert sorted(gd["seed"]) == [0, 1, 2] and (gd["phase"] == "select").all() and (gd["config_id"] == 1).all()
    t = tuning.tuned(runs).set_index("optimizer")
    assert (t.loc["adam", "steps"], t.loc["adam", "steps_low"], t.loc["adam", "steps_high"]) == (200, 190, 210)
    assert t.loc["adam", "phase"] == "report" and t.loc["gd", "phase"] == "select" and t.loc["gd", "steps"] == 400
    assert tuning.shares_seeds(runs)
    assert not tuning.shares_seeds(runs[runs.optimizer == "adam"])
    # the grid views and the one-shot result stay on the selection seeds
    assert tuning.per_config(runs).set_index(["optimizer", "config_id"]).loc[("adam", 1), "median_steps"] == 100
    assert tuning.one_shot(runs).set_index("optimizer").loc["adam", "steps"] == 300  # default lr 1e-3 = c0
    assert tuning.attempts_to_success(runs).set_index("optimizer").loc["gd", "successes"] == 1
    # the profiles' costs and the fixed-budget ranking are the report's
    costs = profiles.solver_costs(runs, "steps").set_index("solver")["cost"]
    assert costs.to_dict() == {"adam": 200.0, "gd": 400.0}
    fixed = rankings.fixed_budget(runs).set_index("solver")
    assert fixed.loc["adam", "median"] == pytest.approx(1e-9) and fixed.loc["adam", "rank"] == 1


def test_a_table_without_phase_or_with_a_missing_phase_is_all_select():
    runs = _phased().drop(columns="phase")
    assert tuning.select_rows(runs) is runs
    rows = tuning.report_rows(runs)  # no phase: adam's seeds 10-12 are selection seeds too (6 seeds of c1)
    assert (rows["phase"] == "select").all() and len(rows[rows.optimizer == "adam"]) == 6
    runs = _phased()
    runs.loc[runs.optimizer == "gd", "phase"] = None
    assert len(tuning.select_rows(runs)) == 12


# --------------------------------------------------------------------------- rankings

# On P, adam hits first (100 steps) but ends higher (final 1e-7 > 1e-12); lion hits later and ends lowest.
# On Q they agree: adam first at both. gd never hits anywhere; on Q it is not run at all.
DISAGREE = {
    ("P", "adam", 0, 1e-3): ([100, 100, 100], [1e-7, 2e-7, 3e-7]),
    ("P", "lion", 0, 1e-4): ([150, 160, 170], [1e-12, 2e-12, 3e-12]),
    ("P", "gd", 0, 1e-3): ([INF] * 3, [1e-3, 2e-3, 3e-3]),
    ("Q", "adam", 0, 1e-3): ([50, 50, 50], [1e-9] * 3),
    ("Q", "lion", 0, 1e-4): ([90, 90, 90], [1e-8] * 3),
}


def test_fixed_budget_ranks_by_the_median_final_suboptimality_with_its_interval():
    runs = _runs(DISAGREE)
    t = rankings.fixed_budget(runs).set_index(["problem", "solver"])
    # three seeds: the median is the middle value and the 95% interval is their range (tests/test_analysis_tuning.py)
    assert t.loc[("P", "gd"), ["median", "low", "high"]].tolist() == pytest.approx([2e-3, 1e-3, 3e-3])
    assert t.loc[("P", "lion"), ["median", "low", "high"]].tolist() == pytest.approx([2e-12, 1e-12, 3e-12])
    assert [t.loc[("P", s), "rank"] for s in ("lion", "adam", "gd")] == [1, 2, 3]
    # gd did not run on Q: last there, +inf
    assert t.loc[("Q", "gd"), "median"] == INF and t.loc[("Q", "gd"), "rank"] == 3
    best = rankings.fixed_budget(runs, "best").set_index(["problem", "solver"])  # best_loss = 10 x final here
    assert best.loc[("P", "lion"), "median"] == pytest.approx(2e-12) and best.loc[("P", "lion"), "rank"] == 1
    with pytest.raises(ValueError, match="measure"):
        rankings.fixed_budget(runs, "mean")


def test_to_target_ranks_misses_tied_last_and_disagreement_is_found():
    runs = _runs(DISAGREE)
    target = rankings.to_target(runs).set_index(["problem", "solver"])
    assert [target.loc[("P", s), "rank"] for s in ("adam", "lion", "gd")] == [1, 2, 3]
    assert target.loc[("Q", "gd"), "median"] == INF
    d = rankings.disagreements(rankings.to_target(runs), rankings.fixed_budget(runs)).set_index("problem")
    assert d.loc["P", "differ"]
    assert d.loc["P", "target_winners"] == ("adam",) and d.loc["P", "budget_winners"] == ("lion",)
    assert d.loc["P", "budget_clear"]  # lion's interval [1e-12, 3e-12] lies below adam's [1e-7, 3e-7]
    assert not d.loc["Q", "differ"] and d.loc["Q", "reached"]
    none = runs[runs.optimizer == "gd"]  # nobody reaches the target: no to-target winner, no disagreement
    d = rankings.disagreements(rankings.to_target(none), rankings.fixed_budget(none))
    assert not d["reached"].item() and not d["differ"].item()


def test_ties_share_the_average_place_and_mean_ranks_by_hand():
    table = pd.DataFrame({"problem": ["P"] * 3 + ["Q"] * 3, "solver": ["a", "b", "c"] * 2,
                          "median": [1.0, INF, INF, 2.0, 1.0, 2.0], "low": 0.0, "high": 0.0})
    table["rank"] = rankings._ranks(table, ["median"])
    assert table["rank"].tolist() == [1, 2.5, 2.5, 2.5, 1, 2.5]
    m = rankings.mean_ranks(table).set_index("solver")
    assert m.loc["a", "mean_rank"] == 1.75 and m.loc["b", "mean_rank"] == 1.75 and m.loc["c", "mean_rank"] == 2.5
    assert m.loc["a", "first"] == 1 and m.loc["b", "first"] == 1 and m.loc["c", "first"] == 0
    assert (m["problems"] == 2).all()


# --------------------------------------------------------------------------- attempts, budgets

def test_attempts_to_success_counts_the_trials_whose_median_hits():
    # 4 trials x 3 seeds: c0 all hit, c1 2 of 3 (median finite), c2 1 of 3 (median inf), c3 none.
    runs = _runs({("P", "adam", 0, 1e-3): ([10, 20, 30], [0] * 3), ("P", "adam", 1, 1e-2): ([10, 20, INF], [0] * 3),
                  ("P", "adam", 2, 1e-1): ([10, INF, INF], [0] * 3), ("P", "adam", 3, 1.0): ([INF] * 3, [0] * 3)})
    a = tuning.attempts_to_success(runs).iloc[0]
    assert (a.trials, a.successes, a.share) == (4, 2, 0.5)
    assert a.expected_attempts == pytest.approx(5 / 3)  # first success among 4 shuffled trials, 2 of them good
    a = tuning.attempts_to_success(runs[runs.config_id == 3]).iloc[0]
    assert a.successes == 0 and a.expected_attempts == INF


def test_budgets_count_trials_and_the_swept_hyperparameters():
    runs = _runs({("P", "adam", 0, 1e-3): ([INF], [1.0]), ("P", "adam", 1, 1e-1): ([INF], [1.0]),
                  ("Q", "adam", 0, 1e-3): ([INF], [1.0]), ("P", "gd", 0, 1e-2): ([INF], [1.0])})
    b = tuning.budgets(runs).set_index("optimizer")
    assert b.loc["adam", ["cells", "trials_min", "trials_max"]].tolist() == [2, 1, 2]
    assert b.loc["adam", "space"] == {"learning_rate": (1e-3, 1e-1, 2)} and b.loc["gd", "space"] == {}
    assert not tuning.equal_budgets(b.reset_index())
    assert tuning.equal_budgets(tuning.budgets(runs[runs.instance == "P"].query("config_id == 0")))


def test_a_search_gives_every_optimizer_the_same_number_of_trials_over_its_own_space():
    s = suites.parse({"name": "s", "optimizers": ["gd", "adam", "momentum"], "search": {"trials": 5},
                      "problems": [{"name": "rosenbrock", "args": {"dim": 2}}]}, "s.toml")
    import optimizers

    for name in s.optimizers:
        spec = optimizers.resolve(name)
        configs = s.configs_for(spec)
        assert len(configs) == 5 and set(configs[0]) == set(spec.search_space)


# --------------------------------------------------------------------------- summary and report

def _suite(seeds=3):
    return types.SimpleNamespace(name="s", target=1e-6, seeds=list(range(seeds)), steps=200, dtype="float32")


def test_summary_puts_the_default_beside_the_tuned_result_and_names_the_seeds():
    runs = _phased()
    table = summary.rows(runs)["P"].set_index("optimizer")
    assert table.loc["adam", "steps"] == 200  # the report seeds'
    assert table.loc["adam", "default"] == "300 / 1.0e-07" and table.loc["gd", "default"] == "never / 5.0e-01"
    text = summary.text(runs, _suite(), "complete")
    assert "selection and report share seeds" in text  # gd has no report rows
    assert "time/step vs optax" in text and "default" in text  # one header line each, not wrapped
    text = summary.text(runs[runs.optimizer == "adam"], _suite(), "complete")
    assert "share seeds" not in text and "median over 3 held-out seeds" in text
    no_default = runs[(runs.optimizer == "adam") & (runs.config_id == 1)]  # lr 1e-2 only: adam's default not run
    assert summary.rows(no_default)["P"]["default"].item() == "not in grid"


def test_report_has_budgets_attempts_rankings_and_defaults(fixture_report):  # noqa: F811
    md = (fixture_report / "report.md").read_text()
    html = (fixture_report / "report.html").read_text()
    for text in ("### Rankings at a fixed budget", "### Budgets", "### Attempts to success", "final at defaults",
                 "Selection and report share seeds", "rank at the end", "mean rank at the end (final)"):
        assert text in md
    for ident in ('id="rankings"', 'id="mean-ranks"', 'id="budgets"', 'id="attempts"'):
        assert ident in html
    assert "Every optimizer was given the same budget: 2 trials" in md
    # The fixture's quadratic: gd is first to the target, momentum first at the end (tests/fixtures/run).
    runs = bench.read_run(fixture_report)[0]["runs"]
    ours = runs[runs.impl == "gdbench"]
    d = rankings.disagreements(rankings.to_target(ours), rankings.fixed_budget(ours)).set_index("problem")
    section = md.split("### Rankings at a fixed budget")[1].split("###")[0]
    for problem, row in d.iterrows():
        line = next(li for li in section.splitlines() if li.startswith(f"| {problem} |"))
        verdict = line.rstrip(" |").rsplit("| ", 1)[1]
        assert verdict == ("differ" if row["differ"] else "agree" if row["reached"] else "none reached the target")
    assert d["differ"].any() and all(p in md for p in d.index[d["differ"]])


def test_report_of_a_run_with_held_out_seeds(tmp_path):
    folder = copy_run(tmp_path / "run")
    tables, _ = bench.read_run(folder)
    runs, curves = tables["runs"], tables["curves"]
    runs["phase"] = "select"
    held = tuning.report_rows(runs)
    held = held.assign(phase="report", seed=held["seed"] + 100, run_id=held["run_id"] + 10_000)
    moved = curves.merge(held[["run_id"]].assign(old=held["run_id"] - 10_000), left_on="run_id", right_on="old")
    moved = moved.drop(columns=["run_id_x", "old"]).rename(columns={"run_id_y": "run_id"})[curves.columns]
    pd.concat([runs, held], ignore_index=True).to_parquet(folder / "runs.parquet")
    pd.concat([curves, moved], ignore_index=True).to_parquet(folder / "curves.parquet")
    report.write(folder)
    md = (folder / "report.md").read_text()
    assert "chosen on 3 selection seeds and reported on 3 held-out seeds" in md
    assert "share seeds" not in md
    t = tuning.tuned(bench.read_run(folder)[0]["runs"])
    assert (t["phase"] == "report").all()
