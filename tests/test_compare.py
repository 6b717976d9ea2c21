"""gdbench compare: the side-by-side table, regressions as exit code 1, bad input as 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_analysis_cases import FIXTURE_RUN, copy_run

from bench import cli, compare


def changed_run(dest, **changes):
    """A copy of the fixture whose runs rows of an optimizer get new column values."""
    folder = copy_run(dest)
    runs = pd.read_parquet(folder / "runs.parquet")
    for optimizer, cols in changes.items():
        for col, f in cols.items():
            mask = runs["optimizer"] == optimizer
            runs.loc[mask, col] = f(runs.loc[mask, col])
    runs.to_parquet(folder / "runs.parquet", index=False)
    return folder


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_run_against_itself():
    runs = pd.read_parquet(FIXTURE_RUN / "runs.parquet")
    t = compare.table(runs, runs)
    assert len(t) == 2 * 3  # problems x optimizers
    assert (t["time_ratio"] == 1).all()
    hit = np.isfinite(t["steps_a"])
    assert (t.loc[hit, "steps_ratio"] == 1).all() and t.loc[~hit, "steps_ratio"].isna().all()  # both never: no ratio
    assert compare.regressions(t, 1.0).empty


def test_slower_steps_fail_above_the_threshold(tmp_path, capsys):
    b = changed_run(tmp_path / "b", gd={"program_step_s": lambda s: s * 1.5})
    code, out, err = run(["compare", str(FIXTURE_RUN), str(b), "--fail-above", "1.10"], capsys)
    assert code == compare.EXIT_REGRESSION == 1
    assert "2 regression(s) above 1.1x" in err and "1.500" in out  # gd on both problems
    assert "quadratic(dim=5" in out and "rosenbrock(dim=2" in out
    assert run(["compare", str(FIXTURE_RUN), str(b), "--fail-above", "1.6"], capsys)[0] == 0
    assert run(["compare", str(FIXTURE_RUN), str(b), "--fail-above", "1.1", "--on", "steps"], capsys)[0] == 0
    assert run(["compare", str(FIXTURE_RUN), str(b)], capsys)[0] == 0  # no threshold: a table only


def test_a_target_no_longer_reached_is_a_steps_regression(tmp_path, capsys):
    b = changed_run(tmp_path / "b", momentum={"steps_to_target": lambda s: s * np.inf})
    t = compare.table(pd.read_parquet(FIXTURE_RUN / "runs.parquet"), pd.read_parquet(b / "runs.parquet"))
    quad = t[(t.optimizer == "momentum") & t.instance.str.startswith("quadratic")]
    assert quad["steps_ratio"].item() == np.inf
    code, out, err = run(["compare", str(FIXTURE_RUN), str(b), "--fail-above", "1.1", "--on", "steps"], capsys)
    assert code == 1 and "1 regression(s)" in err


@pytest.mark.parametrize("argv_tail, message", [
    (["--fail-above", "-1"], "must be a ratio > 0"),
    (["--fail-above", "x"], "must be a ratio > 0"),
    (["--on", "flops"], "invalid choice"),
], ids=["negative", "not-a-number", "bad-choice"])
def test_bad_flags(capsys, argv_tail, message):
    code, _, err = run(["compare", str(FIXTURE_RUN), str(FIXTURE_RUN), *argv_tail], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err


def test_bad_folders_are_one_line_and_exit_2(tmp_path, capsys):
    old = copy_run(tmp_path / "old")
    (old / "meta.json").write_text(json.dumps({**json.loads((old / "meta.json").read_text()), "schema_version": 0}))
    for a, b, message in [(tmp_path / "nope", FIXTURE_RUN, "no such directory"),
                          (FIXTURE_RUN, old, "schema version 0")]:
        code, out, err = run(["compare", str(a), str(b)], capsys)
        assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err
        assert out == ""


def test_runs_with_nothing_in_common(tmp_path, capsys):
    b = changed_run(tmp_path / "b", **{o: {"optimizer": lambda s: s + "_renamed"} for o in ("adam", "gd", "momentum")})
    code, out, err = run(["compare", str(FIXTURE_RUN), str(b)], capsys)
    assert code == 2 and err.count("\n") == 1 and "in common" in err
