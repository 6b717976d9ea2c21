"""L2-regularised multinomial (softmax) logistic regression, on synthetic data or digits.

f(W) = (1/n) sum_i [logsumexp(a_i W) - (a_i W)_{y_i}] + (l2 / 2) ||W||_F^2,

W of shape (n_features + 1, n_classes) (the parameters are this one matrix;
dim = (n_features + 1) n_classes); a_i = (standardised features of example i, 1),
so the last row of W holds the intercepts, regularised like the rest. Without
regularisation the loss is flat along W + 1 c^T, so l2 > 0 is required; then it is
l2-strongly convex and L-smooth with L = lambda_max(A^T A) / (2 n) + l2 (the
Hessian of logsumexp is at most 1/2 in every direction, Boehning 1992). f* and
x* come from a float64 Newton solve in NumPy, memoised per instance.

Data sets: "synthetic" (Gaussian features, labels from a random multinomial-logit
model), "digits" (1797 x 64, 10 classes, UCI Optical Recognition of Handwritten
Digits, shipped in problems/data) or "breast_cancer" (2 classes).

References:
  Boehning, "Multinomial logistic regression algorithm", Annals of the Institute
  of Statistical Mathematics 44(1), 1992 (the curvature bound).
  Alpaydin & Kaynak, "Cascading classifiers", Kybernetika 34(4), 1998 (digits).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from problems import datasets
from problems.newton import newton
from problems.problem import Problem, cast_like
from problems.registry import register
from problems.validate import check_float

SYNTHETIC_DEFAULTS = {"n_samples": 1000, "n_features": 20, "n_classes": 5, "seed": 0}


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy of integer labels."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))


def _loss(W, data, batch=None):
    data = cast_like(data, W)
    A, y = data["A"], data["y"]
    if batch is not None:
        A, y = A[batch], y[batch]
    return cross_entropy(A @ W, y) + 0.5 * data["l2"] * jnp.sum(W * W)


def _numpy_problem(A: np.ndarray, y: np.ndarray, k: int, l2: float):
    """Value and (gradient, Hessian) of the same loss in float64 NumPy, W flattened row-major."""
    n, d = A.shape
    onehot = np.eye(k)[y]

    def probabilities(W):
        Z = A @ W
        Z = Z - Z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(Z).sum(axis=1))
        return Z, lse

    def value(w):
        W = w.reshape(d, k)
        Z, lse = probabilities(W)
        return float(np.mean(lse - Z[np.arange(n), y]) + 0.5 * l2 * (w @ w))

    def derivatives(w):
        W = w.reshape(d, k)
        Z, lse = probabilities(W)
        P = np.exp(Z - lse[:, None])
        g = (A.T @ (P - onehot) / n + l2 * W).ravel()
        # H[(i,a),(j,b)] = (1/n) sum_r A_ri A_rj (P_ra delta_ab - P_ra P_rb) + l2 delta
        h = np.zeros((d, k, d, k))
        for a in range(k):
            h[:, a, :, a] = (A.T * P[:, a]) @ A
        h = h.reshape(d * k, d * k)
        for start in range(0, n, 4096):  # - sum_r vec(a_r p_r^T) vec(a_r p_r^T)^T, in row chunks
            B = (A[start:start + 4096, :, None] * P[start:start + 4096, None, :]).reshape(-1, d * k)
            h -= B.T @ B
        return g, h / n + l2 * np.eye(d * k)

    return value, derivatives


@functools.lru_cache(maxsize=16)
def _instance(dataset, n_samples, n_features, n_classes, seed, l2):
    X, y = datasets.classification(dataset, n_samples, n_features, n_classes, seed)
    k = n_classes if dataset == datasets.SYNTHETIC else datasets.REAL[dataset][2]
    A = datasets.with_intercept(X)
    gram_max = float(np.linalg.eigvalsh(A.T @ A / A.shape[0])[-1])
    value, derivatives = _numpy_problem(A, y, k, l2)
    w_star = newton(value, derivatives, np.zeros(A.shape[1] * k)).reshape(A.shape[1], k)
    datasets.readonly(A, w_star)
    return A, y, w_star, value(w_star.ravel()), gram_max / 2.0 + l2


@register("softmax_regression")
def softmax_regression(
    dataset: str = "synthetic",
    l2: float = 1e-3,
    n_samples: int | None = None,
    n_features: int | None = None,
    n_classes: int | None = None,
    seed: int | None = None,
) -> Problem:
    """Multinomial logistic regression with intercepts and l2 regularisation.

    Args:
      dataset: "synthetic", "digits" or "breast_cancer".
      l2: regularisation strength > 0 (= mu).
      n_samples, n_features, n_classes, seed: size and data seed of
        dataset="synthetic" (defaults 1000, 20, 5, 0); leave unset for a real set.
    """
    dataset = datasets.check_dataset("softmax_regression", dataset)
    l2 = check_float("softmax_regression", "l2", l2, minimum=0.0, inclusive=False)
    synth = datasets.synthetic_args(
        "softmax_regression",
        dataset,
        {"n_samples": n_samples, "n_features": n_features, "n_classes": n_classes, "seed": seed},
        SYNTHETIC_DEFAULTS,
    )
    A, y, W_star, f_star, L = _instance(
        dataset, *(synth.get(k) for k in ("n_samples", "n_features", "n_classes", "seed")), l2
    )
    shape = W_star.shape

    def init(key, dtype=jnp.float32):
        # x0 ~ N(0, I / (n_features + 1)): initial logits of order 1.
        return (jax.random.normal(key, shape, jnp.float32) / math.sqrt(shape[0])).astype(dtype)

    return Problem(
        name="softmax_regression",
        dim=W_star.size,
        args={"dataset": dataset, "l2": l2, **synth},
        fn=_loss,
        data={"A": A, "y": y, "l2": np.asarray(l2, dtype=np.float64)},
        init_fn=init,
        f_star=f_star,
        x_star=W_star,
        info={"convex": True, "L": L, "mu": l2, "n_samples": A.shape[0]},
        sample_batch_fn=datasets.sample_rows,
    )
