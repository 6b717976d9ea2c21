"""`make gpu-check` (bench.dev.gpucheck): the no-GPU path, the time plan, ending a step, the report.

The whole check on the CPU with small sizes (`--device cpu --quick`) is the slow
test: it keeps the check working on machines without a GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

from bench.dev import gpucheck, perf_large


def test_without_a_gpu_it_says_so_runs_nothing_and_exits_0(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gpucheck, "nvidia_gpu_present", lambda: False)
    monkeypatch.setattr(gpucheck, "run_step", lambda *a: pytest.fail("no step may run"))
    assert gpucheck.main(["--out", str(tmp_path / "report")]) == 0
    assert "needs an NVIDIA GPU" in capsys.readouterr().out
    assert not (tmp_path / "report").exists()


def fake_runs(monkeypatch, probe_ok=True, clock=None):
    """run_step replaced: records each step's time limit and passes (the probe as told), at
    once, or, given a fake clock ([seconds]), after using all its time."""
    limits = {}

    def run_step(step, limit_s, env):
        limits[step.key] = limit_s
        if clock is not None:
            clock[0] += limit_s
        ok = probe_ok or step.kind != "probe"
        out = f"PROBE {json.dumps({'ok': ok})}\n" if step.kind == "probe" else ""
        return gpucheck.Outcome(step, "passed" if ok else "failed", limit_s if clock else 0.0, limit_s,
                                0 if ok else 1, out)

    monkeypatch.setattr(gpucheck, "run_step", run_step)
    return limits


def test_each_step_gets_its_budget_plus_what_the_steps_before_left_and_the_last_the_rest(monkeypatch):
    limits = fake_runs(monkeypatch)
    outcomes, header = gpucheck.check("gpu", False, 480.0, "results/runs", install=True, say=lambda _: None)
    plan = [gpucheck.probe_step("gpu"), *gpucheck.steps("gpu", False, "results/runs")]
    assert [o.step.key for o in outcomes] == [s.key for s in plan]
    assert sum(s.budget_s for s in plan) <= 480  # the budgets fit the 8 minutes
    # every step took no time: each may run until its budgeted end, the last one until the limit
    ends = np.cumsum([s.budget_s for s in plan])
    np.testing.assert_allclose([limits[s.key] for s in plan[:-1]], ends[:-1], atol=1.0)
    assert limits[plan[-1].key] == pytest.approx(480.0, abs=1.0)
    assert all(o.status == "passed" for o in outcomes)


def test_steps_end_within_the_time_limit_and_those_out_of_time_are_skipped(monkeypatch):
    now = [0.0]
    limits = fake_runs(monkeypatch, clock=now)
    plan = [gpucheck.probe_step("cpu"), *gpucheck.steps("cpu", True, "results/runs")]
    limit = plan[0].budget_s + plan[1].budget_s + 30.0  # the third step gets 30 s, the rest nothing
    outcomes, header = gpucheck.check("cpu", True, limit, "results/runs", install=True, say=lambda _: None,
                                      clock=lambda: now[0])
    assert [limits[s.key] for s in plan[:3]] == [plan[0].budget_s, plan[1].budget_s, 30.0]
    assert [o.status for o in outcomes] == ["passed"] * 3 + ["skipped"] * 4
    assert all(o.note == "out of time" for o in outcomes[3:]) and header["wall_s"] == limit


@pytest.mark.parametrize("has_cuda, install, expect_pip", [(False, True, True), (False, False, False),
                                                            (True, True, False)])
def test_without_a_working_backend_the_steps_are_skipped_and_pip_runs_only_without_cuda(
        monkeypatch, has_cuda, install, expect_pip):
    limits = fake_runs(monkeypatch, probe_ok=False)
    monkeypatch.setattr(gpucheck, "_version",
                        lambda dist: "1.0" if has_cuda or not dist.startswith("jax-cuda") else None)
    outcomes, _ = gpucheck.check("gpu", False, 480.0, "results/runs", install=install, say=lambda _: None)
    assert ("install" in limits) == expect_pip
    tail = outcomes[-len(gpucheck.steps("gpu", False, "results/runs")):]
    assert all(o.status == "skipped" and "cannot use the gpu" in o.note for o in tail)


def test_a_step_past_its_limit_is_ended_with_the_processes_it_started(tmp_path):
    pid_file = tmp_path / "child.pid"
    code = ("import subprocess, sys, time; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
            f"open({str(pid_file)!r}, 'w').write(str(p.pid)); print('started', flush=True); time.sleep(300)")
    step = gpucheck.Step("sleep", "Sleeping", (sys.executable, "-c", code), 2.0, "text")
    start = time.monotonic()
    outcome = gpucheck.run_step(step, 2.0, dict(os.environ))
    assert outcome.status == "timed out" and outcome.returncode is None and "started" in outcome.stdout
    assert time.monotonic() - start < 30
    child = int(pid_file.read_text())
    for _ in range(50):  # ended: gone, or a zombie waiting for its new parent to reap it
        status = Path(f"/proc/{child}/status")
        if not status.exists() or "\nState:\tZ" in status.read_text():
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the step's child {child} still runs")


def test_a_failing_step_is_recorded_with_its_exit_code_and_output():
    step = gpucheck.Step("fail", "Failing", (sys.executable, "-c", "import sys; print('bad thing', file=sys.stderr); "
                                                                  "sys.exit(3)"), 30.0, "text")
    outcome = gpucheck.run_step(step, 30.0, dict(os.environ))
    assert (outcome.status, outcome.returncode) == ("failed", 3) and "bad thing" in outcome.stderr
    report = gpucheck.render([outcome], HEADER)
    assert "| Failing | failed (exit 3) |" in report and "bad thing" in report


HEADER = {"device": "gpu", "quick": False, "time_limit_s": 480.0, "wall_s": 300.0, "started": "2026-01-01 00:00 UTC",
          "command": "python -m bench.dev.gpucheck", "git": {"commit": "abc123", "dirty": False},
          "nvidia_smi": "NVIDIA H200 ..."}

PYTEST_DONE = """tests/test_engine.py::test_a PASSED                                   [ 33%]
tests/test_engine.py::test_b[x y] FAILED                             [ 66%]
tests/test_engine.py::test_c SKIPPED (no)                            [100%]
=========================== short test summary info ============================
SKIPPED [1] tests/test_engine.py:9: checks a machine without a GPU; this one has one
FAILED tests/test_engine.py::test_b[x y] - AssertionError: hits differ
JAX default device: gpu (NVIDIA H200) x 1, jax 0.11.2
============= 1 failed, 1 passed, 1 skipped in 12.50s (0:00:12) ==============
"""

PYTEST_CUT = """tests/test_cli.py::test_a PASSED                                      [  1%]
tests/test_cli.py::test_b[device: 'gpu' is not available] SKIPPED (checks a mac...) [  2%]
tests/test_cli.py::test_c FAILED                                      [  3%]
tests/test_cli.py::test_d PASSED                                      [  4%]
tests/test_cli.py::test_e """


def test_the_report_gives_each_steps_command_status_time_and_summary():
    steps = {s.key: s for s in [gpucheck.probe_step("gpu"), *gpucheck.steps("gpu", False, "results/runs")]}
    outcomes = [
        gpucheck.Outcome(steps["device"], "passed", 9.5, 60.0, 0, "jax 0.11.2\ngpu device 0: NVIDIA H200\n"
                                                                    'PROBE {"ok": true}\n'),
        gpucheck.Outcome(steps["engine-tests"], "failed", 20.0, 100.0, 1, PYTEST_DONE),
        gpucheck.Outcome(steps["sweep"], "passed", 90.0, 140.0, 0, "### Sweep throughput\n\n| a | b |\n"),
        gpucheck.Outcome(steps["large"], "skipped", 0.0, 0.0, note="out of time"),
        gpucheck.Outcome(steps["other-tests"], "timed out", 40.0, 40.0, None, PYTEST_CUT, "Terminated"),
    ]
    text = gpucheck.render(outcomes, HEADER)
    assert text.startswith("# gdbench GPU check, 2026-01-01 00:00 UTC")
    assert "2 of 5 steps passed in 300 s (limit 480 s)" in text and "commit abc123" in text
    for row in ["| Device | passed | 9.5 s | 60 s |",
                "| Engine tests (exact first hits) | failed (exit 1) | 20.0 s | 100 s |",
                "| Large problems and memory bandwidth | skipped: out of time | 0.0 s | 0 s |",
                "| The other tests | timed out | 40.0 s | 40 s |"]:
        assert row in text
    assert "`python -m bench.dev.perf sweep --rounds 3`" in text
    assert "`python -m bench.dev.perf large --repeats 5 --dims 1e6 1e7 1e8 --bandwidth`" in text
    assert "## nvidia-smi" in text and "gpu device 0: NVIDIA H200" in text and "PROBE" not in text
    assert "Result: 1 failed, 1 passed, 1 skipped in 12.50s (0:00:12)" in text
    assert "JAX default device: gpu (NVIDIA H200) x 1, jax 0.11.2" in text
    assert "FAILED tests/test_engine.py::test_b[x y] - AssertionError: hits differ" in text
    assert "### Sweep throughput\n\n| a | b |" in text  # perf's Markdown as it is
    assert "Cut short; tests finished before that: 2 passed, 1 skipped, 1 failed" in text
    assert "FAILED tests/test_cli.py::test_c" in text and "Terminated" in text


def test_the_report_is_written_whole(tmp_path):
    path = gpucheck.write_report(tmp_path / "gpu-check", "x-gpu.md", "# report\n")
    assert path.read_text() == "# report\n" and [p.name for p in path.parent.iterdir()] == ["x-gpu.md"]


def test_step_bytes_count_adams_arrays():
    """Adam on the diagonal quadratic: x, m, v read and written, the eigenvalues and x* read."""
    n = 1000
    x = jax.numpy.zeros((n,), np.float32)
    data = {"eig": jax.numpy.ones((n,), np.float32), "x_star": jax.numpy.ones((n,), np.float32)}
    assert perf_large.step_bytes(optax.adam(1e-3), x, data) == (2 * 3 + 2) * n * 4
    assert perf_large.step_bytes(optax.sgd(1e-3), x, data) == (2 * 1 + 2) * n * 4


@pytest.mark.slow
def test_the_whole_check_on_the_cpu_with_small_sizes(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bench.dev.gpucheck", "--device", "cpu", "--quick",
                           "--time-limit", "900", "--out", str(tmp_path / "report"),
                           "--runs-out", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=1200)
    (report,) = (tmp_path / "report").iterdir()
    text = report.read_text()
    assert proc.returncode == 0, text
    assert report.name.endswith("-cpu.md") and "7 of 7 steps passed" in text
    for heading in ["## Device", "## Engine tests", "### Sweep throughput", "### Large problems",
                    "MB per step | copy GB/s", "## The transformer problem's sweep cost",
                    "attention's share", "## The quick suite", "Results folder:", "## The other tests"]:
        assert heading in text
    assert text.count("JAX default device: cpu") == 2
    assert "Bit-identical to (b): (c)'s losses at its recorded steps True" in text


@pytest.mark.parametrize("device, platforms", [("gpu", "cuda,cpu"), ("cpu", "cpu")])
def test_steps_fail_loudly_without_the_device_and_share_the_gpu(monkeypatch, device, platforms):
    """JAX_PLATFORMS names the device first (no silent fall-back to the CPU); no process takes
    75% of the GPU's memory for itself; the checkout's code is the one run."""
    monkeypatch.setenv("JAX_PLATFORMS", "tpu")
    env = gpucheck.step_env(device)
    assert env["JAX_PLATFORMS"] == platforms and env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(gpucheck.ROOT) and env["PYTHONUNBUFFERED"] == "1"
