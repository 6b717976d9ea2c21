"""`gdbench run --distributed`: processes on localhost joined by jax.distributed, against one process.

Each process of a 2-process run has one host device, so the global mesh is
two devices: the reference is one process with two host devices, the same
split of the lanes, so every convergence column must be equal bit for bit
(each lane's arithmetic is the same program on the same CPU).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from bench import cli
from bench.core import distributed, runtimelog
from bench.errors import ConfigError

FAST = """
name = "tiny"
steps = 100
seeds = [0, 1]
optimizers = ["adam"]
impls = ["gdbench"]
repeats = 1
[grid]
learning_rate = [0.001, 0.01, 0.1]
[[problems]]
name = "rosenbrock"
args = { dim = 2 }
"""

# Two problems, one without f* (its targets are relative to the best loss of
# all of its cells, which every process must agree on), two optimizers.
SLOW = (FAST.replace("steps = 100", "steps = 200").replace('optimizers = ["adam"]', 'optimizers = ["adam", "gd"]')
        + '[[problems]]\nname = "mlp"\n'
          'args = { dataset = "synthetic", n_samples = 64, n_features = 4, n_classes = 2, hidden = 4 }\n')

CONVERGENCE = ["final_loss", "best_loss", "diverged", "diverged_step", "f_ref", "initial_loss", "grad_norm"]
#: Seconds a process may take to notice that another one stopped (in this suite a
#: process reaches its next all-gather within seconds; the rest is start-up).
PEER_TIMEOUT_S = 60


def _env(host_devices: int) -> dict:
    """The processes' environment: CPU only (on a GPU machine they would share its GPU), `host_devices` each."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={host_devices}".strip()
    return {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}


def _run_cmd(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bench", "run", "--config", str(config), "--out", str(out), "--no-report", *extra]


def _start(config: Path, out: Path, n: int = 2, *extra: str) -> list[subprocess.Popen]:
    port = distributed.free_port()
    return [subprocess.Popen(_run_cmd(config, out, "--coordinator", f"localhost:{port}", "--num-processes", str(n),
                                      "--process-id", str(i), *extra),
                             env=_env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(n)]


def _finish(procs: list[subprocess.Popen], timeout: float = 300) -> list[tuple[int, str, str]]:
    done = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        done.append((p.returncode, out, err))
    return done


def _one_folder(root: Path) -> Path:
    folders = sorted(root.iterdir())
    assert len(folders) == 1, folders  # process 1 wrote nothing of its own
    return folders[0]


def _columns(folder: Path) -> pd.DataFrame:
    runs = pd.read_parquet(folder / "runs.parquet").sort_values("run_id", ignore_index=True)
    hits = [c for c in runs.columns if c.startswith("steps_to_")]
    return runs[["instance", "optimizer", "config_id", "seed", *hits, *CONVERGENCE]]


def _compare_with_one_process(tmp_path: Path, suite: str) -> tuple[float, float]:
    """Runs `suite` in 2 processes and in 1 (side by side); asserts equal columns; their wall seconds."""
    config = tmp_path / "tiny.toml"
    config.write_text(suite)
    start = time.perf_counter()
    reference = subprocess.Popen(_run_cmd(config, tmp_path / "one", "--no-progress"), env=_env(2),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pair = _start(config, tmp_path / "two", 2, "--no-progress")
    (code1, _, err1), = _finish([reference])
    results = _finish(pair)
    wall = time.perf_counter() - start
    assert code1 == 0, err1
    for i, (code, out, err) in enumerate(results):
        assert code == 0, f"process {i}: {err[-2000:]}"
    assert "results:" in results[0][2] and "results:" not in results[1][2] + results[1][1]
    one, two = _one_folder(tmp_path / "one"), _one_folder(tmp_path / "two")
    pd.testing.assert_frame_equal(_columns(one), _columns(two), check_exact=True)
    meta = json.loads((two / "meta.json").read_text())
    assert meta["status"] == "complete"
    assert meta["device"]["device_count"] == 2
    processes = meta["distributed"]["processes"]
    assert [p["process_index"] for p in processes] == [0, 1]
    assert all(len(p["devices"]) == 1 and p["host"] for p in processes)
    times = [json.loads((f / "meta.json").read_text())["wall_s"] for f in (one, two)]
    return wall, times


def test_two_processes_give_the_columns_of_one(tmp_path):
    _compare_with_one_process(tmp_path, FAST)


@pytest.mark.slow
def test_two_processes_two_problems_one_without_f_star(tmp_path):
    _compare_with_one_process(tmp_path, SLOW)


def _kill_when_running(procs: list[subprocess.Popen], victim: int) -> float:
    """Kills process `victim` once process 0 says it is compiling its first problem; the time of the kill."""
    for line in procs[0].stderr:
        if "compiling" in line:
            break
    procs[victim].kill()
    return time.perf_counter()


@pytest.mark.slow
def test_a_killed_process_stops_process_0_with_one_line_and_resume_finishes(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(SLOW)
    procs = _start(config, tmp_path / "runs", 2)  # with progress: process 0 says what it does
    killed = _kill_when_running(procs, victim=1)
    code, _, err = _finish(procs[:1], timeout=PEER_TIMEOUT_S)[0]
    assert time.perf_counter() - killed < PEER_TIMEOUT_S
    procs[1].communicate()  # the killed process: its pipes closed
    assert code == 1
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("gdbench: error:")]
    assert len(errors) == 1 and "another process of the run stopped" in errors[0], err[-2000:]
    folder = _one_folder(tmp_path / "runs")
    assert json.loads((folder / "meta.json").read_text())["status"] == "failed"
    # Two processes go on with it, and end as an uninterrupted run would.
    port = distributed.free_port()
    resumed = [subprocess.Popen([sys.executable, "-m", "bench", "run", "--resume", str(folder), "--no-progress", "--no-report",
                                 "--coordinator", f"localhost:{port}", "--num-processes", "2", "--process-id", str(i)],
                                env=_env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    for i, (code, _, err) in enumerate(_finish(resumed)):
        assert code == 0, f"process {i}: {err[-2000:]}"
    reference = subprocess.run(_run_cmd(config, tmp_path / "one", "--no-progress"), env=_env(2),
                               capture_output=True, text=True, timeout=300)
    assert reference.returncode == 0, reference.stderr
    final = _one_folder(tmp_path / "runs")
    assert json.loads((final / "meta.json").read_text())["status"] == "complete"
    pd.testing.assert_frame_equal(_columns(_one_folder(tmp_path / "one")), _columns(final), check_exact=True)


@pytest.mark.slow
def test_killing_process_0_stops_the_others_with_one_line(tmp_path):
    """Process 0 holds JAX's coordination service: its end ends the others at once (JAX's runtime
    aborts them), the runtime's log and stack trace shortened to one line (bench/core/runtimelog.py)."""
    config = tmp_path / "tiny.toml"
    config.write_text(SLOW)
    procs = _start(config, tmp_path / "runs", 2)
    killed = _kill_when_running(procs, victim=0)
    code, out, err = _finish(procs[1:], timeout=PEER_TIMEOUT_S)[0]
    procs[0].communicate()  # the killed process: its pipes closed
    assert time.perf_counter() - killed < PEER_TIMEOUT_S
    assert code != 0
    errors = [line for line in err.splitlines() if line.startswith("gdbench: error:")]
    assert len(errors) == 1 and "process 1 of 2: another process of the run stopped" in errors[0], err[-2000:]
    # None of the runtime's log of it (its lines, continuations, stack trace); gloo's note of its peers may come.
    assert not [line for line in err.splitlines() if not line.startswith("gdbench:") and (
        runtimelog.LOG_LINE.match(line.encode()) or any(s in line for s in ("coordination", "Check failure", " @ ")))
    ], err[-2000:]


@pytest.mark.slow
def test_ctrl_c_in_every_process_keeps_the_finished_cells(tmp_path):
    """As `srun` forwards Ctrl-C: process 0 keeps the folder and says how to resume, every process exits 130."""
    config = tmp_path / "tiny.toml"
    config.write_text(SLOW)
    procs = _start(config, tmp_path / "runs", 2)
    for line in procs[0].stderr:
        if "mlp" in line:  # the second problem: the first one's cells are stored
            break
    for p in procs:
        p.send_signal(signal.SIGINT)
    (code0, _, err0), (code1, _, err1) = _finish(procs, timeout=PEER_TIMEOUT_S)
    assert code0 == 130 and "resume with: gdbench run --resume" in err0
    # Process 1 is interrupted too, or (if the signal found it waiting for process 0) sees it gone.
    assert code1 in (130, 1) and "Traceback" not in err0 + err1
    assert len(err1.strip().splitlines()) == 1 and err1.startswith("gdbench: "), err1
    meta = json.loads((_one_folder(tmp_path / "runs") / "meta.json").read_text())
    assert meta["status"] == "interrupted"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("flags, where", [
    (["--coordinator", "localhost:1234", "--num-processes", "0", "--process-id", "0"], "--num-processes"),
    (["--coordinator", "localhost:1234", "--num-processes", "2", "--process-id", "2"], "--process-id"),
    (["--coordinator", "localhost:1234", "--num-processes", "2", "--process-id", "-1"], "--process-id"),
    (["--coordinator", "localhost", "--num-processes", "2", "--process-id", "0"], "--coordinator"),
    (["--coordinator", "localhost:70000", "--num-processes", "2", "--process-id", "0"], "--coordinator"),
    (["--coordinator", "localhost:1234"], "--num-processes"),
    (["--coordinator", "localhost:1234", "--num-processes", "2"], "--process-id"),
    (["--num-processes", "2", "--process-id", "0"], "--coordinator"),
    (["--distributed", "--process-id", "x"], "--process-id"),
])
def test_bad_distributed_flags_are_one_line_exit_2_nothing_written(tmp_path, capsys, flags, where):
    out = tmp_path / "runs"
    code = cli.main(["run", "--suite", "quick", "--out", str(out), "--no-progress", *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and where in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.slow  # JAX's cluster detection probes for a while before it gives up
def test_distributed_without_a_cluster_is_bad_input(tmp_path):
    env = {k: v for k, v in _env(1).items() if not k.startswith(("SLURM_", "OMPI_", "PMI_", "JAX_COORDINATOR"))}
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "--suite", "quick", "--out", str(tmp_path / "runs"),
                           "--distributed"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "--distributed" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_options_together_or_none():
    assert distributed.options(False) is None
    assert distributed.options(True) == distributed.Options()
    opts = distributed.options(False, "[::1]:8476", 4, 3)
    assert opts.explicit and (opts.num_processes, opts.process_id) == (4, 3)
    with pytest.raises(ConfigError, match="--process-id"):
        distributed.options(True, "host:1", 1, 1)


def test_mesh_devices_take_the_same_number_from_every_process():
    devices = [SimpleNamespace(id=p * 10 + k, process_index=p) for p in range(2) for k in range(4)]
    ids = lambda ds: [d.id for d in ds]
    assert ids(distributed.mesh_devices(devices, 1)) == [0, 10]  # every process takes part
    assert ids(distributed.mesh_devices(devices, 5)) == [0, 1, 2, 10, 11, 12]
    assert ids(distributed.mesh_devices(devices, 100)) == ids(devices)
    one = devices[:4]
    assert ids(distributed.mesh_devices(one, 3)) == [0, 1, 2]  # one process: as many devices as lanes
    assert ids(distributed.mesh_devices(one, 0)) == [0]
