"""gdbench compare: the side-by-side table, regressions as exit code 1, bad input as 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_analysis_cases import FIXTURE_RUN, copy_run

from bench import cli
from bench.tracking import compare


def changed_run(dest, impl=None, **changes):
    """A copy of the fixture (or `dest` itself, if it exists) whose runs rows of an optimizer
    (of one impl, or both) get new column values."""
    folder = dest if dest.exists() else copy_run(dest)
    runs = pd.read_parquet(folder / "runs.parquet")
    for optimizer, cols in changes.items():
        for col, f in cols.items():
            mask = (runs["optimizer"] == optimizer) & (runs["impl"] == impl if impl else True)
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


def steady_run(dest, impl=None, factor=1.0, optimizer="gd"):
    """The fixture with steady timed repeats (1% spread around each program's median: a quiet
    machine), `optimizer`'s repeats of `impl` (None: both) multiplied by `factor`."""
    def steady(times):
        return list(np.median(times) * np.linspace(0.99, 1.01, len(times)))

    folder = changed_run(dest, **{o: {"program_step_times_s": lambda s: s.map(steady)}
                                  for o in ("adam", "gd", "momentum")})
    return changed_run(folder, impl=impl, **{optimizer: {
        "program_step_s": lambda s: s * factor,
        "program_step_times_s": lambda s: s.map(lambda times: [t * factor for t in times])}})


def test_slower_steps_fail_above_the_threshold(tmp_path, capsys):
    a = steady_run(tmp_path / "a")
    b = steady_run(tmp_path / "b", impl="gdbench", factor=1.5)  # our gd slower, optax's twin not
    code, out, err = run(["compare", str(a), str(b), "--fail-above", "1.10"], capsys)
    assert code == cli.EXIT_REGRESSION == 1
    # Rosenbrock's gd programs ran 15 rounds: significant. The quadratic's ran 5, and the
    # smallest one-sided U-test p-value of 5 against 5 rounds is 1/252, 6/252 > 0.01 after
    # Holm's correction over the 6 cells: too few rounds to call it, so not flagged.
    assert "1 regression(s) above 1.1x" in err and "1.500" in out
    flagged = [line for line in out.splitlines() if line.rstrip(" │").endswith("!")]
    assert len(flagged) == 1 and "│ gd " in flagged[0]
    assert out.index("rosenbrock(dim=2") < out.index(flagged[0]) and "quadratic(dim=5" in out
    assert run(["compare", str(a), str(b), "--fail-above", "1.6"], capsys)[0] == 0
    assert run(["compare", str(a), str(b), "--fail-above", "1.1", "--on", "steps"], capsys)[0] == 0
    assert run(["compare", str(a), str(b)], capsys)[0] == 0  # no threshold: a table only
    # Slower on both implementations alike (the machine, not gd): the ratio to optax's twin cancels it.
    both = steady_run(tmp_path / "both", factor=1.5)
    assert run(["compare", str(a), str(both), "--fail-above", "1.10"], capsys)[0] == 0


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
