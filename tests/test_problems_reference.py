"""Problems checked against independent implementations (scipy, scikit-learn).

Tolerances: Rosenbrock value and gradient 1e-12 relative to scipy; the stated
optima (x*, f*) of logistic, softmax_regression and least_squares 1e-8 relative
to scikit-learn's / scipy's solvers (they agree to ~1e-15 in practice). Skipped
where scipy or scikit-learn is not installed (the GPU machine has neither).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

scipy = pytest.importorskip("scipy")
sklearn = pytest.importorskip("sklearn")

import scipy.linalg  # noqa: E402
import scipy.optimize  # noqa: E402
import scipy.special  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from test_problems_cases import single_threaded_blas  # noqa: E402,F401 (autouse fixture)

import problems  # noqa: E402
from problems import classics, datasets  # noqa: E402


def _rel(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


@pytest.mark.parametrize("dim", [2, 3, 10])
def test_rosenbrock_matches_scipy(dim, x64):
    p = problems.get("rosenbrock", dim=dim)
    value_and_grad = jax.jit(jax.value_and_grad(p.loss))
    rng = np.random.default_rng(dim)
    for x in rng.uniform(-2, 2, (5, dim)):
        f, g = value_and_grad(jnp.asarray(x))
        assert abs(float(f) - scipy.optimize.rosen(x)) <= 1e-12 * scipy.optimize.rosen(x)
        assert _rel(g, scipy.optimize.rosen_der(x)) <= 1e-12


def _sklearn_fit(p, C):
    """scikit-learn's LogisticRegression on the same design matrix (intercept column included)."""
    A, y = p.data["A"], p.data["y"]
    model = LogisticRegression(C=C, fit_intercept=False, solver="newton-cholesky", tol=1e-15, max_iter=1000)
    return model.fit(A, y).coef_


# scikit-learn minimises C sum_i loss_i + ||w||^2 / 2, i.e. ours times C n with C = 1 / (n l2).
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"l2": 0.0}, {"dataset": "breast_cancer"}, {"dataset": "breast_cancer", "l2": 1e-5}],
    ids=str,
)
def test_logistic_optimum_matches_sklearn(kwargs):
    p = problems.get("logistic", **kwargs)
    A, y, l2 = p.data["A"], p.data["y"], p.args["l2"]
    w = _sklearn_fit(p, 1.0 / (len(y) * l2) if l2 else np.inf).ravel()
    f = np.mean(np.logaddexp(0.0, -y * (A @ w))) + 0.5 * l2 * (w @ w)
    assert _rel(p.x_star, w) <= 1e-8
    assert abs(p.f_star - f) <= 1e-8 * abs(f)


@pytest.mark.parametrize(
    "kwargs", [{}, {"dataset": "digits"}, {"dataset": "breast_cancer", "l2": 1e-2}], ids=str
)
def test_softmax_regression_optimum_matches_sklearn(kwargs):
    p = problems.get("softmax_regression", **kwargs)
    A, y, l2 = p.data["A"], p.data["y"], p.args["l2"]
    n = len(y)
    if len(np.unique(y)) == 2:  # scikit-learn fits binary data with one weight vector
        w = _sklearn_fit(p, 2.0 / (n * l2)).ravel() / 2  # the symmetric optimum: W = (-w/2, w/2)
        W = np.stack([-w, w], axis=1)
    else:
        W = _sklearn_fit(p, 1.0 / (n * l2)).T
    Z = A @ W
    f = np.mean(scipy.special.logsumexp(Z, axis=1) - Z[np.arange(n), y]) + 0.5 * l2 * np.sum(W * W)
    assert _rel(p.x_star, W) <= 1e-8
    assert abs(p.f_star - f) <= 1e-8 * abs(f)


@pytest.mark.parametrize("kwargs", [{}, {"n_samples": 30, "n_features": 50}, {"noise": 0.0}], ids=str)
def test_least_squares_matches_scipy(kwargs):
    p = problems.get("least_squares", **kwargs)
    X, y = p.data["X"], p.data["y"]
    n, d = X.shape
    w = scipy.linalg.lstsq(X, y, lapack_driver="gelsy")[0]  # minimum-norm solution
    r = X @ w - y
    assert _rel(p.x_star, w) <= 1e-8
    assert abs(p.f_star - 0.5 * (r @ r) / n) <= 1e-8 * (0.5 * (r @ r) / n) + 1e-20
    s = scipy.linalg.svdvals(X) ** 2 / n
    assert abs(p.info["L"] - s[0]) <= 1e-10 * s[0]
    assert abs(p.info["mu"] - (s[-1] if n >= d else 0.0)) <= 1e-10 * s[0]


def test_styblinski_tang_minimum():
    t = np.linspace(-5, 5, 1_000_001)
    g = 0.5 * (t**4 - 16 * t**2 + 5 * t)
    assert abs(t[np.argmin(g)] - classics.STYBLINSKI_TANG_T) <= 1e-5
    p = problems.get("styblinski_tang", dim=7)
    assert abs(p.f_star / 7 - (-39.16616570377142)) <= 1e-13 * 39.2  # Jamil & Yang: -39.16599 per dimension
    assert abs(p.f_star / 7 - g.min()) <= 1e-9


def test_shipped_datasets_match_sklearn():
    for name, load in [("breast_cancer", load_breast_cancer), ("digits", load_digits)]:
        X, y = datasets.load(name)
        X_ref, y_ref = load(return_X_y=True)
        assert X.dtype == np.float64 and y.dtype == np.int32
        assert np.array_equal(X, X_ref) and np.array_equal(y, y_ref)
        assert (X.shape[0], X.shape[1], len(np.unique(y))) == datasets.REAL[name]
