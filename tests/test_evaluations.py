"""Evaluation counting (the runs table's `evals_to_target`, `evals`) against plain loops that count calls.

The reference counts each call of the loss at run time (a `jax.debug.callback`
in the function, so calls inside the line searches' while loops count every
time they run), in a Python loop over one lane: the value and gradient at x
and every call the update makes. The engine's counts are integers, so they
must be equal; the first-hit steps they are booked at agree as in
tests/test_engine.py (Rosenbrock-2D in float64: one lane's arithmetic is the
batch's exactly).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import pytest

import bench
import optimizers
import problems
from bench.core import cells
from bench.runs import summary
from bench.stats import profiles

TARGETS = (1e-1, 1e-2, 1e-4, 1e-6)


def counted_loop(p, tx, needs, seed: int, steps: int):
    """(losses at steps 0..T, evaluations to reach each step 0..T), counting every call of the loss."""
    calls = [0]

    def tally():
        calls[0] += 1

    def loss(x):
        jax.debug.callback(tally)
        return p.fn(x, p.data, None)

    @jax.jit
    def step(x, state):
        value, grad = jax.value_and_grad(loss)(x)
        extra = {"value": value, "grad": grad, "value_fn": loss, "obj_fn": loss}
        updates, state = tx.update(grad, state, x, **{k: extra[k] for k in needs if k in extra})
        return optax.apply_updates(x, updates), state, value

    x = p.init(jax.random.PRNGKey(seed), jnp.float64)
    state = tx.init(x)
    values, evals = [], [0]
    for _ in range(steps):
        x, state, value = step(x, state)
        jax.effects_barrier()
        values.append(float(value))
        evals.append(calls[0])
    values.append(float(p.fn(x, p.data, None)))
    return np.asarray(values), np.asarray(evals)


@pytest.mark.parametrize("opt,lr,steps,target", [("gd_armijo", 1.0, 300, 1e-2), ("lbfgs", 1.0, 40, 1e-4),
                                                 ("sophia", 1e-1, 200, 1e-4)])
def test_counts_equal_a_loop_counting_calls(x64, opt, lr, steps, target):
    p = problems.get("rosenbrock", dim=2)
    spec = optimizers.get(opt)
    res = bench.run_sweep(bench.SweepSpec(p, spec, grid={"learning_rate": [lr]}, seeds=[0], steps=steps,
                                          dtype="float64", impl="both", targets=TARGETS, target=target), repeats=1)
    assert len(res.runs) == 2
    for row in res.runs.itertuples():
        tx = spec.make(learning_rate=lr) if row.impl == "gdbench" else spec.baseline(learning_rate=lr)
        values, evals = counted_loop(p, tx, spec.needs, row.seed, steps)
        assert row.evals == evals[-1], row.impl
        assert evals[-1] > steps  # the line searches' (Sophia's Hessian) calls are in it
        hit = row.steps_to_target
        threshold = p.f_star + target * (values[0] - p.f_star)
        assert np.isfinite(hit) and values[int(hit)] <= threshold < values[int(hit) - 1], row.impl
        assert row.evals_to_target == evals[int(hit)], row.impl


def test_one_evaluation_per_step_is_the_step_count(x64):
    """gd: evals_to_target = steps_to_target for every target (inf alike); evals = steps, or the diverged step."""
    p = problems.get("rosenbrock", dim=2)
    res = bench.run_sweep(bench.SweepSpec(p, "gd", grid={"learning_rate": [1e-3, 2e-3, 1.0]}, seeds=[0], steps=300,
                                          dtype="float64", targets=TARGETS, target=1e-1), repeats=1)
    assert res.runs.steps_to_target.notna().all()
    np.testing.assert_array_equal(res.runs.evals_to_target, res.runs.steps_to_target)
    assert np.isfinite(res.runs.steps_to_target).any() and np.isinf(res.runs.steps_to_target).any()
    expected = np.where(res.runs.diverged, res.runs.diverged_step, res.runs.steps)
    assert res.runs.diverged.any()
    np.testing.assert_array_equal(res.runs.evals, expected)


def test_a_diverged_lane_stops_counting(x64):
    """A line-search lane that diverges: its evals are those up to its diverged step, as a plain loop counts."""
    p = problems.get("rosenbrock", dim=2)
    spec = optimizers.get("gd_armijo")
    # max_learning_rate far too large with no backtracking left: the first steps jump out
    hp = {"learning_rate": 1.0, "max_backtracking_steps": 0, "max_learning_rate": 100.0}
    res = bench.run_sweep(bench.SweepSpec(p, spec, grid={k: [v] for k, v in hp.items()}, seeds=[0], steps=120,
                                          dtype="float64", targets=TARGETS), repeats=1)
    row = res.runs.iloc[0]
    assert row.diverged
    _, evals = counted_loop(p, spec.make(**hp), spec.needs, 0, 120)
    assert row.evals == evals[row.diverged_step]


def test_plain_factory_line_search_is_detected(x64):
    """optax.lbfgs as a plain factory: its zoom line search's trials are read from its state."""
    p = problems.get("rosenbrock", dim=2)

    def lbfgs(learning_rate=1.0):
        return optax.lbfgs(learning_rate)

    res = bench.run_sweep(bench.SweepSpec(p, lbfgs, seeds=[0], steps=40, dtype="float64", targets=TARGETS,
                                          target=1e-4), repeats=1)
    row = res.runs.iloc[0]
    values, evals = counted_loop(p, lbfgs(), frozenset({"value", "grad", "value_fn"}), 0, 40)
    assert row.evals == evals[-1] > 40
    assert row.evals_to_target == evals[int(row.steps_to_target)]
    assert cells.target_column(1e-4) in res.runs


def _two_optimizers(x64_runs=("gd", "lbfgs")):
    """gd and lbfgs on Rosenbrock-2D (float64): one runs and curves table, run ids renumbered."""
    p = problems.get("rosenbrock", dim=2)
    runs, curves = [], []
    for opt, lrs in zip(x64_runs, ([1e-3, 2e-3], [1.0])):
        res = bench.run_sweep(bench.SweepSpec(p, opt, grid={"learning_rate": lrs}, seeds=[0, 1], steps=200,
                                              dtype="float64", targets=TARGETS, target=1e-1), repeats=1)
        offset = sum(len(r) for r in runs)
        runs.append(res.runs.assign(run_id=res.runs.run_id + offset))
        curves.append(res.curves.assign(run_id=res.curves.run_id + offset))
    return pd.concat(runs, ignore_index=True), pd.concat(curves, ignore_index=True)


def test_summary_and_data_profile_count_evaluations(x64):
    runs, curves = _two_optimizers()
    table = summary.rows(runs)[runs.instance.iloc[0]].set_index("optimizer")
    lbfgs = runs[runs.optimizer == "lbfgs"]
    assert table.loc["lbfgs", "evals"] == lbfgs.evals_to_target.median() > table.loc["lbfgs", "steps"]
    assert table.loc["gd", "evals"] == table.loc["gd", "steps"]
    assert "evals" not in summary.rows(runs[runs.optimizer == "gd"])[runs.instance.iloc[0]]
    costs = profiles.convergence_costs(runs, curves, taus=(1e-1,)).set_index("solver")
    steps = profiles.convergence_costs(runs, curves, taus=(1e-1,), measure="steps").set_index("solver")
    assert costs.loc["lbfgs", "cost"] == lbfgs[cells.evals_column(1e-1)].median() + 1
    assert steps.loc["lbfgs", "cost"] == lbfgs[cells.target_column(1e-1)].median() + 1 < costs.loc["lbfgs", "cost"]
    assert costs.loc["gd", "cost"] == steps.loc["gd", "cost"]


def test_plain_factory_sophia_is_detected(x64):
    """optax.contrib.sophia as a plain factory: a Hessian-vector product on every update_interval-th step,
    counted from its state's step count, as a loop counting the calls of obj_fn counts them."""
    p = problems.get("rosenbrock", dim=2)
    for interval in (10, 3):
        def sophia(learning_rate=0.1, update_interval=interval):
            return optax.contrib.sophia(learning_rate, update_interval=update_interval)

        res = bench.run_sweep(bench.SweepSpec(p, sophia, seeds=[0], steps=100, dtype="float64", targets=TARGETS,
                                              target=1e-1), repeats=1)
        row = res.runs.iloc[0]
        _, evals = counted_loop(p, sophia(), frozenset({"obj_fn"}), 0, 100)
        assert row.evals == evals[-1] == 100 + -(-100 // interval), interval
        if np.isfinite(row.steps_to_target):
            assert row.evals_to_target == evals[int(row.steps_to_target)]


def test_a_sophia_interval_it_cannot_read_is_refused(x64):
    """A factory that fixes another interval inside: counting it at optax's default would be wrong; refused."""
    from bench.core.protocol import OptimizerFailed

    def sophia_every_5(learning_rate=0.1):
        return optax.contrib.sophia(learning_rate, update_interval=5)

    with pytest.raises(OptimizerFailed, match="Hessian interval is not 10"):
        bench.run_sweep(bench.SweepSpec(problems.get("rosenbrock", dim=2), sophia_every_5, seeds=[0], steps=20,
                                        dtype="float64"), repeats=1)
