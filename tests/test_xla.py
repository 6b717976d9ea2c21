"""gdbench's XLA settings: when the per-program options apply, and that Adam's numbers do not change."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from agreement import assert_first_hits_agree

import bench
from bench.core import xla


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("GDBENCH_XLA_TUNING", raising=False)
    monkeypatch.setenv("XLA_FLAGS", " ".join(xla.flags()))


def test_compile_options_on_the_cpu_only(clean_env):
    assert xla.compile_options("cpu") == {xla.VECTOR_WIDTH_OPTION: 512}
    assert xla.compile_options("gpu") is None


def test_compile_options_off_when_tuning_is_off_or_the_user_chose(clean_env, monkeypatch):
    monkeypatch.setenv("GDBENCH_XLA_TUNING", "0")
    assert xla.compile_options("cpu") is None
    monkeypatch.delenv("GDBENCH_XLA_TUNING")
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_prefer_vector_width=256")
    assert xla.compile_options("cpu") is None


def test_an_option_xla_does_not_know_is_not_passed():
    assert xla._accepted(((xla.VECTOR_WIDTH_OPTION, 512),))
    assert not xla._accepted((("xla_cpu_no_such_option", 1),))


@pytest.mark.parametrize("problem, args", [("rosenbrock", {"dim": 2}), ("quadratic", {"dim": 100, "condition_number": 1e3}),
                                           ("logistic", {"dataset": "breast_cancer"})])
def test_engine_programs_get_the_options_and_adam_keeps_its_numbers(clean_env, monkeypatch, problem, args):
    used, real = [], xla.compile_options

    def spy(platform):
        used.append(real(platform))
        return used[-1]

    monkeypatch.setattr(xla, "compile_options", spy)
    kw = dict(problem_args=args, grid={"learning_rate": list(np.geomspace(1e-3, 1e-1, 6))}, seeds=[0, 1],
              steps=300, impl="both", device="cpu")  # XLA:CPU's options, on any machine
    tuned = bench.run_sweep(bench.SweepSpec(problem, "adam", **kw), repeats=1)
    monkeypatch.setenv("GDBENCH_XLA_TUNING", "0")
    plain = bench.run_sweep(bench.SweepSpec(problem, "adam", **kw), repeats=1)
    assert used == [{xla.VECTOR_WIDTH_OPTION: 512}, None]
    # Two compilations (other vector widths): they agree to rounding, whose last bits may differ
    # from one CPU to another. These runs are not chaotic (in float64 a 1e-15 change of the start
    # grows to at most 2e-14 over the 300 steps, measured on the three problems), so float32
    # rounding (eps 1.2e-7) stays well within 1e-4; first hits agree up to that.
    np.testing.assert_allclose(tuned.curves.loss, plain.curves.loss, rtol=1e-4)
    for column in ["final_loss", "best_loss"]:
        np.testing.assert_allclose(tuned.runs[column], plain.runs[column], rtol=1e-4)
    np.testing.assert_allclose(tuned.runs.grad_norm, plain.runs.grad_norm, rtol=1e-3, atol=1e-6)
    np.testing.assert_array_equal(tuned.runs.diverged_step, plain.runs.diverged_step)
    for hit, run_id, f_ref in zip(tuned.runs["steps_to_1e-3"], plain.runs.run_id, plain.runs.f_ref):
        values = plain.curves[plain.curves.run_id == run_id].loss.to_numpy()  # every step (300 < 1,000)
        assert len(values) == 301
        assert_first_hits_agree([hit], values, [1e-3], f_ref, rtol=1e-4)


def _python(code: str, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "GDBENCH_XLA_TUNING")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**environ, **env})


def test_import_bench_first_applies_the_settings_and_says_so():
    out = _python("import bench, jax; s = bench.xla_settings(); print(len(jax.devices()), s['process_flags'])")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(max(1, os.cpu_count() or 1)), "True"]
    assert "SettingsWarning" not in out.stderr


def test_import_bench_after_jax_started_warns_once_and_reports_it():
    code = ("import jax; jax.devices()\n"
            "import bench, bench.core.xla\n"
            "bench.core.xla.apply()\n"  # a second try (as the CLI makes) does not warn again
            "print(bench.xla_settings()['process_flags'], bench.xla_settings()['jax_started'])")
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]
    assert out.stderr.count("SettingsWarning") == 1 and "import bench before JAX" in out.stderr


def test_no_warning_when_the_user_turned_the_settings_off():
    out = _python("import jax; jax.devices()\nimport bench\nprint(bench.xla_settings()['tuning'])",
                  GDBENCH_XLA_TUNING="0")
    assert out.returncode == 0 and out.stdout.split() == ["False"] and "Warning" not in out.stderr
