"""L-BFGS and its zoom line search against `optax.lbfgs`, on problems where every branch of the search runs.

The registry-driven tests (tests/test_optimizers.py, tests/test_optimizers_matrix.py)
check 500 float64 steps on Rosenbrock, a quadratic and two least-squares
networks, where L-BFGS reaches the optimum early and most line searches stop at
the first trial. Here the problems are multimodal (Rastrigin, Styblinski-Tang,
Ackley) and Rosenbrock in 10-D, so that searches expand, zoom by cubic,
quadratic and bisection steps, and run out of trials (max_linesearch_steps = 2,
3): every step is taken from the twin's iterate, and the two must agree to a
relative 1e-12 (the bound of tests/test_optimizers.py: only a contracted
multiply-add may differ) and make the same number of trials at every step
(integers: exactly).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
import problems
from optimizers.lbfgs import cubic_minimizer, quadratic_minimizer, scale_by_wolfe_linesearch

STEPS = 500
RTOL64 = 1e-12
PROBLEMS = {
    "rastrigin": problems.get("rastrigin", dim=5),
    "styblinski_tang": problems.get("styblinski_tang", dim=4),
    "ackley": problems.get("ackley", dim=3),
    "rosenbrock": problems.get("rosenbrock", dim=10),
}
CASES = [{}, {"max_linesearch_steps": 2}, {"max_linesearch_steps": 3, "memory_size": 3, "curv_rtol": 0.1},
         {"scale_init_precond": False, "learning_rate": 0.5, "slope_rtol": 0.3}]


def _lockstep(pairs, loss, x0, steps):
    """Per pair: the largest relative step difference, whether trials ever differed, the twin's trial counts."""
    needs = optimizers.get("lbfgs").needs

    def step(carry, _):
        out, counts = [], []
        for (ours, twin), (x, s_ours, s_twin, worst, same) in zip(pairs, carry):
            value, grad = jax.value_and_grad(loss)(x)
            kw = {k: v for k, v in {"value": value, "grad": grad, "value_fn": loss}.items() if k in needs}
            u_ours, s_ours = ours.update(grad, s_ours, x, **kw)
            u_twin, s_twin = twin.update(grad, s_twin, x, **kw)
            diff = jnp.max(jnp.abs(u_ours - u_twin))
            x_twin = x + u_twin
            worst = jnp.maximum(worst, jnp.where(diff == 0, 0.0, diff / jnp.max(jnp.abs(x_twin))))
            trials = s_twin[2].info.num_linesearch_steps
            same = same & (s_ours[2].linesearch_steps == trials)
            out.append((x_twin, s_ours, s_twin, worst, same))
            counts.append(trials)
        return tuple(out), jnp.stack(counts)

    start = tuple((x0, ours.init(x0), twin.init(x0), jnp.zeros([]), jnp.ones([], bool)) for ours, twin in pairs)
    final, counts = jax.lax.scan(step, start, None, length=steps)
    return [(w, same, x) for x, _, _, w, same in final], counts


@pytest.mark.parametrize("problem", PROBLEMS)
def test_follows_optax_lbfgs_step_by_step_float64(problem, x64):
    spec, prob = optimizers.get("lbfgs"), PROBLEMS[problem]
    x0 = prob.init(jax.random.PRNGKey(1), jnp.float64)
    pairs = [(spec.make(**hp), spec.baseline(**hp)) for hp in CASES]
    results, counts = jax.jit(lambda x0: _lockstep(pairs, prob.loss, x0, STEPS))(x0)
    for hp, (worst, same, x) in zip(CASES, results):
        assert bool(same), hp  # the same number of trials at every step
        assert float(worst) <= RTOL64, hp
        # (a search that runs out of trials may take an uphill step, in optax's too: not a descent check)
        assert np.all(np.isfinite(x)) and float(jnp.max(jnp.abs(x - x0))) > 1e-3, hp
    counts = np.asarray(counts)
    assert counts.min() >= 1 and counts.max() <= 20
    assert np.any(counts[:, 0] > 1), "no search went past its first trial"


def test_branches_are_exercised(x64):
    """Over the problems above the searches expand, zoom and give up (so the lockstep test covers them)."""
    spec = optimizers.get("lbfgs")
    seen = np.zeros(21, int)
    for prob in PROBLEMS.values():
        x0 = prob.init(jax.random.PRNGKey(1), jnp.float64)
        pairs = [(spec.make(**hp), spec.baseline(**hp)) for hp in CASES[:2]]
        _, counts = jax.jit(lambda x0: _lockstep(pairs, prob.loss, x0, 100))(x0)
        np.add.at(seen, np.asarray(counts).ravel(), 1)
    assert seen[1] > 0 and seen[2] > 0 and seen[3:].sum() > 0  # one trial; two (a cap hit); longer searches


def test_first_step_is_capped_and_quadratic_is_solved(x64):
    """Step 1: d = -g min(1, 1/|g|); on a 2-D quadratic L-BFGS then converges within 15 steps."""
    a = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    loss = lambda x: 0.5 * x @ a @ x  # noqa: E731
    x = jnp.array([4.0, -3.0])
    tx = optimizers.lbfgs()
    state = tx.init(x)
    value, grad = jax.value_and_grad(loss)(x)
    direction, _ = optimizers.lbfgs(max_linesearch_steps=1).update(grad, state, x, value=value, grad=grad,
                                                                   value_fn=loss)
    # one trial: t = 1 along -g/|g| (|g| > 1) satisfies sufficient decrease here, so it is taken
    np.testing.assert_allclose(direction, -grad / jnp.linalg.norm(grad), rtol=1e-15)
    for _ in range(15):
        value, grad = jax.value_and_grad(loss)(x)
        updates, state = tx.update(grad, state, x, value=value, grad=grad, value_fn=loss)
        x = optax.apply_updates(x, updates)
    assert float(jnp.max(jnp.abs(x))) < 1e-10


def test_interpolants(x64):
    """The cubic and quadratic minimisers recover the minimiser of a cubic / quadratic through the points."""
    p = lambda t: 2.0 - 3.0 * t + 0.5 * t**2 + 0.4 * t**3  # noqa: E731  p' = -3 + t + 1.2 t^2
    dp = lambda t: -3.0 + t + 1.2 * t**2  # noqa: E731
    t_min = (-1.0 + np.sqrt(1.0 + 14.4)) / 2.4
    got = cubic_minimizer(0.0, p(0.0), dp(0.0), 2.5, p(2.5), 1.0, p(1.0))
    assert abs(float(got) - t_min) < 1e-12
    q = lambda t: 1.0 + (t - 0.7) ** 2  # noqa: E731
    assert abs(float(quadratic_minimizer(2.0, q(2.0), 2 * (2.0 - 0.7), 0.0, q(0.0))) - 0.7) < 1e-14


def test_no_finite_trial_means_no_step(x64):
    """Every trial outside f's domain (NaN): the search gives up with t = 0, as optax's does."""
    loss = lambda x: jnp.where(jnp.sum(x) > 0.95, jnp.nan, jnp.sum(x**2))  # noqa: E731
    x = jnp.array([0.5, 0.4])
    value, grad = jax.value_and_grad(loss)(x)
    direction = jnp.array([10.0, 10.0])  # each of the 5 trials (t = 1, 1/2, ..., 1/16) lands where f is NaN
    mine = scale_by_wolfe_linesearch(max_linesearch_steps=5)
    ref = optax.scale_by_zoom_linesearch(max_linesearch_steps=5, initial_guess_strategy="one")
    u_mine, s_mine = mine.update(direction, mine.init(x), x, value=value, grad=grad, value_fn=loss)
    u_ref, s_ref = ref.update(direction, ref.init(x), x, value=value, grad=grad, value_fn=loss)
    np.testing.assert_array_equal(u_mine, u_ref)
    assert int(s_mine.linesearch_steps) == int(s_ref.info.num_linesearch_steps) == 5
    assert float(s_mine.stepsize) == 0.0 and np.all(np.asarray(u_mine) == 0.0)
