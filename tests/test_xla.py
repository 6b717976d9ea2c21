"""gdbench's XLA settings: when the per-program options apply, and that Adam's numbers do not change."""

from __future__ import annotations

import numpy as np
import pytest

import bench
from bench import engine, xla


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

    monkeypatch.setattr(engine.xla, "compile_options", spy)
    kw = dict(problem_args=args, grid={"learning_rate": list(np.geomspace(1e-3, 1e-1, 6))}, seeds=[0, 1],
              steps=300, repeats=1, impl="both", device="cpu")  # XLA:CPU's options, on any machine
    tuned = bench.run_sweep(problem, "adam", **kw)
    monkeypatch.setenv("GDBENCH_XLA_TUNING", "0")
    plain = bench.run_sweep(problem, "adam", **kw)
    assert used == [{xla.VECTOR_WIDTH_OPTION: 512}, None]
    np.testing.assert_array_equal(tuned.curves.loss, plain.curves.loss)
    for column in ["final_loss", "best_loss", "grad_norm", "steps_to_1e-3", "diverged_step"]:
        np.testing.assert_array_equal(tuned.runs[column], plain.runs[column])
