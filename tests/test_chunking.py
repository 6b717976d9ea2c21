"""Sweeps larger than the memory budget: lanes in chunks of one compiled program (`bench.core.chunking`).

A chunked cell must give exactly the unchunked results (its lanes are
independent), compile once, and report the time of all its lanes.
"""

from __future__ import annotations

import subprocess
import sys

import jax
import numpy as np
import pandas as pd
import pytest

import bench
from bench.core import compiled, engine, memory
from bench.errors import ConfigError

TIMING = ["lane_step_s", "program_step_s", "program_step_times_s", "exec_s", "compile_s",
          "lane_time_to_target_s", "program_time_to_target_s", "time_ratio_vs_optax", "chunks"]
D = len(jax.devices())


def _budget_for(monkeypatch, run, lanes_per_chunk: int) -> int:
    """A max_memory that holds `lanes_per_chunk` lanes of the cell `run` makes (by the engine's own estimate)."""
    seen = []
    real = memory.lanes_that_fit
    monkeypatch.setattr(memory, "lanes_that_fit", lambda *a: seen.append(a) or real(*a))
    result = run(None)
    per_lane, data, n_devices = seen[0][:3]
    monkeypatch.setattr(memory, "lanes_that_fit", real)
    return result, data * n_devices + per_lane * lanes_per_chunk + per_lane // 2


def _assert_same(a, b):
    cols = [c for c in a.runs.columns if c not in TIMING]
    pd.testing.assert_frame_equal(a.runs[cols], b.runs[cols])
    pd.testing.assert_frame_equal(a.curves, b.curves)
    pd.testing.assert_frame_equal(a.paths, b.paths)


@pytest.mark.parametrize("minibatch", [False, True], ids=["full-batch", "minibatch"])
def test_chunked_equals_unchunked_with_one_compile(monkeypatch, minibatch):
    # 4D + 1 lanes in chunks of 2D: 3 chunks, the last one padded (D devices).
    if minibatch:  # each lane's draws come from its seed: seeds are the lanes
        def run(max_memory):
            return bench.run_sweep(bench.SweepSpec("noisy_quadratic", "adam", grid={"learning_rate": [0.05]},
                                                   seeds=4 * D + 1, steps=300, batch_size=8, record_path=True,
                                                   max_memory=max_memory), repeats=1)
    else:  # dense and sparse runs of the path
        def run(max_memory):
            return bench.run_sweep(bench.SweepSpec("rosenbrock", "adam",
                                                   grid={"learning_rate": list(np.geomspace(1e-3, 0.3, 4 * D + 1))},
                                                   seeds=[0], steps=1500, max_memory=max_memory), repeats=1)
    whole, budget = _budget_for(monkeypatch, run, 2 * D)
    compiles = []
    real = compiled.compile_program
    monkeypatch.setattr(compiled, "compile_program", lambda *a, **k: compiles.append(1) or real(*a, **k))
    chunked = run(budget)
    assert len(compiles) == 1
    assert set(chunked.runs.chunks) == {3} and set(whole.runs.chunks) == {1}
    assert len(chunked.runs) == 4 * D + 1
    assert np.isfinite(chunked.curves.loss).all() and len(chunked.paths)
    _assert_same(whole, chunked)


def test_a_chunked_cells_time_is_the_sum_of_its_chunks(monkeypatch):
    real = compiled.Program.launch
    monkeypatch.setattr(compiled.Program, "launch", lambda program, f_ref=None: (0.25, real(program, f_ref)[1]))

    def run(max_memory):
        # a seeded start (perturb): with Rosenbrock's fixed one, the seeds would collapse to one lane each
        return bench.sweep("rosenbrock", "gd", problem_args={"perturb": 0.1},
                           grid={"learning_rate": [1e-4, 1e-3, 1e-2]}, seeds=2 * D, steps=50,
                           repeats=1, max_memory=max_memory)

    _, budget = _budget_for(monkeypatch, run, 2 * D)
    runs = run(budget)
    assert set(runs.chunks) == {3}
    assert set(runs.exec_s) == {0.75}


def test_one_lane_too_large_is_one_config_error():
    with pytest.raises(ConfigError) as e:
        bench.sweep("rosenbrock", "adam", steps=10, repeats=1, max_memory=100)
    assert e.value.where == "max_memory"
    assert str(e.value).startswith("max_memory: one lane of rosenbrock(") and "the budget is 100 B" in str(e.value)


def test_chunk_sizes():
    assert memory.chunk_lanes(10, 10, 2) == 10  # all fit: one program
    assert memory.chunk_lanes(9, 8, 2) == 8  # two lanes per device at least
    assert memory.chunk_lanes(12, 11, 2) == 8  # 8 + 4, balanced: not 11 + 1 ...
    assert memory.chunk_lanes(7, 3, 2) == 2  # fewer than two per device fit: one per device
    assert memory.chunk_lanes(5, 1, 4) == 1
    for n, fit, d in [(100, 7, 2), (33, 16, 4), (5, 2, 1), (1000, 999, 8)]:
        c = memory.chunk_lanes(n, fit, d)
        unit = 2 * d if fit >= 2 * d else d if fit >= d else 1
        assert c <= fit and c % unit == 0 and -(-n // c) == -(-n // (fit - fit % unit))


def test_lane_estimate_counts_what_grows():
    """Larger parameters and recorded paths make a lane larger; it holds at least its parameters and state."""
    import optax

    import problems
    from bench.core import schedule

    def estimate(dim, record_path):
        p = problems.get("quadratic", dim=dim)
        cell = engine.ProgramSpec(loss_fn=lambda x, data: p.fn(x, data, None),
                           make_txs=(lambda hp: optax.adam(hp["learning_rate"]),), needs=frozenset(),
                           schedule=schedule.make(20, None), record_path=record_path, elementwise=True)
        return memory.lane_bytes(cell, np.zeros((dim, 1), np.float32), {"learning_rate": np.full(1, 1e-3, np.float32)},
                                 p.data, 8)

    small = estimate(10, False)
    assert small >= 3 * 10 * 4  # x and adam's two moments
    assert estimate(100, False) > small
    assert estimate(10, True) > small


@pytest.mark.parametrize("text,size", [("2GB", 2 * 10**9), ("512MiB", 512 * 2**20), ("1.5 gib", int(1.5 * 2**30)),
                                       ("100", None), ("2XB", None), ("-1GB", None), ("0B", None), ("", None)])
def test_parse_size(text, size):
    if size is None:
        with pytest.raises(ConfigError):
            memory.parse_size(text)
    else:
        assert memory.parse_size(text) == size
    assert memory.parse_size(4096) == 4096


@pytest.mark.parametrize("bad", ["2XB", "lots", "0MB"])
def test_cli_max_memory_errors_are_one_line(bad, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "--max-memory", bad, "--dry-run",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--max-memory" in lines[0] and bad in lines[0], proc.stderr
    assert not any(tmp_path.iterdir())


def test_suite_key():
    from bench.runs import suite as suites

    s = suites.parse({"name": "t", "problems": [{"name": "rosenbrock"}], "optimizers": ["adam"], "max_memory": "1GiB"},
                     "t.toml")
    assert s.max_memory == 2**30 and s.to_dict()["max_memory"] == 2**30
    assert suites.override(s, max_memory=2**31).max_memory == 2**31  # as --max-memory does
    default = suites.parse({"name": "t", "problems": [{"name": "rosenbrock"}], "optimizers": ["adam"]}, "t.toml")
    assert default.max_memory is None and "max_memory" not in default.to_dict()  # meta.json as before
    with pytest.raises(ConfigError, match="t.toml: max_memory"):
        suites.parse({"name": "t", "problems": [{"name": "rosenbrock"}], "optimizers": ["adam"], "max_memory": "1 gig"},
                     "t.toml")


def test_a_problem_too_large_for_one_lane_stops_the_run_before_anything_runs(tmp_path):
    """The suite's second problem cannot fit one lane in 1 MB: exit 2 at once, one line, no folder, no compile."""
    config = tmp_path / "big.toml"
    config.write_text('name = "big"\nsteps = 20\nseeds = 1\noptimizers = ["gd"]\nimpls = ["gdbench"]\nrepeats = 1\n'
                      'max_memory = "1MB"\n[[problems]]\nname = "rosenbrock"\nargs = { dim = 2 }\n'
                      '[[problems]]\nname = "rosenbrock"\nargs = { dim = 100000 }\n')
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "--config", str(config), "--no-progress",
                           "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "max_memory: one lane of rosenbrock(dim=100000" in line and "needs at least 1.9 MiB" in line, line
    assert not (tmp_path / "runs").exists()


def test_the_lower_bound_never_exceeds_the_estimate():
    """The early check may only refuse what the compile-time estimate (`lane_bytes` beside the data) refuses too."""
    import optax

    import problems
    from bench.core import schedule

    p = problems.get("logistic", dataset="breast_cancer")
    for opt in (optax.sgd, optax.adam):
        cell = engine.ProgramSpec(loss_fn=lambda x, data: p.fn(x, data, None),
                           make_txs=(lambda hp, opt=opt: opt(hp["learning_rate"]),), needs=frozenset(),
                           schedule=schedule.make(20, None), record_path=False, elementwise=True)
        estimate = memory.lane_bytes(cell, np.zeros((p.dim, 1), np.float32),
                                     {"learning_rate": np.full(1, 1e-3, np.float32)}, p.data, 8)
        for devices in (1, 2):
            least = memory.least_lane_bytes(p.dim, p.data, "float32", devices)
            assert 5 * p.dim * 4 <= least <= estimate + memory.tree_bytes(p.data) * devices
