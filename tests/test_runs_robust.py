"""Runs that survive kill -9, Ctrl-C and SIGTERM, resume, and rerun bit for bit.

The convergence columns of a run (first hits, final and best losses,
divergence) are deterministic: the same suite on the same code and machine
gives them bit for bit, so a resumed run must give exactly those of an
uninterrupted one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench import cli
from bench.runs import results, runner

# Two problems (the MLP has no known optimum: its targets are relative to the
# best loss of all its cells), two optimizers, both implementations: 4 cells.
SMALL = """
name = "small"
steps = 30
seeds = [0, 1]
optimizers = ["adam", "gd"]
repeats = 1
[grid]
learning_rate = [0.001, 0.01]
[[problems]]
name = "rosenbrock"
args = { dim = 2 }
[[problems]]
name = "mlp"
args = { dataset = "synthetic", n_samples = 40, n_features = 3, n_classes = 2, hidden = 3 }
"""
KEY = ["run_id", "problem", "instance", "optimizer", "impl", "config_id", "seed"]


def convergence(runs: pd.DataFrame) -> pd.DataFrame:
    """The columns that do not depend on timing, in run_id order."""
    cols = KEY + [c for c in runs.columns if c.startswith("steps_to_")] + [
        "initial_loss", "final_loss", "best_loss", "final_subopt", "f_ref", "diverged", "diverged_step"]
    return runs[cols].sort_values("run_id").reset_index(drop=True)


def run_cli(argv, capsys=None):
    code = cli.main(argv)
    err = capsys.readouterr().err if capsys else ""
    return code, err


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of SMALL: (config path, runs table)."""
    root = tmp_path_factory.mktemp("reference")
    config = root / "small.toml"
    config.write_text(SMALL)
    assert cli.main(["run", "--config", str(config), "--out", str(root / "runs"), "--no-progress"]) == 0
    (folder,) = (root / "runs").iterdir()
    tables, meta = results.read_run(folder)
    assert meta["status"] == "complete" and not (folder / "parts").exists()
    return config, tables


def _folder(out: Path) -> Path:
    (folder,) = out.iterdir()
    return folder


def test_reruns_are_bit_identical(reference, tmp_path):
    config, tables = reference
    assert cli.main(["run", "--config", str(config), "--out", str(tmp_path), "--no-progress"]) == 0
    again, _ = results.read_run(_folder(tmp_path))
    pd.testing.assert_frame_equal(convergence(again["runs"]), convergence(tables["runs"]))
    pd.testing.assert_frame_equal(again["curves"], tables["curves"])


@pytest.mark.slow  # a fresh process, then the rest of the suite
def test_killed_run_resumes_to_the_uninterrupted_result(reference, tmp_path, capsys):
    """SIGKILL once a cell is on disk; --resume runs the rest: the same convergence columns."""
    config, tables = reference
    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", "--config", str(config), "--out", str(out),
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(out.glob("*.partial/parts/cell-*-runs.parquet")):
        assert proc.poll() is None and time.monotonic() < deadline, "no cell was stored"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    partial = _folder(out)
    assert partial.name.endswith(".partial")
    stored = {p.name for p in (partial / "parts").glob("cell-*-runs.parquet")}
    assert 0 < len(stored) < 4, "killed before the end of the suite"
    assert json.loads((partial / "meta.json").read_text())["status"] == "running"

    code, err = run_cli(["run", "--resume", str(partial), "--no-progress"], capsys)
    assert code == 0, err
    folder = _folder(out)
    assert folder.name == partial.name[: -len(".partial")]
    resumed, meta = results.read_run(folder)
    assert meta["status"] == "complete" and len(meta["resumed"]) == 1
    pd.testing.assert_frame_equal(convergence(resumed["runs"]), convergence(tables["runs"]))
    pd.testing.assert_frame_equal(resumed["curves"], tables["curves"])
    # finished: nothing left to resume
    code, err = run_cli(["run", "--resume", str(folder)], capsys)
    assert code == 2 and "nothing to resume" in err and len(err.strip().splitlines()) == 1


def test_interrupted_inside_a_problem_without_optimum_resumes_exactly(reference, tmp_path, monkeypatch, capsys):
    """Stopped after the first MLP cell was stored (its f_ref settled by all MLP cells):
    the resumed cells use that f_ref, so the columns relative to it are the uninterrupted ones."""
    config, tables = reference
    real_add = results.RunFolder.add
    stored = []

    def add_then_stop(self, index, part):
        real_add(self, index, part)
        stored.append(part["runs"].problem.iloc[0])
        if stored[-1] == "mlp":
            raise KeyboardInterrupt

    monkeypatch.setattr(results.RunFolder, "add", add_then_stop)
    out = tmp_path / "runs"
    code, err = run_cli(["run", "--config", str(config), "--out", str(out), "--no-progress"], capsys)
    assert code == 130
    folder = _folder(out)
    assert f"resume with: gdbench run --resume {folder}" in err
    assert results.read_run(folder)[1]["status"] == "interrupted"
    monkeypatch.setattr(results.RunFolder, "add", real_add)
    calls = []
    real_run = runner._run_problem
    monkeypatch.setattr(runner, "_run_problem", lambda *a, **k: calls.append(a[1]) or real_run(*a, **k))
    code, err = run_cli(["run", "--resume", str(folder), "--no-progress"], capsys)
    assert code == 0, err
    assert len(calls) == 1 and len(calls[0]) == 1  # only the MLP cell not stored ran
    resumed, meta = results.read_run(folder)
    assert meta["status"] == "complete"
    pd.testing.assert_frame_equal(convergence(resumed["runs"]), convergence(tables["runs"]))


def test_resume_refuses_another_suite_or_code(reference, tmp_path, capsys, monkeypatch):
    config, _ = reference
    out = tmp_path / "runs"
    real_add = results.RunFolder.add

    def add_then_stop(self, index, part):
        real_add(self, index, part)
        raise KeyboardInterrupt

    monkeypatch.setattr(results.RunFolder, "add", add_then_stop)
    assert run_cli(["run", "--config", str(config), "--out", str(out), "--no-progress"], capsys)[0] == 130
    monkeypatch.setattr(results.RunFolder, "add", real_add)
    folder = _folder(out)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, err = run_cli(["run", "--resume", str(folder), "--config", str(config), "--steps", "31"], capsys)
    assert code == 2 and "steps: 30 there, 31 here" in err and len(err.strip().splitlines()) == 1
    meta = json.loads((folder / "meta.json").read_text())
    jax_version, meta["versions"]["jax"] = meta["versions"]["jax"], "0.0.1"
    results.write_json(folder / "meta.json", meta)
    code, err = run_cli(["run", "--resume", str(folder)], capsys)
    assert code == 2 and "versions" in err and len(err.strip().splitlines()) == 1
    meta["versions"]["jax"] = jax_version
    meta["device"]["host_isa"] = "sse sse2"  # another machine, maybe under the same CPU name
    results.write_json(folder / "meta.json", meta)
    code, err = run_cli(["run", "--resume", str(folder)], capsys)
    assert code == 2 and "device.host_isa" in err and len(err.strip().splitlines()) == 1
    code, err = run_cli(["run", "--resume", str(folder), "--out", str(out)], capsys)
    assert code == 2 and "--out: not with --resume" in err
    code, err = run_cli(["run", "--resume", str(tmp_path / "nope")], capsys)
    assert code == 2 and "no such results folder" in err
    meta["versions"]["jax"] = "x"  # the files written above aside, nothing changed
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# A first problem that finishes at once, then one program that runs for many
# seconds (a dense 1000-D quadratic: 20,000 steps took 4.5 s on a 2-core CPU).
LONG = """
name = "long"
steps = 200000
seeds = [0]
optimizers = ["gd"]
impls = ["gdbench"]
repeats = 1
[[problems]]
name = "rosenbrock"
args = { dim = 2 }
[[problems]]
name = "quadratic"
args = { dim = 1000 }
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_a_long_program_promptly(tmp_path, sig, code):
    """The signal arrives while a long program runs: the process ends within 2 s (+1 s
    for a loaded machine), keeps the finished cell, and says how to resume."""
    config = tmp_path / "long.toml"
    config.write_text(LONG)
    out = tmp_path / "runs"
    with subprocess.Popen([sys.executable, "-m", "bench", "run", "--config", str(config), "--out", str(out)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        lines = []
        try:
            for line in proc.stderr:  # one line per step when stderr is not a terminal
                lines.append(line)
                if line.startswith("quadratic") and "/ gd" in line:
                    break
            else:
                pytest.fail("".join(lines))
            time.sleep(1.0)  # the program is running (its launch follows the line)
            sent = time.monotonic()
            proc.send_signal(sig)
            assert proc.wait(timeout=60) == code
            elapsed = time.monotonic() - sent
            err = "".join(lines) + proc.stderr.read()
        finally:
            proc.kill()
    assert elapsed < 3.0, f"took {elapsed:.1f} s to stop"
    folder = _folder(out)
    assert f"resume with: gdbench run --resume {folder}" in err
    tables, meta = results.read_run(folder)
    assert meta["status"] == "interrupted"
    assert set(tables["runs"].problem) == {"rosenbrock"}  # the finished cell, kept
    assert (folder / "parts").is_dir()
