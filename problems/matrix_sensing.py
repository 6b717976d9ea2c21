"""Low-rank matrix sensing from random Gaussian measurements: non-convex, f* = 0.

f(U) = (1 / (2 m)) sum_i (<A_i, U U^T> - y_i)^2,  U of shape (n, r),

y_i = <A_i, X*>, X* = U_0 U_0^T a seeded rank-r positive semidefinite n x n
matrix (U_0 ~ N(0, r^(-1/2)) entries, so X*'s entries have unit variance) and
A_1..A_m n x n matrices of N(0, 1) entries, all from `seed` (Burer-Monteiro
form of the symmetric problem). The parameter is the matrix U; dim = n r. The
measurements are the samples minibatches draw. The starting point has U_0's
distribution, drawn from the key.

x* = U_0 and f* = 0 exactly. Every U_0 Q with Q orthogonal is a minimiser too;
when m >= n (n + 1) / 2 (the default, 100 >= 55) the measurements determine a
symmetric matrix almost surely, so these are all the minimisers, and the
Hessian at x* has exactly r (r - 1) / 2 zero eigenvalues (U_0 Omega, Omega
skew-symmetric). With fewer measurements U_0 still attains f* = 0. The loss is
quartic and not convex: no L or mu is stated.

References:
  Recht, Fazel & Parrilo, "Guaranteed minimum-rank solutions of linear matrix
    equations via nuclear norm minimization", SIAM Review 52(3), 2010.
  Bhojanapalli, Neyshabur & Srebro, "Global optimality of local search for low
    rank matrix recovery", NeurIPS 2016.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from problems import datasets
from problems.problem import Problem, cast_like
from problems.registry import register
from problems.validate import MAX_SEED, check_elements, check_int


def _loss(U, data, batch=None):
    data = cast_like(data, U)
    A, y = data["A"], data["y"]
    if batch is not None:
        A, y = A[batch], y[batch]
    r = jnp.einsum("mij,ij->m", A, U @ U.T) - y
    return 0.5 * jnp.mean(r * r)


@functools.lru_cache(maxsize=16)
def _instance(matrix_size, rank, n_measurements, seed):
    rng = np.random.default_rng(seed)
    U0 = rank ** -0.25 * rng.standard_normal((matrix_size, rank))
    A = rng.standard_normal((n_measurements, matrix_size, matrix_size))
    y = np.einsum("mij,ij->m", A, U0 @ U0.T)
    return datasets.readonly(A, y, U0)


@register("matrix_sensing")
def matrix_sensing(matrix_size: int = 10, rank: int = 2, n_measurements: int = 100, seed: int = 0) -> Problem:
    """Recover a seeded rank-`rank` PSD matrix U_0 U_0^T from n_measurements Gaussian measurements."""
    name = "matrix_sensing"
    matrix_size = check_int(name, "matrix_size", matrix_size, minimum=1)
    rank = check_int(name, "rank", rank, minimum=1, maximum=matrix_size)
    n_measurements = check_int(name, "n_measurements", n_measurements, minimum=1)
    seed = check_int(name, "seed", seed, minimum=0, maximum=MAX_SEED)
    check_elements(name, "n_measurements and matrix_size", n_measurements, matrix_size, matrix_size)
    A, y, U0 = _instance(matrix_size, rank, n_measurements, seed)
    scale = rank ** -0.25

    def init(key, dtype=jnp.float32):
        return (scale * jax.random.normal(key, (matrix_size, rank), jnp.float32)).astype(dtype)

    return Problem(
        name=name,
        dim=matrix_size * rank,
        args={"matrix_size": matrix_size, "rank": rank, "n_measurements": n_measurements, "seed": seed},
        fn=_loss,
        data={"A": A, "y": y},
        init_fn=init,
        f_star=0.0,
        x_star=U0,
        info={"convex": False, "n_samples": n_measurements,
              "minimizer_set": "U* Q for every orthogonal r x r Q (all of them when m >= n (n + 1) / 2)"},
        sample_batch_fn=datasets.sample_rows,
    )
