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
) -> np.ndarray:
    """Minimises a smooth, strictly convex function with damped Newton steps.

    Args:
      value: x -> f(x), float64.
      derivatives: x -> (gradient, Hessian) at x.
      x0: starting point (a flat float64 vector).
      max_iter: raise NoMinimizer after this many steps.
      decrement_tol: stop once the squared Newton decrement g^T H^-1 g falls
        under this times max(1, |f|), after taking that last full step (in the
        quadratic regime it leaves an error at rounding level); also stop once
        an accepted step no longer lowers f (f is at rounding level).

    Returns:
      The minimiser, to float64 rounding.
    """
    x = np.array(x0, dtype=np.float64)
    f = value(x)
    for _ in range(max_iter):
        g, h = derivatives(x)
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError as e:
            raise NoMinimizer(f"singular Hessian: {e}") from None
        decrement = float(g @ step)
        if not np.isfinite(decrement) or decrement < 0:
            raise NoMinimizer(f"Hessian not positive definite (decrement {decrement})")
        if decrement <= decrement_tol * max(1.0, abs(f)):
            return x - step
        t = 1.0
        while True:  # backtracking (Armijo) line search
            x_new = x - t * step
            f_new = value(x_new)
            if f_new <= f - 0.25 * t * decrement:
                break
            t *= 0.5
            if t < 1e-12:  # no decrease possible: at the optimum to rounding
                return x
        if f_new >= f:  # accepted without lowering f: the decrement is at rounding level
            return x_new
        x, f = x_new, f_new
    raise NoMinimizer(f"no convergence in {max_iter} Newton steps (|x| = {np.linalg.norm(x):.3g})")
