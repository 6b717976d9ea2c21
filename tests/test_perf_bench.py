"""The pytest-benchmark tests of tests/perf: skipped cheaply by default, and each runs once (quick sizes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import jax

from bench import cli
from bench.tracking import benchjson

ROOT = Path(__file__).resolve().parents[1]
# What `make test` keeps of pyproject's addopts when it runs the benchmarks: all but --benchmark-skip and -m.
ADDOPTS = "addopts=-ra --strict-markers --strict-config"


def _pytest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # Not an xdist worker's environment (`make test` runs the tests on two): pytest-benchmark
    # would read it as xdist on and refuse --benchmark-only.
    mine = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    return subprocess.run([sys.executable, "-m", "pytest", "tests/perf", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          env={**mine, **(env or {})}, capture_output=True, text=True, timeout=900)


def test_benchmarks_are_skipped_by_default_without_starting_jax():
    # pyproject's addopts (--benchmark-skip) as in the default run. JAX_PLATFORMS names no platform that
    # exists: anything that started a backend (a compile at collection, or before the skip) would fail.
    out = _pytest("-q", env={"JAX_PLATFORMS": "no_such_platform"})
    summary = out.stdout.strip().splitlines()[-1]
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    skipped = re.search(r"(\d+) skipped", summary)
    assert skipped and int(skipped.group(1)) >= 36 and "passed" not in summary, summary


def test_each_benchmark_runs_once_and_writes_pytest_benchmark_json(tmp_path, capsys):
    path = tmp_path / "perf.json"
    out = _pytest("-o", ADDOPTS, "--benchmark-only", f"--benchmark-json={path}", "-q",
                  env={"GDBENCH_PERF_QUICK": "1"})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    doc = benchjson.load(path)
    benches = {b["fullname"].split("::")[-1]: b for b in doc["benchmarks"]}
    import optimizers

    steps = [f"test_step[{name}-{impl}-n1e2]" for name in optimizers.names() for impl in ("gdbench", "optax")]
    sweeps = [f"test_sweep[{case}-{impl}]" for case in ("rosenbrock2-adam", "quadratic100-gd_armijo")
              for impl in ("gdbench", "optax")]
    assert sorted(benches) == sorted(steps + sweeps)
    for name, b in benches.items():
        info = b["extra_info"]
        assert b["stats"]["min"] > 0 and b["stats"]["rounds"] == 1 and info["jax"] == jax.__version__
        assert info["device_kind"] and info["device_count"] >= 1
        if info["platform"] == "cpu":  # XLA:CPU has a cost analysis (other backends may not)
            assert info["xla_flops"] > 0 and info["xla_bytes_accessed"] > 0, name
        unit = "step" if name.startswith("test_step") else "lane_step"
        assert info[f"median_s_per_{unit}"] == b["stats"]["median"] / info[f"{unit}s_per_call"]
    assert all("steps_to_target" in benches[s]["extra_info"] for s in sweeps)
    sub = benches["test_step[adam-gdbench-n1e2]"]["extra_info"]
    twin = benches["test_step[adam-optax-n1e2]"]["extra_info"]
    assert sub["rel_subopt_after_call"] < 1 and sub["rel_subopt_after_call"] == twin["rel_subopt_after_call"]
    machine = doc["machine_info"]
    assert machine["jax"]["version"] == jax.__version__ and machine["jax"]["device_count"] >= 1 and "gpu" in machine
    # The file compares with itself: every ratio 1, no regression.
    assert cli.main(["compare", str(path), str(path), "--fail-above", "1.01"]) == 0
    assert "no regression above 1.01x" in capsys.readouterr().out
