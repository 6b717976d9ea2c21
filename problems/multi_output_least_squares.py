"""Multi-output linear least squares: convex, the solution known.

f(W) = (1 / (2 N)) ||X W - Y||_F^2,  X ~ N(0, 1)^{N x d},  Y = X W_true + noise * N(0, 1)^{N x k},

W of shape (d, k) (the parameter, one matrix), W_true ~ N(0, 1), all from
`seed`; no intercept. x* is the least-squares solution by `numpy.linalg.lstsq`
(the minimum-norm one when N < d), f* = ||X x* - Y||_F^2 / (2 N). The Hessian is
the constant I_k (x) X^T X / N, so L and mu are the extreme eigenvalues of
X^T X / N exactly (mu = 0 when N < d). The rows of (X, Y) are the samples
minibatches draw. The starting point is W ~ N(0, 1), drawn from the key.

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


def _loss(W, data, batch=None):
    data = cast_like(data, W)
    X, Y = data["X"], data["y"]
    if batch is not None:
        X, Y = X[batch], Y[batch]
    r = X @ W - Y
    return 0.5 * jnp.sum(r * r) / X.shape[0]


@functools.lru_cache(maxsize=16)
def _instance(n_samples, n_features, n_outputs, noise, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    W_true = rng.standard_normal((n_features, n_outputs))
    Y = X @ W_true + noise * rng.standard_normal((n_samples, n_outputs))
    W_star = np.linalg.lstsq(X, Y, rcond=None)[0]
    r = X @ W_star - Y
    f_star = 0.5 * float(np.sum(r * r)) / n_samples
    eig = np.linalg.eigvalsh(X.T @ X / n_samples)
    mu = float(eig[0]) if n_samples >= n_features else 0.0
    datasets.readonly(X, Y, W_star)
    return X, Y, W_star, f_star, float(eig[-1]), mu


@register("multi_output_least_squares")
def multi_output_least_squares(n_samples: int = 200, n_features: int = 10, n_outputs: int = 5,
                               noise: float = 0.1, seed: int = 0) -> Problem:
    """Linear regression of k outputs at once, (1 / 2N) ||X W - Y||_F^2, on seeded Gaussian data."""
    name = "multi_output_least_squares"
    n_samples = check_int(name, "n_samples", n_samples, minimum=1)
    n_features = check_int(name, "n_features", n_features, minimum=1)
    n_outputs = check_int(name, "n_outputs", n_outputs, minimum=1)
    noise = check_float(name, "noise", noise, minimum=0.0, maximum=MAX_NOISE)
    seed = check_int(name, "seed", seed, minimum=0, maximum=MAX_SEED)
    check_elements(name, "n_samples and n_features", n_samples, n_features)
    check_elements(name, "n_samples and n_outputs", n_samples, n_outputs)
    check_elements(name, "n_features and n_outputs", n_features, n_outputs)
    X, Y, W_star, f_star, L, mu = _instance(n_samples, n_features, n_outputs, noise, seed)

    def init(key, dtype=jnp.float32):
        return jax.random.normal(key, (n_features, n_outputs), jnp.float32).astype(dtype)

    return Problem(
        name=name,
        dim=n_features * n_outputs,
        args={"n_samples": n_samples, "n_features": n_features, "n_outputs": n_outputs, "noise": noise,
              "seed": seed},
        fn=_loss,
        data={"X": X, "y": Y},
        init_fn=init,
        f_star=f_star,
        x_star=W_star,
        info={"convex": True, "L": L, "mu": mu, "n_samples": n_samples},
        sample_batch_fn=datasets.sample_rows,
    )
