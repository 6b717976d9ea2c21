"""A failing cell is recorded (one line), the others run and are kept, the run exits 1, --resume retries it.

The suite has one problem without a known optimum (its targets are relative
to the best loss of all its cells), so keeping the other cell "as if the
failing one were not there" is checked where the cells depend on each other.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench import cli
from bench.runs import results, runner

SUITE = """
name = "two"
steps = 30
seeds = [0, 1]
optimizers = [{optimizers}]
repeats = 1
[[problems]]
name = "mlp"
args = {{ dataset = "synthetic", n_samples = 40, n_features = 3, n_classes = 2, hidden = 3 }}
"""

# Fails while traced until a file FIXED lies beside it; then plain gradient descent.
PLUGIN = '''
from pathlib import Path

import optax


def flaky(learning_rate=0.05):
    if (Path(__file__).parent / "FIXED").exists():
        return optax.sgd(learning_rate)

    def update(updates, state, params=None):
        raise RuntimeError("no update here\\nsecond line")

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)
'''

# Traces, then fails while its compiled program runs (a host callback raising).
RUN_FAILING = '''
import jax
import optax


def late(learning_rate=0.05):
    def fail(x):
        raise RuntimeError("fails while running")

    def update(updates, state, params=None):
        jax.debug.callback(fail, updates)
        return jax.tree.map(lambda g: -learning_rate * g, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)
'''
COLUMNS = ["run_id", "problem", "instance", "optimizer", "impl", "config_id", "seed", "initial_loss", "final_loss",
           "best_loss", "final_subopt", "f_ref", "diverged", "diverged_step"]


def convergence(runs: pd.DataFrame) -> pd.DataFrame:
    """The columns that do not depend on timing (bit for bit on one machine), in run_id order."""
    cols = COLUMNS + [c for c in runs.columns if c.startswith("steps_to_")]
    return runs[cols].sort_values("run_id").reset_index(drop=True)


def run(tmp_path, optimizers: list[str], capsys, name: str):
    config = tmp_path / f"{name}.toml"
    config.write_text(SUITE.format(optimizers=", ".join(f'"{o}"' for o in optimizers)))
    out = tmp_path / name
    code = cli.main(["run", "--config", str(config), "--out", str(out), "--no-progress", "--no-report"])
    (folder,) = out.iterdir()
    return code, capsys.readouterr().err, folder


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """The suite without the failing cell: adam alone."""
    root = tmp_path_factory.mktemp("alone")
    config = root / "alone.toml"
    config.write_text(SUITE.format(optimizers='"adam"'))
    assert cli.main(["run", "--config", str(config), "--out", str(root / "runs"), "--no-progress",
                     "--no-report"]) == 0
    (folder,) = (root / "runs").iterdir()
    return results.read_run(folder)[0]["runs"]


def test_a_failing_cell_is_recorded_the_other_kept_and_resume_retries_it(tmp_path, capsys, alone):
    (tmp_path / "flaky.py").write_text(PLUGIN)
    ref = f"{tmp_path / 'flaky.py'}:flaky"
    code, err, folder = run(tmp_path, [ref, "adam"], capsys, "runs")  # the failing cell first: cell 0
    assert code == cli.EXIT_CELLS_FAILED == 1, err
    tables, meta = results.read_run(folder)
    assert meta["status"] == runner.COMPLETE_WITH_FAILURES and folder.name.endswith("-two")
    error = f"optimizer: {ref} failed while traced: RuntimeError: no update here"
    assert meta["failures"] == [{"cell": 0, "problem": tables["runs"].instance.iloc[0], "optimizer": ref,
                                 "impl": "gdbench", "stage": "trace", "error": error}]
    # adam's cell: as if the failing one had not been in the suite (its run ids from 0, its f_ref its own)
    pd.testing.assert_frame_equal(convergence(tables["runs"]), convergence(alone))
    # the summary (printed and in summary.txt) has one line for the failed cell; the last line says what to do
    line = f"failed: {meta['failures'][0]['problem']} / {ref} (gdbench): {error}"
    assert line in err.splitlines() and line in (folder / "summary.txt").read_text().splitlines()
    assert err.strip().splitlines()[-1] == (f"gdbench: 1 cell(s) failed, the others are kept; retry them with: "
                                            f"gdbench run --resume {folder}")
    assert "Traceback" not in err  # a user's optimizer: its error in one line

    # still failing: recorded again, adam's cell kept as it was
    code, err = cli.main(["run", "--resume", str(folder), "--no-progress", "--no-report"]), capsys.readouterr().err
    assert code == 1, err
    again, meta = results.read_run(folder)
    assert [f["error"] for f in meta["failures"]] == [error] and len(meta["resumed"]) == 1
    pd.testing.assert_frame_equal(convergence(again["runs"]), convergence(alone))

    # fixed: the resume runs it, and the folder ends as a run of the fixed suite would
    (tmp_path / "FIXED").touch()
    code, err = cli.main(["run", "--resume", str(folder), "--no-progress", "--no-report"]), capsys.readouterr().err
    assert code == 0, err
    resumed, meta = results.read_run(folder)
    assert meta["status"] == "complete" and meta["failures"] == [] and not (folder / "parts").exists()
    code, err, fresh = run(tmp_path, [ref, "adam"], capsys, "fresh")
    assert code == 0, err
    pd.testing.assert_frame_equal(convergence(resumed["runs"]), convergence(results.read_run(fresh)[0]["runs"]))
    assert set(resumed["runs"].optimizer) == {ref, "adam"}


def test_a_cell_failing_while_it_runs_is_recorded(tmp_path, capsys, alone):
    (tmp_path / "late.py").write_text(RUN_FAILING)
    ref = f"{tmp_path / 'late.py'}:late"
    code, err, folder = run(tmp_path, ["adam", ref], capsys, "runs")
    assert code == 1, err
    tables, meta = results.read_run(folder)
    (failure,) = meta["failures"]
    assert failure["cell"] == 1 and failure["stage"] == "run"
    assert failure["error"].startswith("failed while running: ") and "RuntimeError: fails while running" in \
        failure["error"] and "\n" not in failure["error"]
    pd.testing.assert_frame_equal(convergence(tables["runs"]), convergence(alone))
    assert json.loads((folder / "meta.json").read_text())["status"] == "complete_with_failures"


def test_dry_run_marks_the_cell_that_would_fail(tmp_path, capsys):
    (tmp_path / "flaky.py").write_text(PLUGIN)
    ref = f"{tmp_path / 'flaky.py'}:flaky"
    config = tmp_path / "two.toml"
    config.write_text(SUITE.format(optimizers=f'"{ref}", "adam"'))
    assert cli.main(["run", "--config", str(config), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith(f"would fail: optimizer: {ref} failed while traced: RuntimeError: no update here")
    assert "would fail" not in lines[2] and "/ adam (both)" in lines[2]
    assert not list(tmp_path.glob("results"))  # nothing written
