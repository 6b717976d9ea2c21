"""Low-rank matrix factorization of an exactly low-rank target: non-convex, f* = 0.

f(U, V) = (1 / (2 m n)) ||U V^T - M||_F^2,  U of shape (m, r), V of shape (n, r),

M = U_0 V_0^T with U_0, V_0 ~ N(0, r^(-1/2)) entries from `seed` (so M's entries
have unit variance). The parameters are the dict {"U": (m, r), "V": (n, r)};
dim = (m + n) r. The starting point has the target's distribution, drawn from
the key.

The minimisers are the set {(U* A, V* A^-T): A an invertible r x r matrix}, all
with f = 0; x* is the balanced one, U* = P S^(1/2), V* = Q S^(1/2) from M's
thin SVD P S Q^T (U*^T U* = V*^T V* = S). At x* the Hessian is positive
semidefinite with exactly r^2 zero eigenvalues (the directions of that set).
The loss is quartic, so it has no global L, and it is not convex (f(t x*) is 0
at t = -1 and t = 1 and ||M||_F^2 / (2 m n) at t = 0): no L or mu is stated.

References:
  Burer & Monteiro, "A nonlinear programming algorithm for solving semidefinite
    programs via low-rank factorization", Math. Programming 95, 2003.
  Ge, Jin & Zheng, "No spurious local minima in nonconvex low rank problems: a
    unified geometric analysis", ICML 2017.
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


def _loss(x, data, batch=None):
    del batch  # deterministic
    M = cast_like(data, x)["M"]
    r = x["U"] @ x["V"].T - M
    return 0.5 * jnp.mean(r * r)


def balanced_factors(M: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(P S^(1/2), Q S^(1/2)) from the top-`rank` thin SVD P S Q^T of M, in float64."""
    P, s, Qt = np.linalg.svd(M, full_matrices=False)
    root = np.sqrt(s[:rank])
    return P[:, :rank] * root, Qt[:rank].T * root


@functools.lru_cache(maxsize=16)
def _instance(n_rows, n_cols, rank, seed):
    rng = np.random.default_rng(seed)
    scale = rank ** -0.25
    M = (scale * rng.standard_normal((n_rows, rank))) @ (scale * rng.standard_normal((n_cols, rank))).T
    U, V = balanced_factors(M, rank)
    return datasets.readonly(M, U, V)


@register("matrix_factorization")
def matrix_factorization(n_rows: int = 20, n_cols: int = 15, rank: int = 3, seed: int = 0) -> Problem:
    """Fit U V^T to a seeded rank-`rank` n_rows x n_cols matrix (rank <= min(n_rows, n_cols))."""
    name = "matrix_factorization"
    n_rows = check_int(name, "n_rows", n_rows, minimum=1)
    n_cols = check_int(name, "n_cols", n_cols, minimum=1)
    rank = check_int(name, "rank", rank, minimum=1, maximum=min(n_rows, n_cols))
    seed = check_int(name, "seed", seed, minimum=0, maximum=MAX_SEED)
    check_elements(name, "n_rows and n_cols", n_rows, n_cols)
    M, U_star, V_star = _instance(n_rows, n_cols, rank, seed)
    scale = rank ** -0.25

    def init(key, dtype=jnp.float32):
        z = scale * jax.random.normal(key, ((n_rows + n_cols) * rank,), jnp.float32)
        return {"U": z[: n_rows * rank].reshape(n_rows, rank).astype(dtype),
                "V": z[n_rows * rank:].reshape(n_cols, rank).astype(dtype)}

    return Problem(
        name=name,
        dim=(n_rows + n_cols) * rank,
        args={"n_rows": n_rows, "n_cols": n_cols, "rank": rank, "seed": seed},
        fn=_loss,
        data={"M": M},
        init_fn=init,
        f_star=0.0,
        x_star={"U": U_star, "V": V_star},
        info={"convex": False,
              "minimizer_set": "(U* A, V* A^-T) for every invertible r x r A; x* is the balanced one"},
    )
