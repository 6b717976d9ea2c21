"""The persistent compile cache: where it lives, misses then hits across processes, bad folders, meta.json.

Everything that turns the cache on runs in a subprocess with its own folder
under tmp_path: turning it on changes process-wide JAX settings, and the test
session keeps it off (tests/conftest.py sets GDBENCH_CACHE_DIR=off).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import cli
from bench.core import cache
from bench.runs import results

# A tiny program compiled ahead of time the way the engine compiles a cell
# (jit -> lower -> compile with compile options), in a fresh process.
PROGRAM = """
import json, sys
import numpy as np
import bench, jax
from bench.core import cache

state = cache.enable()
counter = cache.Counter.start()
x = np.linspace(0.0, 1.0, 64, dtype=np.float32)
outs = []
for width in sys.argv[1:]:
    options = None if width == "none" else {"xla_cpu_prefer_vector_width": int(width)}
    compiled = jax.jit(lambda x: jax.numpy.cumsum(jax.numpy.sin(x) * x)).lower(x).compile(compiler_options=options)
    outs.append(np.asarray(compiled(x)).tolist())
print(json.dumps({"state": [state.dir, state.why], "counts": counter.stop(), "outs": outs}))
"""


def compile_in_subprocess(env: dict, *widths: str) -> tuple[dict, str]:
    """Runs PROGRAM in a new process; returns its report and its stderr."""
    proc = subprocess.run([sys.executable, "-c", PROGRAM, *widths], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*-cache"))


# --- where it lives -------------------------------------------------------------------------

def test_default_folder_is_under_home_cache():
    state = cache.requested({"HOME": "/home/u"})
    assert state == cache.CacheState("/home/u/.cache/gdbench/jax", "default")


def test_xdg_cache_home_moves_the_default():
    assert cache.requested({"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg"}).dir == "/xdg/gdbench/jax"
    # the XDG spec: an empty or relative XDG_CACHE_HOME is ignored
    assert cache.requested({"HOME": "/home/u", "XDG_CACHE_HOME": ""}).dir == "/home/u/.cache/gdbench/jax"
    assert cache.requested({"HOME": "/home/u", "XDG_CACHE_HOME": "rel"}).dir == "/home/u/.cache/gdbench/jax"


def test_gdbench_cache_dir_moves_or_turns_it_off(tmp_path, monkeypatch):
    env = {"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg"}
    assert cache.requested({**env, cache.ENV: "/some/dir"}) == cache.CacheState("/some/dir", cache.ENV)
    for off in ("off", "OFF", " off "):
        assert cache.requested({**env, cache.ENV: off}) == cache.CacheState(None, f"{cache.ENV}=off")
    assert cache.requested({**env, cache.ENV: ""}).dir == "/xdg/gdbench/jax"  # empty counts as unset
    monkeypatch.chdir(tmp_path)  # a relative path is taken from the current folder, once
    assert cache.requested({**env, cache.ENV: "rel/c"}).dir == str(tmp_path / "rel" / "c")
    assert cache.requested({**env, cache.ENV: "~/c"}).dir == str(Path("~/c").expanduser())


# --- misses, then hits, in a new process ----------------------------------------------------

def test_second_process_hits_with_the_same_results(tmp_path):
    folder = tmp_path / "cache"
    env = {cache.ENV: str(folder)}
    first, _ = compile_in_subprocess(env, "512")
    assert first["state"] == [str(folder), cache.ENV]
    assert first["counts"] == {"dir": str(folder), "hits": 0, "misses": 1}
    assert len(entries(folder)) >= 1  # stored although it compiled in far less than JAX's default 1 s
    second, _ = compile_in_subprocess(env, "512", "256")
    # the same program and options: a hit; another vector width is another key: a miss
    assert second["counts"] == {"dir": str(folder), "hits": 1, "misses": 1}
    assert second["outs"][0] == first["outs"][0]
    # the same sums with other vectors: at most the rounding of 64 float32 additions apart
    np.testing.assert_allclose(second["outs"][1], first["outs"][0], rtol=64 * 2**-24)
    # XLA_FLAGS are part of the key too
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_fast_math=false"
    third, _ = compile_in_subprocess({**env, "XLA_FLAGS": flags}, "512")
    assert third["counts"]["hits"] == 0 and third["counts"]["misses"] == 1


def test_off_compiles_without_a_folder(tmp_path):
    report, _ = compile_in_subprocess({cache.ENV: "off", "XDG_CACHE_HOME": str(tmp_path)}, "none")
    assert report["counts"] == {"dir": None, "hits": 0, "misses": 0}
    assert not any(tmp_path.iterdir())


def test_a_folder_the_user_set_in_jax_is_kept(tmp_path):
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    report, _ = compile_in_subprocess({"JAX_COMPILATION_CACHE_DIR": str(theirs), cache.ENV: str(ours)}, "none")
    assert report["state"] == [str(theirs), "jax_compilation_cache_dir set by the user"]
    assert report["counts"]["dir"] == str(theirs) and not ours.exists()


# --- a bad folder is a warning and a cold compile -------------------------------------------

def test_corrupt_entries_and_garbage_files_are_a_warning_and_a_cold_compile(tmp_path):
    folder = tmp_path / "cache"
    env = {cache.ENV: str(folder)}
    first, _ = compile_in_subprocess(env, "512")
    for entry in entries(folder):
        entry.write_bytes(b"not a compiled program")
    (folder / "junk.bin").write_bytes(os.urandom(100))
    (folder / "subdir").mkdir()
    second, err = compile_in_subprocess(env, "512")
    assert "Error reading persistent compilation cache entry" in err  # JAX's warning
    assert second["counts"]["hits"] == 0 and second["outs"] == first["outs"]


def test_a_path_under_a_file_is_one_warning_and_off(tmp_path):
    (tmp_path / "file").write_text("")
    said = []
    state = cache.enable({cache.ENV: str(tmp_path / "file" / "cache")}, warn=said.append)
    assert state.dir is None and "unusable" in state.why
    (message,) = said
    assert "\n" not in message and str(tmp_path / "file" / "cache") in message and cache.ENV in message
    # the run goes on without it: test_an_unusable_folder_warns_in_one_line_and_the_run_completes


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write a read-only folder")
def test_a_read_only_folder_is_one_warning_and_off(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    said = []
    try:
        state = cache.enable({cache.ENV: str(folder)}, warn=said.append)
    finally:
        folder.chmod(0o700)
    assert state.dir is None and len(said) == 1


# --- meta.json ------------------------------------------------------------------------------

TINY = """
name = "tiny"
steps = 40
seeds = [0]
optimizers = ["adam"]
repeats = 1
[grid]
learning_rate = [0.01]
[[problems]]
name = "rosenbrock"
args = { dim = 2 }
"""

CONVERGENCE = ["final_loss", "best_loss", "diverged", "steps_to_target", "steps_to_1e-1", "steps_to_1e-6"]


def gdbench_run(tmp_path: Path, out: Path, env: dict) -> subprocess.CompletedProcess:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    return subprocess.run([sys.executable, "-m", "bench", "run", "--config", str(config), "--out", str(out),
                           "--no-progress"], env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def run_and_read(tmp_path: Path, name: str, env: dict) -> tuple[dict, pd.DataFrame]:
    proc = gdbench_run(tmp_path, tmp_path / name, env)
    assert proc.returncode == 0, proc.stderr
    (run,) = (tmp_path / name).iterdir()
    tables, meta = results.read_run(run)
    return meta["compile_cache"], tables["runs"]


def test_meta_records_the_folder_and_misses(tmp_path):
    folder = tmp_path / "cache"
    recorded, _ = run_and_read(tmp_path, "cold", {cache.ENV: str(folder)})
    assert recorded["dir"] == str(folder) and recorded["hits"] == 0 and recorded["misses"] >= 1
    assert len(entries(folder)) >= recorded["misses"]


@pytest.mark.slow
def test_a_second_run_hits_every_program_with_the_same_results(tmp_path):
    env = {cache.ENV: str(tmp_path / "cache")}
    (cold, cold_runs), (warm, warm_runs) = (run_and_read(tmp_path, name, env) for name in ("cold", "warm"))
    assert cold["misses"] >= 1 and warm["dir"] == env[cache.ENV]
    # every program found; not `hits == cold misses`: the count of lookups can differ by one
    # between runs (the quick suite counted 79 misses cold, then 80 hits warm)
    assert warm["misses"] == 0 and warm["hits"] >= 1
    pd.testing.assert_frame_equal(cold_runs[CONVERGENCE], warm_runs[CONVERGENCE])


def test_meta_says_off(tmp_path, capsys):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    assert os.environ[cache.ENV] == "off"  # tests/conftest.py
    assert cli.main(["run", "--config", str(config), "--out", str(tmp_path / "runs"), "--no-progress"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert results.read_run(run)[1]["compile_cache"] == {"dir": None, "hits": 0, "misses": 0}


def test_an_unusable_folder_warns_in_one_line_and_the_run_completes(tmp_path):
    (tmp_path / "file").write_text("")
    proc = gdbench_run(tmp_path, tmp_path / "runs", {cache.ENV: str(tmp_path / "file")})
    assert proc.returncode == 0, proc.stderr
    (line,) = [s for s in proc.stderr.splitlines() if "compile cache" in s]
    assert line.startswith("gdbench: warning: compile cache off: cannot use")
    (run,) = (tmp_path / "runs").iterdir()
    assert results.read_run(run)[1]["compile_cache"]["dir"] is None
