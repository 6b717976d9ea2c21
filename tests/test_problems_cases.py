"""The shared table of test instances for the problem library, and helpers.

Every registered problem is tested at the instances listed in CASES, or at its
defaults when it has no entry, so a newly registered problem is covered
automatically. Instances are kept small so the whole suite stays fast.
(This module holds no tests; its name only matches the files this suite owns.)
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import problems

try:  # installed with scikit-learn (a test extra); absent on the GPU machine
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None


@pytest.fixture(autouse=True, scope="module")
def single_threaded_blas():
    """NumPy's BLAS on one thread in these tests (import this fixture to use it).

    The float64 reference solves and scikit-learn run many small matrix products;
    on the 2-core test machine multithreaded OpenBLAS made them 5-20x slower and
    stole the cores from XLA's compiler.
    """
    if threadpool_limits is None:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@dataclasses.dataclass(frozen=True)
class Case:
    """One problem instance to test, and what to expect of it.

    Attributes:
      name: registry name.
      kwargs: its keyword arguments.
      constant_hessian: the Hessian is constant, so its extreme eigenvalues must
        equal info["mu"] and info["L"] (not only be bounded by them).
      optimum_tol: (value, gradient) tolerances at x* in float64:
        |loss(x*) - f*| <= value * (1 + |f*|) and ||grad loss(x*)||_2 <= gradient.
    """

    name: str
    kwargs: tuple = ()
    constant_hessian: bool = False
    optimum_tol: tuple[float, float] = (1e-12, 1e-12)

    @property
    def id(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.kwargs)})"

    def problem(self) -> problems.Problem:
        return build(self.name, self.kwargs)


def _cases(name, *kwargs_list, **expect):
    return [Case(name, tuple(kw.items()), **expect) for kw in kwargs_list]


SMALL = {"n_samples": 60, "n_features": 4}

CASES: dict[str, list[Case]] = {
    "rosenbrock": _cases("rosenbrock", {"dim": 2}, {"dim": 5, "perturb": 0.1}),
    "quadratic": _cases(
        "quadratic", {"dim": 2, "rotate": False}, {"dim": 5, "condition_number": 100.0, "mu": 0.1},
        constant_hessian=True,
    ),
    "least_squares": _cases(
        "least_squares", {"n_samples": 40, "n_features": 5}, {"n_samples": 5, "n_features": 8, "noise": 0.0},
        constant_hessian=True,
    ),
    "logistic": _cases("logistic", SMALL, {"dataset": "breast_cancer", "l2": 1e-2}),
    "softmax_regression": _cases(
        "softmax_regression", {**SMALL, "n_classes": 3}, {"dataset": "breast_cancer"}
    ),
    "mlp": _cases(
        "mlp", {"dataset": "synthetic", **SMALL, "n_classes": 3, "hidden": (5, 4)}, {"hidden": 8, "l2": 1e-3}
    ),
    "noisy_quadratic": _cases(
        "noisy_quadratic", {"dim": 2, "condition_number": 10.0}, {"dim": 20, "noise": 0.5}, constant_hessian=True
    ),
    "booth": _cases("booth", {}, constant_hessian=True),
    "bbob": [  # the sphere (Hessian 2I), a smooth and a non-smooth function (tests/test_bbob.py has all 24)
        *_cases("bbob", {"function": 1, "dim": 2}, constant_hessian=True),
        *_cases("bbob", {"function": 8, "instance": 2, "dim": 3}, {"function": 15, "instance": 3, "dim": 5}),
    ],
    "matyas": _cases("matyas", {}, constant_hessian=True),
    "styblinski_tang": _cases("styblinski_tang", {"dim": 3}, optimum_tol=(1e-14, 1e-12)),
    "rastrigin": _cases("rastrigin", {"dim": 3}),
    "ackley": _cases("ackley", {"dim": 3}, optimum_tol=(1e-14, 0.0)),
    "zakharov": _cases("zakharov", {"dim": 3}),
    "powell_singular": _cases("powell_singular", {"dim": 4}, {"dim": 8, "perturb": 0.5}),
    "matrix_factorization": _cases("matrix_factorization", {}, {"n_rows": 6, "n_cols": 4, "rank": 4}),
    "matrix_sensing": _cases("matrix_sensing", {}, {"matrix_size": 6, "rank": 1, "n_measurements": 12}),
    "multi_output_least_squares": _cases(
        "multi_output_least_squares", {"n_samples": 40, "n_features": 5, "n_outputs": 3},
        {"n_samples": 5, "n_features": 8, "n_outputs": 2, "noise": 0.0}, constant_hessian=True,
    ),
    "deep_linear": _cases(
        "deep_linear", {"n_samples": 40, "n_inputs": 5, "n_outputs": 3, "width": 4},
        {"depth": 2, "width": 3, "n_inputs": 3, "n_outputs": 4, "n_samples": 20, "noise": 0.0},
    ),
    # The default (19,456 parameters, 1,000 sequences) is tested in test_problems_matrix.py.
    "transformer": _cases(
        "transformer", {"n_samples": 64, "d_model": 8, "d_mlp": 16, "n_layers": 1, "pairs": 3, "queries": 2}
    ),
}


def all_cases() -> list[Case]:
    """One or more cases for every registered problem (its defaults where CASES has none)."""
    return [case for name in problems.names() for case in CASES.get(name, [Case(name)])]


def parametrize_cases(fn=None, *, where=None):
    """pytest.mark.parametrize("case", ...) over all_cases() (optionally filtered)."""
    cases = [c for c in all_cases() if where is None or where(c)]
    mark = pytest.mark.parametrize("case", cases, ids=[c.id for c in cases])
    return mark if fn is None else mark(fn)


@functools.cache
def build(name: str, kwargs: tuple) -> problems.Problem:
    return problems.get(name, **dict(kwargs))


def ravel(x) -> np.ndarray:
    """A pytree of arrays as one flat NumPy vector (leaves in tree order)."""
    return np.concatenate([np.ravel(np.asarray(a)) for a in jax.tree.leaves(x)])


class Flat:
    """A problem's loss on one flat parameter vector, with its compiled derivatives.

    Built once per case (`flat(case)`), so every test reuses the compiled programs;
    they follow the dtype of the vector passed in.
    """

    def __init__(self, p: problems.Problem):
        self.problem = p
        shapes = jax.eval_shape(lambda key: p.init_fn(key, jnp.float32), jax.random.PRNGKey(0))
        self.treedef = jax.tree.structure(shapes)
        self.shapes = [s.shape for s in jax.tree.leaves(shapes)]
        # Compiled with the instance data as an argument, as the harness does.
        data = p.data
        f = self.f
        self._loss = jax.jit(f)
        self._value_and_grad = jax.jit(jax.value_and_grad(f))
        self._losses = jax.jit(jax.vmap(f, in_axes=(0, None)))
        self._hessian = jax.jit(jax.hessian(f))
        self.loss = lambda v: self._loss(v, data)
        self.value_and_grad = lambda v: self._value_and_grad(v, data)
        self.losses = lambda vs: self._losses(vs, data)
        self.hessian = lambda v: self._hessian(v, data)

    def unravel(self, v):
        leaves, start = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            leaves.append(v[start:start + size].reshape(shape))
            start += size
        return jax.tree.unflatten(self.treedef, leaves)

    def f(self, v, data):
        return self.problem.fn(self.unravel(v), data, None)

    def points(self, n: int = 3, seed: int = 0, scale: float = 0.5) -> list[np.ndarray]:
        """n float64 points around the starting distribution: x0(key) + scale * N(0, I)."""
        rng = np.random.default_rng(seed)
        starts = [ravel(self.problem.init(k)) for k in jax.random.split(jax.random.PRNGKey(seed), n)]
        return [x0.astype(np.float64) + scale * rng.standard_normal(x0.size) for x0 in starts]


@functools.cache
def flat(case: Case) -> Flat:
    return Flat(case.problem())


def tree_equal(a, b) -> bool:
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    return ta == tb and all(np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(la, lb))
