"""Slow: every optimizer through the engine on more problems and a longer horizon.

Past 1,000 steps the default schedule stores only some steps; first hits must
stay exact (checked at every step) whatever is stored. Each case runs twice,
storing every step and with the default schedule: both report the same first
hits, equal to those found in NumPy from every step's loss, and the same losses
where both store them. The first steps also agree with a plain float64 loop;
not all 2,500: at large learning rates some trajectories are chaotic (Polyak's
step on the quadratic, RMSProp on logistic regression) and grow the 1e-16
differences of a different summation order to 1e-9 within 25 steps, so the
step-by-step check stops at 20 (tests/test_engine.py checks 200 steps
exactly on Rosenbrock). Run with `make test-slow`.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_engine import TARGETS, hits_and_divergence, reference

import bench
import optimizers
import problems
from bench.core import cells

pytestmark = pytest.mark.slow

STEPS = 2500
EARLY = 20
PROBLEMS = [
    ("quadratic", {"dim": 10, "condition_number": 1e3}),
    ("logistic", {"n_samples": 200, "n_features": 5}),
]
HIT_COLUMNS = [cells.target_column(t) for t in TARGETS]


@pytest.mark.parametrize("prob,args", PROBLEMS, ids=[p for p, _ in PROBLEMS])
@pytest.mark.parametrize("name", optimizers.names())
def test_every_optimizer_long_horizon(x64, name, prob, args):
    p = problems.get(prob, **args)
    spec = optimizers.get(name)
    low, high, _ = spec.search_space["learning_rate"]
    lrs = [float(np.sqrt(low * high)), float(high) / 10]
    impl = "both" if spec.twin is not None else "gdbench"
    kw = dict(grid={"learning_rate": lrs}, seeds=[1], steps=STEPS, dtype="float64", impl=impl)
    dense = bench.run_sweep(bench.SweepSpec(p, spec, record_every=1, **kw), repeats=1)
    sparse = bench.run_sweep(bench.SweepSpec(p, spec, **kw), repeats=1)
    assert dense.curves.groupby("run_id").size().eq(STEPS + 1).all()
    assert sparse.curves.step.nunique() < STEPS  # past step 1,000 only every other step is stored
    for d, s in zip(dense.runs.itertuples(), sparse.runs.itertuples()):
        losses = dense.curves[dense.curves.run_id == d.run_id].loss.to_numpy()
        hits, div = hits_and_divergence(losses, p.f_star)
        np.testing.assert_array_equal(dense.runs.loc[d.Index, HIT_COLUMNS].to_numpy(float), hits)
        np.testing.assert_array_equal(sparse.runs.loc[s.Index, HIT_COLUMNS].to_numpy(float), hits)
        assert d.diverged_step == s.diverged_step == div
        stored = sparse.curves[sparse.curves.run_id == s.run_id]
        np.testing.assert_array_equal(stored.loss.to_numpy(), losses[stored.step.to_numpy()])
        hp = {"learning_rate": d.learning_rate, **({"f_min": p.f_star} if "f_min" in spec.needs else {})}
        factory = spec.make if d.impl == "gdbench" else spec.baseline
        values, _, _, _ = reference(p, factory, spec.needs, hp, 1, EARLY)
        early = slice(0, EARLY + 1 if div < 0 else min(div, EARLY + 1))
        np.testing.assert_allclose(losses[early], values[early], rtol=1e-9, atol=1e-12 * abs(values[0]))
