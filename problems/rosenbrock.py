"""The extended (chained) Rosenbrock function.

f(x) = sum_{i=1}^{n-1} b (x_{i+1} - x_i^2)^2 + (a - x_i)^2, with a = 1, b = 100:
a curved, narrow valley; f* = 0 at (1, ..., 1). The n-D chained form is the one
of `scipy.optimize.rosen`.

References:
  Rosenbrock, "An automatic method for finding the greatest or least value of
  a function", The Computer Journal 3(3), 1960.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from problems.problem import Problem
from problems.registry import register
from problems.validate import check_float, check_int

A, B = 1.0, 100.0


def _loss(x, data, batch=None):
    del data, batch
    return jnp.sum(B * (x[1:] - x[:-1] ** 2) ** 2 + (A - x[:-1]) ** 2)


@register("rosenbrock")
def rosenbrock(dim: int = 2, perturb: float = 0.0) -> Problem:
    """Rosenbrock in `dim` >= 2 dimensions.

    Every seed starts at the classic (-1.2, 1, -1.2, 1, ...); `perturb` > 0 adds a
    seeded Gaussian perturbation of that standard deviation.
    """
    dim = check_int("rosenbrock", "dim", dim, minimum=2)
    perturb = check_float("rosenbrock", "perturb", perturb, minimum=0.0)
    start = np.where(np.arange(dim) % 2 == 0, -1.2, 1.0)

    def init(key, dtype=jnp.float32):
        x0 = jnp.asarray(start, jnp.float32)
        if perturb:
            x0 = x0 + perturb * jax.random.normal(key, (dim,), jnp.float32)
        return x0.astype(dtype)

    return Problem(
        name="rosenbrock",
        dim=dim,
        args={"dim": dim, "perturb": perturb},
        fn=_loss,
        data={},
        init_fn=init,
        f_star=0.0,
        x_star=np.ones(dim),
        info={"convex": False},
        bounds=((-2.0, 2.0), (-1.0, 3.0)) if dim == 2 else None,
    )
