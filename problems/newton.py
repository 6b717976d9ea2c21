"""Float64 reference solves in NumPy: a damped Newton method for smooth convex losses.

Used once per instance (and memoised by the callers) to state f* and x* of the
convex machine-learning problems; the tests check them against independent
solvers (scipy, scikit-learn).

References:
  Boyd & Vandenberghe, "Convex Optimization", 2004, section 9.5 (Newton's
  method with backtracking line search, stopping on the Newton decrement).
"""

from __future__ import annotations

from typing import Callable

import numpy as np


class NoMinimizer(ArithmeticError):
    """The Newton iteration found no minimiser (loss unbounded below the data's infimum)."""


def newton(
    value: Callable[[np.ndarray], float],
    derivatives: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    x0: np.ndarray,
    *,
    max_iter: int = 200,
    decrement_tol: float = 1e-22,
    local_decrement: float = 1e-6,
) -> np.ndarray:
    """Minimises a smooth, strictly convex function with damped Newton steps.

    Far from the minimiser each step is damped by a backtracking line search on
    f. Close to it (squared Newton decrement under `local_decrement` x
    max(1, |f|), where Newton converges quadratically) the steps are full and
    judged by the gradient norm instead: there f changes by about half the
    decrement, which soon falls under f's own rounding, and a line search on f
    would then stop at a rounding-dependent point (a gradient of 4e-10 on one
    CPU, 4e-17 on another, for the same instance).

    Args:
      value: x -> f(x), float64.
      derivatives: x -> (gradient, Hessian) at x.
      x0: starting point (a flat float64 vector).
      max_iter: raise NoMinimizer after this many steps.
      decrement_tol: stop once the squared Newton decrement g^T H^-1 g falls
        under this times max(1, |f|), after taking that last full step (in the
        quadratic regime it leaves an error at rounding level).
      local_decrement: below this (relative) squared decrement, take full steps.

    Returns:
      The minimiser, to float64 rounding: the last full steps stop when the
      gradient no longer shrinks, i.e. when it is made of rounding errors.
    """
    x = np.array(x0, dtype=np.float64)
    f = value(x)
    g, h = derivatives(x)
    for _ in range(max_iter):
        step, decrement = _newton_step(g, h)
        scale = max(1.0, abs(f))
        if decrement <= decrement_tol * scale:
            return x - step
        if decrement <= local_decrement * scale:
            x_new = x - step
            g_new, h_new = derivatives(x_new)
            if not np.linalg.norm(g_new) < np.linalg.norm(g):  # rounding level reached
                return x
            x, g, h, f = x_new, g_new, h_new, value(x_new)
            continue
        t = 1.0
        while True:  # backtracking (Armijo) line search
            x_new = x - t * step
            f_new = value(x_new)
            if f_new <= f - 0.25 * t * decrement:
                break
            t *= 0.5
            if t < 1e-12:
                raise NoMinimizer(f"line search failed far from the optimum (decrement {decrement:.3g})")
        x, f = x_new, f_new
        g, h = derivatives(x)
    raise NoMinimizer(f"no convergence in {max_iter} Newton steps (|x| = {np.linalg.norm(x):.3g})")


def _newton_step(g: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, float]:
    """The Newton step H^-1 g and the squared decrement g^T H^-1 g; NoMinimizer if H is not positive definite."""
    try:
        step = np.linalg.solve(h, g)
    except np.linalg.LinAlgError as e:
        raise NoMinimizer(f"singular Hessian: {e}") from None
    decrement = float(g @ step)
    if not np.isfinite(decrement) or decrement < 0:
        raise NoMinimizer(f"Hessian not positive definite (decrement {decrement})")
    return step, decrement
