"""The float64 reference solver (problems/newton.py) reaches rounding level whatever f's rounding.

The stated optima of logistic and softmax regression come from it, and the
problem tests demand ||grad f(x*)|| <= 1e-12 (test_problems_cases.Case). That
holds only if the solver's stopping rule does not depend on how f's last bits
round: a line search on f stalls once its decrease (about half the squared
Newton decrement) is under f's rounding, at a gradient that depends on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest

from problems.newton import NoMinimizer, newton


def _log_sum_exp_problem(coarse_digits: int | None):
    """A strictly convex f(x) = logsumexp(Ax) + 0.5 mu |x|^2, its value rounded to `coarse_digits`."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 6))
    mu = 1e-3

    def exact(x):
        z = A @ x
        m = z.max()
        return m + np.log(np.exp(z - m).sum()) + 0.5 * mu * x @ x

    def value(x):
        f = exact(x)
        return float(np.round(f, coarse_digits)) if coarse_digits is not None else f

    def derivatives(x):
        z = A @ x
        p = np.exp(z - z.max())
        p /= p.sum()
        g = A.T @ p + mu * x
        h = A.T @ (np.diag(p) - np.outer(p, p)) @ A + mu * np.eye(len(x))
        return g, h

    return value, derivatives


@pytest.mark.parametrize("coarse_digits", [None, 10, 6])
def test_newton_reaches_rounding_level_even_when_f_rounds_coarsely(coarse_digits):
    # f rounded to k digits hides any decrease under 1e-k: a line search on f
    # alone stopped at gradients of 2e-8 (k = 10) and 1e-4 (k = 6).
    value, derivatives = _log_sum_exp_problem(coarse_digits)
    x = newton(value, derivatives, np.zeros(6))
    g, h = derivatives(x)
    # Rounding level: ||g|| is the sum of ~30 terms of size |A| ~ 1 computed in
    # float64, so a few 1e-15; 1e-13 leaves a margin of ~30x and still fails a
    # solver stopped by f's rounding.
    assert np.linalg.norm(g) <= 1e-13


def test_newton_reports_an_indefinite_hessian():
    with pytest.raises(NoMinimizer):
        newton(lambda x: float(-x @ x), lambda x: (-2 * x + 1, -2 * np.eye(len(x))), np.zeros(3))
