"""The gdbench command: a tiny suite end to end, `list`, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import optimizers
import problems
import bench
from bench import analysis, cli, results, xla

TINY = """
name = "tiny"
steps = 60
seeds = [0, 1]
optimizers = ["adam", "gd"]
repeats = 2
[grid]
learning_rate = [0.001, 0.01]
[[problems]]
name = "rosenbrock"
args = { dim = 2 }
[[problems]]
name = "mlp"
"""


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_tiny_suite_end_to_end(tmp_path, capsys):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out_dir = tmp_path / "runs"
    code, out, err = run(["run", "--config", str(config), "--out", str(out_dir), "--no-progress"], capsys)
    assert code == 0, err
    (folder,) = out_dir.iterdir()
    assert folder.name.endswith("-tiny") and folder.name[:8].isdigit()
    assert {p.name for p in folder.iterdir()} == {"runs.parquet", "curves.parquet", "paths.parquet", "meta.json",
                                                   "summary.txt", "report.html", "report.md", "figures"}
    tables, meta = results.read_run(folder)
    runs = tables["runs"]
    pd.testing.assert_frame_equal(bench.curves(folder), tables["curves"])
    pd.testing.assert_frame_equal(bench.curves(str(folder)), tables["curves"])
    assert len(runs) == 2 * 2 * 2 * 2 * 2  # problems x optimizers x impls x learning rates x seeds
    assert runs.run_id.is_unique and set(tables["curves"].run_id) == set(runs.run_id)
    # paths: the 2-D problem's tuned configurations only (per optimizer and impl, every seed)
    keys = ["instance", "optimizer", "impl", "config_id"]
    ros = runs[runs.problem == "rosenbrock"]
    tuned = ros.merge(analysis.best_configs(ros)[keys], on=keys)
    assert set(tables["paths"].run_id) == set(tuned.run_id) and len(tuned) == 2 * 2 * 2  # optimizers x impls x seeds
    assert tables["curves"]["loss"].dtype == "float32" and tables["paths"]["value"].dtype == "float32"
    assert {p.suffix for p in (folder / "figures").iterdir()} == {".png"}  # one format by default
    assert meta["status"] == "complete" and meta["schema_version"] == results.SCHEMA_VERSION
    for key in ("suite", "versions", "git", "device", "dtype", "started_utc", "ended_utc"):
        assert key in meta
    assert set(meta["phases_s"]) == {"compile", "run", "tables", "write"}
    assert 0 < sum(meta["phases_s"].values()) <= meta["wall_s"]
    for dist in ("python", "jax", "jaxlib", "optax"):
        assert meta["versions"][dist]
    assert meta["device"]["compile_options"] == (xla.compile_options("cpu") or {})
    assert meta["device"]["backend"] == "cpu" and meta["suite"]["steps"] == 60
    assert set(meta["git"]) == {"commit", "dirty"}
    mlp = runs[runs.problem == "mlp"]
    assert (mlp.f_ref_source == "best_reached").all() and mlp.f_ref.nunique() == 1
    assert mlp.f_ref.iloc[0] == pytest.approx(mlp.best_loss.min())
    # the first hits are relative to that f_ref: the trajectory that reached it hit every target
    assert mlp.loc[mlp.best_loss.idxmin(), "steps_to_1e-8"] < float("inf")
    summary = (folder / "summary.txt").read_text()
    assert "rosenbrock(dim=2" in summary and "adam" in summary and "time/step vs optax" in summary
    assert "results:" in err


def test_list(capsys):
    code, out, _ = run(["list"], capsys)
    assert code == 0
    for name in optimizers.names() + problems.names() + ["quick", "standard", "full"]:
        assert name in out


def test_list_into_a_closed_pipe_is_quiet():
    """`gdbench list | head`: the reader leaves early; no traceback, exit 0."""
    proc = subprocess.Popen([sys.executable, "-m", "bench", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with proc:
        proc.stdout.close()  # before the process has written anything: its first write fails
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0
    assert err == ""


BAD_CONFIGS = [
    ("steps = [", "not valid TOML"),
    ('step = 10\n[[problems]]\nname = "rosenbrock"', "step: unknown key; did you mean 'steps'"),
    ('steps = "ten"\n[[problems]]\nname = "rosenbrock"', "steps: must be an integer >= 1"),
    ('steps = 0\n[[problems]]\nname = "rosenbrock"', "steps: must be an integer >= 1"),
    ('[grid]\nlearning_rate = []\n[[problems]]\nname = "rosenbrock"', "grid.learning_rate: must list at least one"),
    ('[grid]\nlearning_rat = [0.1]\n[[problems]]\nname = "rosenbrock"', "did you mean 'learning_rate'"),
    ('[grid]\nlearning_rate = [-0.1]\n[[problems]]\nname = "rosenbrock"', "grid.learning_rate"),
    ('[[problems]]\nname = "rosenbrok"', "problems[0].name: unknown problem 'rosenbrok'; did you mean 'rosenbrock'"),
    ('[[problems]]\nname = "rosenbrock"\nargs = { dim = 1 }', "problems[0].args"),
    ('optimizers = ["adamm"]\n[[problems]]\nname = "rosenbrock"', "unknown optimizer 'adamm'; did you mean 'adam'"),
    ('device = "gpu"\n[[problems]]\nname = "rosenbrock"', "device: 'gpu' is not available"),
    ('dtype = "float16"\n[[problems]]\nname = "rosenbrock"', "dtype: must be 'float32' or 'float64'"),
    ("seeds = []\n[[problems]]\nname = \"rosenbrock\"", "seeds"),
    ("steps = 10", "problems: must be a non-empty array"),
    ('record_path = "some"\n[[problems]]\nname = "rosenbrock"', "record_path: must be true, false or 'all'"),
]


@pytest.mark.parametrize("text,message", BAD_CONFIGS, ids=[m[:30] for _, m in BAD_CONFIGS])
def test_bad_config_is_one_line_exit_2_nothing_written(tmp_path, capsys, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    out_dir = tmp_path / "runs"
    code, out, err = run(["run", "--config", str(config), "--out", str(out_dir), "--no-progress"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gdbench: error:") and str(config) in lines[0] and message in lines[0], lines[0]
    assert "Traceback" not in err
    assert not out_dir.exists()


BAD_FLAGS = [
    (["--steps", "0"], "steps: must be an integer >= 1"),
    (["--steps", "x"], "must be an integer"),
    (["--optimizers", "adamm"], "unknown optimizer 'adamm'"),
    (["--problems", "nope"], "unknown problem 'nope'"),
    (["--dtype", "float16"], "dtype"),
    (["--device", "tpu"], "device"),
    (["--suite", "quik"], "unknown suite 'quik'; did you mean 'quick'"),
]


@pytest.mark.parametrize("flags,message", BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flags(tmp_path, capsys, flags, message):
    out_dir = tmp_path / "runs"
    code, _, err = run(["run", *flags, "--out", str(out_dir), "--no-progress"], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not out_dir.exists()


def test_record_path_all_keeps_every_trajectory(tmp_path, capsys):
    config = tmp_path / "all.toml"
    config.write_text('name = "all"\nsteps = 30\nseeds = 2\noptimizers = ["gd"]\nimpls = ["gdbench"]\nrepeats = 1\n'
                      'record_path = "all"\n[grid]\nlearning_rate = [0.001, 0.002]\n'
                      '[[problems]]\nname = "rosenbrock"\nargs = { dim = 2 }\n')
    code, _, err = run(["run", "--config", str(config), "--out", str(tmp_path / "runs"), "--no-progress"], capsys)
    assert code == 0, err
    (folder,) = (tmp_path / "runs").iterdir()
    tables, meta = results.read_run(folder)
    assert meta["suite"]["record_path"] == "all"
    assert set(tables["paths"].run_id) == set(tables["runs"].run_id) and len(tables["runs"]) == 4


@pytest.mark.parametrize("flags,message", [(["--formats", "gif"], "--formats: must be one or more of png, svg"),
                                           (["--formats", ","], "--formats")])
def test_bad_report_formats(tmp_path, capsys, flags, message):
    code, _, err = run(["report", str(tmp_path / "none"), *flags], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_console_script_and_module(tmp_path):
    """The installed entry points, as a user calls them (separate processes)."""
    bin_dir = Path(sys.executable).parent
    config = tmp_path / "bad.toml"
    config.write_text("steps = -1\n")
    for cmd in ([str(bin_dir / "gdbench")], [sys.executable, "-m", "bench"]):
        proc = subprocess.run([*cmd, "run", "--config", str(config), "--out", str(tmp_path / "runs")],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines() == [f"gdbench: error: {config}: steps: must be an integer >= 1, got -1"]
    assert not (tmp_path / "runs").exists()


def test_interrupted_run_keeps_finished_problems(tmp_path, monkeypatch, capsys):
    """A Ctrl-C after the first problem: its results are saved, marked interrupted."""
    from bench import runner

    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    real = runner._run_problem
    calls = []

    def interrupt_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "_run_problem", interrupt_second)
    code, _, err = run(["run", "--config", str(config), "--out", str(tmp_path / "runs"), "--no-progress"], capsys)
    assert code == 130 and "interrupted" in err
    (folder,) = (tmp_path / "runs").iterdir()
    tables, meta = results.read_run(folder)
    assert meta["status"] == "interrupted"
    assert set(tables["runs"].problem) == {"rosenbrock"} and len(tables["runs"]) == 16
    assert json.loads((folder / "meta.json").read_text())["status"] == "interrupted"
    assert isinstance(tables["curves"], pd.DataFrame) and len(tables["curves"]) > 0
