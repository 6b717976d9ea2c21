"""L2-regularised binary logistic regression, on synthetic data or the breast-cancer set.

f(w) = (1/n) sum_i log(1 + exp(-y_i a_i . w)) + (l2 / 2) ||w||^2,

labels y_i in {-1, +1}; a_i = (standardised features of example i, 1): the last
weight is the intercept, regularised like the others (so mu = l2 holds exactly).
dim = n_features + 1. The loss is convex, L-smooth with
L = lambda_max(A^T A) / (4 n) + l2, and l2-strongly convex. f* and x* come from a
float64 Newton solve in NumPy, memoised per instance.

Data sets: "synthetic" (Gaussian features, labels from a random logistic model,
so with label noise) or "breast_cancer" (569 x 30, UCI Breast Cancer Wisconsin
(Diagnostic), shipped in problems/data; it is linearly separable, so it needs
l2 > 0).

References:
  Nocedal & Wright, "Numerical Optimization", 2nd ed., 2006 (Newton's method).
  Street, Wolberg & Mangasarian, "Nuclear feature extraction for breast tumor
  diagnosis", 1993 (the breast-cancer data).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from problems import datasets
from problems.newton import NoMinimizer, newton
from problems.problem import Problem, cast_like
from problems.registry import register
from problems.validate import check_float

SYNTHETIC_DEFAULTS = {"n_samples": 1000, "n_features": 20, "seed": 0}


def _loss(w, data, batch=None):
    data = cast_like(data, w)
    A, y = data["A"], data["y"]
    if batch is not None:
        A, y = A[batch], y[batch]
    return jnp.mean(jax.nn.softplus(-y * (A @ w))) + 0.5 * data["l2"] * jnp.dot(w, w)


def _numpy_problem(A: np.ndarray, y: np.ndarray, l2: float):
    """Value and (gradient, Hessian) of the same loss in float64 NumPy."""
    n = A.shape[0]

    def value(w):
        return float(np.mean(np.logaddexp(0.0, -y * (A @ w))) + 0.5 * l2 * (w @ w))

    def derivatives(w):
        m = y * (A @ w)
        s = 0.5 * (1.0 - np.tanh(0.5 * m))  # sigmoid(-m), stable
        g = -(A.T @ (y * s)) / n + l2 * w
        h = (A.T * (s * (1.0 - s))) @ A / n + l2 * np.eye(A.shape[1])
        return g, h

    return value, derivatives


@functools.lru_cache(maxsize=16)
def _instance(dataset, n_samples, n_features, seed, l2):
    n_classes = 2 if dataset == datasets.SYNTHETIC else None
    X, labels = datasets.classification(dataset, n_samples, n_features, n_classes, seed)
    A = datasets.with_intercept(X)
    y = 2.0 * labels - 1.0
    gram_max = float(np.linalg.eigvalsh(A.T @ A / A.shape[0])[-1])
    value, derivatives = _numpy_problem(A, y, l2)
    w_star = newton(value, derivatives, np.zeros(A.shape[1]))
    if l2 == 0.0:  # a minimiser exists only if the data are not separable
        h = derivatives(w_star)[1]
        if np.linalg.eigvalsh(h)[0] < 1e-9 * gram_max:
            raise NoMinimizer("the Hessian vanishes along the iterates (separable data)")
    datasets.readonly(A, y, w_star)
    return A, y, w_star, value(w_star), gram_max / 4.0 + l2


@register("logistic")
def logistic(
    dataset: str = "synthetic",
    l2: float = 1e-3,
    n_samples: int | None = None,
    n_features: int | None = None,
    seed: int | None = None,
) -> Problem:
    """Binary logistic regression with an intercept and l2 regularisation.

    Args:
      dataset: "synthetic" or "breast_cancer".
      l2: regularisation strength >= 0 (= mu); 0 only where the data are not
        separable (never for breast_cancer).
      n_samples, n_features, seed: size and data seed of dataset="synthetic"
        (defaults 1000, 20, 0); leave unset for a real data set.
    """
    dataset = datasets.check_dataset("logistic", dataset, classes=(2,))
    l2 = check_float("logistic", "l2", l2, minimum=0.0)
    synth = datasets.synthetic_args(
        "logistic",
        dataset,
        {"n_samples": n_samples, "n_features": n_features, "seed": seed},
        SYNTHETIC_DEFAULTS,
    )
    try:
        A, y, w_star, f_star, L = _instance(
            dataset, synth.get("n_samples"), synth.get("n_features"), synth.get("seed"), l2
        )
    except NoMinimizer as e:
        raise ValueError(
            f"logistic: l2=0.0 has no minimiser on this data ({e}); l2 must be > 0 here"
        ) from None
    dim = A.shape[1]

    def init(key, dtype=jnp.float32):
        # x0 ~ N(0, I / dim): initial margins of order 1.
        return (jax.random.normal(key, (dim,), jnp.float32) / math.sqrt(dim)).astype(dtype)

    return Problem(
        name="logistic",
        dim=dim,
        args={"dataset": dataset, "l2": l2, **synth},
        fn=_loss,
        data={"A": A, "y": y, "l2": np.asarray(l2, dtype=np.float64)},
        init_fn=init,
        f_star=f_star,
        x_star=w_star,
        info={"convex": True, "L": L, "mu": l2, "n_samples": A.shape[0]},
        sample_batch_fn=datasets.sample_rows,
    )
