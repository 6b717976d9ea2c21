"""Minibatch mode of the harness: inputs, the full-batch books, gradient noise, suites."""

from __future__ import annotations

import subprocess
import sys

import jax
import numpy as np
import pytest

import bench  # noqa: F401  (XLA settings before JAX starts)
import problems
from bench.core import cells
from bench.errors import ConfigError
from bench.runs import suite

BC = {"dataset": "breast_cancer"}


@pytest.mark.parametrize("batch_size, problem, args, message", [
    (0, "logistic", BC, "batch_size: must be an integer >= 1"),
    (-3, "logistic", BC, "batch_size: must be an integer >= 1"),
    (2.5, "logistic", BC, "batch_size: must be an integer >= 1"),
    (True, "logistic", BC, "batch_size: must be an integer >= 1"),
    (570, "logistic", BC, "batch_size: 570 is larger than logistic's data set (569 examples)"),
    (8, "rosenbrock", {"dim": 2}, "batch_size: rosenbrock has no minibatches"),
])
def test_bad_batch_sizes_are_one_line_config_errors(batch_size, problem, args, message):
    with pytest.raises(ConfigError) as e:
        cells.prepare(cells.SweepSpec(problem, "gd", problem_args=args, steps=10, batch_size=batch_size))
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_books_are_the_full_loss_every_record_every_steps():
    """Stored losses are f(x_t) of the full batch at t = 0, 10, 20, ...; first hits are
    among those steps; the final loss and gradient norm are the full ones."""
    p = problems.get("logistic", **BC)
    res = cells.run_sweep(cells.SweepSpec(p, "gd", grid={"learning_rate": [0.5]}, seeds=[0, 1], steps=95, batch_size=16,
                          record_path=True), repeats=1)
    runs, curves, paths = res.runs, res.curves, res.paths
    assert list(curves.step.unique()) == list(range(0, 95, 10)) + [95]
    assert (runs.batch_size == 16).all() and runs.instance.str.endswith(" batch=16").all()
    full = jax.jit(jax.vmap(p.loss))
    for run_id, path in paths.groupby("run_id"):
        x = path.pivot(index="step", columns="coord", values="value").to_numpy(np.float32)
        stored = curves.loc[curves.run_id == run_id, "loss"].to_numpy()
        np.testing.assert_allclose(stored, full(x), rtol=1e-5)
        hits = runs.loc[runs.run_id == run_id, [cells.target_column(t) for t in cells.TARGETS]].to_numpy()
        finite = hits[np.isfinite(hits)]
        assert finite.size and np.all((finite % 10 == 0) | (finite == 95))
        first = finite[0]  # 1e-1: the first stored step at or under its threshold
        steps = list(curves.loc[curves.run_id == run_id, "step"])
        level = p.f_star + 0.1 * (stored[0] - p.f_star)
        assert stored[steps.index(first)] <= level and np.all(stored[: steps.index(first)] > level)
    # Minibatch steps are not full-batch steps: the same run without a batch size differs.
    exact = cells.run_sweep(cells.SweepSpec(p, "gd", grid={"learning_rate": [0.5]}, seeds=[0, 1], steps=95,
                                            record_every=10), repeats=1).curves
    assert not np.allclose(exact.loss.to_numpy()[2:], curves.loss.to_numpy()[2:], rtol=1e-3)


@pytest.mark.slow
def test_batch_size_list_is_one_cell_each_with_a_shared_reference():
    res = cells.run_sweep(cells.SweepSpec("mlp", "adam", seeds=[0], steps=30, batch_size=[16, "full"],
                          problem_args={"dataset": "synthetic", "n_samples": 60, "n_features": 4,
                                        "n_classes": 3, "hidden": 5}), repeats=1)
    assert list(res.runs.batch_size) == [16, 0] and list(res.runs.run_id) == [0, 1]
    assert res.runs.f_ref.nunique() == 1 and res.runs.f_ref_source.eq("best_reached").all()
    assert res.runs.instance.nunique() == 2


def test_the_shared_reference_is_the_lowest_finite_loss_in_any_order():
    """`settled_f_ref`, the one rule for f_ref without f*: a diverged run (NaN) or an unbounded one
    (inf) does not decide it, wherever it comes (Python's min(nan, 2.0) would be nan)."""
    for reached in ([np.nan, 2.0, 0.5], [0.5, np.inf, 2.0], np.array([[np.nan, 0.5], [2.0, -np.inf]])):
        assert cells.settled_f_ref(reached) == 0.5
    assert cells.settled_f_ref(x for x in (np.float32(3.0), np.nan)) == 3.0
    assert np.isnan(cells.settled_f_ref([np.nan, np.inf])) and np.isnan(cells.settled_f_ref([]))


def test_grad_noise_is_unbiased_with_the_documented_scale():
    """E[noisy grad] = grad and its per-coordinate std is scale / sqrt(B) (absolute) or
    scale ||grad|| / sqrt(dim B) (relative), within 4 standard errors over 4000 draws."""
    p = problems.get("rosenbrock", dim=5)
    x = p.init(jax.random.PRNGKey(0))
    g = np.asarray(jax.grad(p.loss)(x), np.float64)
    keys = jax.random.split(jax.random.PRNGKey(1), 4000)
    for relative, b in ((False, 1), (False, 16), (True, 4)):
        q = problems.with_grad_noise(p, 0.5, relative=relative)
        grads = jax.vmap(lambda k: jax.grad(q.fn)(x, q.data, q.sample_batch(k, b)))(keys)
        grads = np.asarray(grads, np.float64)
        std = 0.5 / np.sqrt(b) * (np.linalg.norm(g) / np.sqrt(p.dim) if relative else 1.0)
        assert np.all(np.abs(grads.mean(0) - g) <= 4 * std / np.sqrt(4000)), relative
        assert np.all(np.abs(grads.std(0) / std - 1) <= 4 * np.sqrt(0.5 / 4000)), relative
        np.testing.assert_allclose(q.loss(x), p.loss(x))  # full batch: the exact problem
    with pytest.raises(ValueError, match="has minibatches of its own"):
        problems.with_grad_noise(problems.get("logistic", **BC), 0.1)
    with pytest.raises(ValueError, match="grad_noise scale must be a finite number >= 0"):
        problems.with_grad_noise(p, -1.0)


def test_noisy_rosenbrock_sweep_runs_and_is_seeded():
    q = problems.with_grad_noise(problems.get("rosenbrock", dim=2), 0.1)
    runs = cells.sweep(q, "momentum", grid={"learning_rate": [1e-3]}, seeds=[0, 1], steps=50, batch_size=1,
                       repeats=1)
    assert runs.instance.iloc[0].endswith("grad_noise=0.1, relative=False) batch=1")
    assert runs.final_loss.nunique() == 2 and not runs.diverged.any()


def test_suite_batch_size_keys():
    base = {"name": "s", "optimizers": ["gd"], "steps": 10,
            "problems": [{"name": "logistic", "args": BC, "batch_size": [16, "full"]},
                         {"name": "rosenbrock", "args": {"dim": 2}, "grad_noise": {"scale": 0.1}}],
            "batch_size": 1}
    s = suite.parse(base, "s.toml")
    assert s.batch_sizes_for(s.problems[0]) == (16, None) and s.batch_sizes_for(s.problems[1]) == (1,)
    assert suite.override(s, steps=20).problems == s.problems
    from bench.runs import runner
    plans = runner.plan(s)
    assert [(c.problem.name, c.batch_size) for c in plans] == [("logistic", 16), ("logistic", None), ("rosenbrock", 1)]
    for bad, where in [({"batch_size": 0}, "s.toml: batch_size"), ({"batch_size": [16, "half"]}, "s.toml: batch_size")]:
        with pytest.raises(ConfigError, match=where):
            suite.parse({**base, **bad}, "s.toml")
    no_minibatches = {**base, "problems": [{"name": "rosenbrock", "args": {"dim": 2}}]}
    with pytest.raises(ConfigError, match="s.toml: batch_size: rosenbrock.*has no minibatches"):
        suite.parse(no_minibatches, "s.toml")
    too_big = {**base, "problems": [{"name": "logistic", "args": BC, "batch_size": 1000}]}
    with pytest.raises(ConfigError, match=r"s.toml: problems\[0\].batch_size: .*larger than"):
        suite.parse(too_big, "s.toml")
    with pytest.raises(ConfigError, match=r"problems\[1\].grad_noise.sigma: unknown key"):
        suite.parse({**base, "problems": [base["problems"][0], {"name": "rosenbrock", "grad_noise": {"sigma": 1}}]},
                    "s.toml")


def test_cli_bad_batch_size_exits_2_writing_nothing(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "--suite", "quick", "--problems", "logistic",
                           "--batch-size", "16,0", "--out", str(tmp_path / "runs")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "gdbench: error: --batch-size: must be an integer >= 1, 'full', or a list of them, got [16, 0]"]
    assert not (tmp_path / "runs").exists()
