"""The gdbench command: a tiny suite end to end, `list`, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax
import pandas as pd
import pytest

import optimizers
import problems
import bench
from bench import cli
from bench.core import xla
from bench.runs import results
from bench.stats import analysis

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
args = { dim = 2, perturb = 0.1 }  # a seeded start: the default's ignores the seed (one would run)
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
    assert {p.name for p in folder.iterdir()} == {"runs.parquet", "curves.parquet", "paths.parquet", "costs.parquet",
                                                   "meta.json", "summary.txt", "report.html", "report.md", "figures"}
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
    backend = jax.devices()[0].platform  # the suite names no device: JAX's default one
    assert meta["device"]["compile_options"] == (xla.compile_options(backend) or {})
    assert meta["device"]["backend"] == backend and meta["suite"]["steps"] == 60
    assert set(meta["git"]) == {"commit", "dirty"}
    costs = tables["costs"]  # one row per cell: our step's compiled cost
    assert sorted(zip(costs.problem, costs.optimizer)) == sorted(set(zip(runs.problem, runs.optimizer)))
    assert (costs.impl == "gdbench").all() and (costs.flops > 0).all() and (costs.fusions >= 1).all()
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
    assert "dim    10  dim=10, condition_number=1000.0" in out  # problems show dimension and defaults
    assert "[optax.adam]" in out and "quick              76 cells of 5 problems and 18 optimizers" in out
    for name in optimizers.names() + problems.names() + ["quick", "standard", "full", "ci", "stochastic"]:
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
    pytest.param('device = "gpu"\n[[problems]]\nname = "rosenbrock"', "device: 'gpu' is not available",
                 marks=pytest.mark.no_gpu),
    ('dtype = "float16"\n[[problems]]\nname = "rosenbrock"', "dtype: must be 'float32' or 'float64'"),
    ("seeds = []\n[[problems]]\nname = \"rosenbrock\"", "seeds"),
    ("steps = 10", "problems: must be a non-empty array"),
    ('record_path = "some"\n[[problems]]\nname = "rosenbrock"', "record_path: must be true, false or 'all'"),
]


def _message_id(case) -> str:
    """A bad config's test id: its message, shortened (a pytest.param holds it in .values)."""
    return (case.values if hasattr(case, "values") else case)[1][:30]


@pytest.mark.parametrize("text,message", BAD_CONFIGS, ids=[_message_id(c) for c in BAD_CONFIGS])
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
    (["--steps", "0"], "--steps: must be an integer >= 1"),
    (["--steps", "x"], "must be an integer"),
    (["--optimizers", "adamm"], "--optimizers: unknown optimizer 'adamm'"),
    (["--problems", "nope"], "--problems: unknown problem 'nope'"),
    (["--problems", "rosenbrock:dim=1"], "--problems: "),
    (["--problems", "rosenbrock:dim"], "problem arguments are name:key=value"),
    (["--dtype", "float16"], "--dtype: must be 'float32' or 'float64'"),
    (["--device", "tpu"], "--device: "),
    (["--target", "0.5"], "--target: must be one of the targets"),
    (["--grid", "learning_rat=0.1"], "--grid: not a hyperparameter"),
    (["--grid", "learning_rate=-1"], "--grid: "),
    (["--grid", "learning_rate"], "must be NAME=V1,V2"),
    (["--impl", "jax"], "invalid choice"),
    (["--suite", "quik"], "unknown suite 'quik'; did you mean 'quick'"),
]


@pytest.mark.parametrize("flags,message", BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flags_are_blamed_on_the_flag(tmp_path, capsys, flags, message):
    out_dir = tmp_path / "runs"
    code, _, err = run(["run", *flags, "--out", str(out_dir), "--no-progress"], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert "quick.toml" not in err  # the suite file is not what is wrong
    assert not out_dir.exists()


def test_overrides_reach_the_suite_and_rename_it():
    from bench.runs import suite as suites

    args = cli.parser().parse_args([
        "run", "--problems", "rosenbrock:dim=5,quadratic:dim=20:condition_number=1e2:rotate=false,logistic",
        "--optimizers", "adam", "--grid", "learning_rate=1e-3,0.01", "--grid", "b1=0.8,0.9", "--impl", "optax", "--target", "1e-4",
        "--seeds", "4"])
    s = cli._load_suite(args)
    assert s.name == "quick" + suites.CUSTOM_SUFFIX
    assert [(p.name, p.args) for p in s.problems] == [
        ("rosenbrock", {"dim": 5}), ("quadratic", {"dim": 20, "condition_number": 100.0, "rotate": False}),
        ("logistic", {"dataset": "breast_cancer"})]  # a bare name keeps the suite's entry
    assert s.grid["learning_rate"] == [1e-3, 0.01] and s.grid["b1"] == [0.8, 0.9]
    assert s.impls == ("optax",) and s.target == 1e-4 and s.seeds == (0, 1, 2, 3)
    assert cli._load_suite(cli.parser().parse_args(["run"])).name == "quick"


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("gdbench ")


def test_record_path_all_keeps_every_trajectory(tmp_path, capsys):
    config = tmp_path / "all.toml"
    config.write_text('name = "all"\nsteps = 30\nseeds = 2\noptimizers = ["gd"]\nimpls = ["gdbench"]\nrepeats = 1\n'
                      'record_path = "all"\n[grid]\nlearning_rate = [0.001, 0.002]\n'
                      '[[problems]]\nname = "rosenbrock"\nargs = { dim = 2, perturb = 0.1 }\n')
    code, out, err = run(["run", "--config", str(config), "--out", str(tmp_path / "runs"), "--no-progress",
                          "--no-report"], capsys)
    assert code == 0, err
    (folder,) = (tmp_path / "runs").iterdir()
    assert not (folder / "report.html").exists() and not (folder / "figures").exists() and "report:" not in out + err
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
    from bench.runs import runner

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


USER_OPTIMIZERS = """
import optax


def needs_beta(learning_rate, beta):
    return optax.sgd(learning_rate, momentum=beta)


def lr_named(lr=1e-2):
    return optax.sgd(lr)
"""


def test_a_users_hyperparameters_sweep_from_the_command_line(tmp_path):
    """Every hyperparameter a factory needs comes from the grid together; a grid may name a user's own."""
    (tmp_path / "opts2.py").write_text(USER_OPTIMIZERS)
    base = [sys.executable, "-m", "bench", "run", "--problems", "rosenbrock:dim=2:perturb=0.1", "--dry-run"]  # seeded starts
    for flags, trajectories in [
        (["--optimizers", "opts2.py:needs_beta", "--grid", "beta=0.5,0.9", "--grid", "learning_rate=1e-3,1e-2"], 12),
        (["--optimizers", "opts2.py:lr_named", "--grid", "lr=1e-3,1e-2,0.1"], 9),  # the suite's grid is not its
    ]:
        proc = subprocess.run([*base, *flags], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert f"(gdbench): {trajectories} trajectories" in proc.stdout  # x 3 seeds


def test_a_suite_files_user_optimizer_is_the_file_beside_it(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "opts2.py").write_text(USER_OPTIMIZERS)
    (folder / "mine.toml").write_text('optimizers = ["opts2.py:needs_beta"]\nseeds = 1\n[grid]\nbeta = [0.5, 0.9]\n'
                                      'learning_rate = [1e-3]\n[[problems]]\nname = "rosenbrock"\n'
                                      'optimizers = ["opts2.py:needs_beta"]\n')
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["run", "--config", "configs/mine.toml", "--dry-run"], capsys)
    assert code == 0, err
    assert "/ configs/opts2.py:needs_beta (gdbench): 2 trajectories" in out
    (folder / "mine.toml").write_text('optimizers = ["opts2.py:needs_beta"]\n[grid]\nbeta = [0.5, 0.9]\n'
                                      '[[problems]]\nname = "rosenbrock"\n')
    code, _, err = run(["run", "--config", "configs/mine.toml", "--dry-run"], capsys)
    assert code == 2 and "configs/mine.toml: grid: " in err and "learning_rate has no default" in err, err


def test_a_command_line_run_is_not_blamed_on_the_builtin_suite(tmp_path, monkeypatch, capsys):
    (tmp_path / "opts2.py").write_text(USER_OPTIMIZERS)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["run", "--optimizers", "opts2.py:needs_beta", "--dry-run"], capsys)
    assert code == 2 and err.startswith("gdbench: error: --optimizers: ") and "beta has no default" in err, err
    assert "quick.toml" not in err and len(err.strip().splitlines()) == 1
    custom = cli._load_suite(cli.parser().parse_args(["run", "--steps", "5", "--seeds", "2"]))
    assert custom.description == "the quick suite with --seeds, --steps changed"  # not the quick suite's own


def test_the_suite_flag_lists_every_builtin_suite(capsys):
    from bench.runs import suite as suites

    assert run(["run", "--help"], capsys)[0] == 0
    out = " ".join(run(["run", "--help"], capsys)[1].split())
    for name in suites.builtin_names():
        assert name in out.split("--suite SUITE a built-in suite: ")[1].split("--config")[0]


def test_a_suite_key_that_a_flag_made_bad_is_blamed_on_the_flag(capsys):
    code, _, err = run(["run", "--targets", "1e-2,1e-3", "--dry-run"], capsys)
    assert code == 2 and err.startswith("gdbench: error: --targets: must be one of the targets [0.01, 0.001], got 1e-06"
                                        " (the suite's target)"), err
    assert run(["run", "--targets", "1e-2,1e-3", "--target", "1e-3", "--problems", "rosenbrock:dim=2",
                "--optimizers", "gd", "--record-every", "7", "--record-path", "all", "--dry-run"], capsys)[0] == 0
