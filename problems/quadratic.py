"""Random ill-conditioned convex quadratics with exactly known optimum.

f(x) = 0.5 (x - x*)^T A (x - x*), A = Q diag(lambda) Q^T, the eigenvalues spread
log-uniformly (geometrically) from mu to L = mu * condition_number, Q a random
rotation (Haar, from the QR of a Gaussian matrix) or the identity. Then f* = 0,
the smoothness constant is L and the strong-convexity constant is mu, exactly.
Without rotation the Hessian is diagonal and the loss costs O(dim), so it
scales to millions of parameters.

References:
  Nesterov, "Introductory Lectures on Convex Optimization", 2004, section 2.1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from problems.problem import Problem, cast_like
from problems.registry import register
from problems.validate import MAX_SEED, check_elements, check_float, check_int


def _loss(x, data, batch=None):
    del batch
    data = cast_like(data, x)
    d = x - data["x_star"]
    if "A" in data:
        return 0.5 * jnp.dot(d, data["A"] @ d)
    return 0.5 * jnp.sum(data["eig"] * d * d)


def random_rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A Haar-distributed orthogonal matrix (QR of a Gaussian, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


@register("quadratic")
def quadratic(
    dim: int = 10,
    condition_number: float = 1e3,
    rotate: bool = True,
    seed: int = 0,
    mu: float = 1.0,
) -> Problem:
    """A `dim`-dimensional quadratic with the given condition number L / mu."""
    dim = check_int("quadratic", "dim", dim, minimum=1)
    condition_number = check_float("quadratic", "condition_number", condition_number, minimum=1.0)
    mu = check_float("quadratic", "mu", mu, minimum=0.0, inclusive=False)
    seed = check_int("quadratic", "seed", seed, minimum=0, maximum=MAX_SEED)
    if not isinstance(rotate, bool):
        raise ValueError(f"quadratic: rotate must be true or false, got {rotate!r}")
    if rotate:
        check_elements("quadratic", "dim (rotated: a dense dim x dim matrix)", dim, dim)
    rng = np.random.default_rng(seed)
    eig = mu * np.geomspace(1.0, condition_number, dim) if dim > 1 else np.array([mu])
    x_star = rng.standard_normal(dim)
    if rotate and dim > 1:
        q = random_rotation(rng, dim)
        data = {"A": (q * eig) @ q.T, "x_star": x_star}
    else:
        data = {"eig": eig, "x_star": x_star}

    def init(key, dtype=jnp.float32):
        return jax.random.normal(key, (dim,), jnp.float32).astype(dtype)

    return Problem(
        name="quadratic",
        dim=dim,
        args={"dim": dim, "condition_number": condition_number, "rotate": rotate, "seed": seed, "mu": mu},
        fn=_loss,
        data=data,
        init_fn=init,
        f_star=0.0,
        x_star=x_star,
        info={"convex": True, "L": float(eig.max()), "mu": float(eig.min())},
        bounds=((-3.0, 3.0), (-3.0, 3.0)) if dim == 2 else None,
    )
