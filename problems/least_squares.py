"""Random linear least squares with a known solution.

f(w) = (1 / (2 n)) ||X w - y||^2,  X ~ N(0, 1)^{n x d},  y = X w_true + noise * N(0, 1)^n.

No intercept. x* is the least-squares solution (the minimum-norm one when
n_samples < n_features), f* = ||X x* - y||^2 / (2 n) exactly (0 up to rounding
when noise = 0 or n_samples <= n_features). The Hessian is the constant
X^T X / n, so L and mu are its extreme eigenvalues exactly; mu = 0 (convex, not
strongly) when n_samples < n_features.

References:
  Golub & Van Loan, "Matrix Computations", 4th ed., 2013, chapter 5.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from problems import datasets
from problems.problem import Problem, cast_like
from problems.registry import register
from problems.validate import MAX_NOISE, MAX_SEED, check_elements, check_float, check_int


def _loss(w, data, batch=None):
    data = cast_like(data, w)
    X, y = data["X"], data["y"]
    if batch is not None:
        X, y = X[batch], y[batch]
    r = X @ w - y
    return 0.5 * jnp.mean(r * r)


@functools.lru_cache(maxsize=16)
def _instance(n_samples, n_features, noise, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    w_true = rng.standard_normal(n_features)
    y = X @ w_true + noise * rng.standard_normal(n_samples)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    r = X @ w_star - y
    f_star = 0.5 * float(r @ r) / n_samples
    eig = np.linalg.eigvalsh(X.T @ X / n_samples)
    mu = float(eig[0]) if n_samples >= n_features else 0.0
    datasets.readonly(X, y, w_star)
    return X, y, w_star, f_star, float(eig[-1]), mu


@register("least_squares")
def least_squares(n_samples: int = 1000, n_features: int = 50, noise: float = 0.1, seed: int = 0) -> Problem:
    """Linear regression 0.5 mean((Xw - y)^2) on seeded Gaussian data."""
    n_samples = check_int("least_squares", "n_samples", n_samples, minimum=1)
    n_features = check_int("least_squares", "n_features", n_features, minimum=1)
    noise = check_float("least_squares", "noise", noise, minimum=0.0, maximum=MAX_NOISE)
    seed = check_int("least_squares", "seed", seed, minimum=0, maximum=MAX_SEED)
    check_elements("least_squares", "n_samples and n_features", n_samples, n_features)
    X, y, w_star, f_star, L, mu = _instance(n_samples, n_features, noise, seed)

    def init(key, dtype=jnp.float32):
        return jax.random.normal(key, (n_features,), jnp.float32).astype(dtype)

    return Problem(
        name="least_squares",
        dim=n_features,
        args={"n_samples": n_samples, "n_features": n_features, "noise": noise, "seed": seed},
        fn=_loss,
        data={"X": X, "y": y},
        init_fn=init,
        f_star=f_star,
        x_star=w_star,
        info={"convex": True, "L": L, "mu": mu, "n_samples": n_samples},
        sample_batch_fn=datasets.sample_rows,
    )
