"""The classic analytic test functions, with their known minima.

2-D: beale, booth, matyas, himmelblau, three_hump_camel. n-D (a `dim`
parameter, default 2): styblinski_tang, rastrigin, ackley, zakharov; and
powell_singular (dim = 4k). Formulas and minima follow Jamil & Yang (2013) unless
noted; the search boxes are the usual ones (ackley [-32.768, 32.768]^n,
rastrigin [-5.12, 5.12]^n, the others as in Jamil & Yang). Starting points are
uniform in the search box, drawn in float32 from the key; powell_singular starts
at More, Garbow & Hillstrom's standard point (3, -1, 0, 1, ...), like rosenbrock,
with an optional seeded perturbation. `bounds` (for contour plots) is the search
box whenever dim == 2.

References:
  Jamil & Yang, "A literature survey of benchmark functions for global
  optimisation problems", Int. J. Mathematical Modelling and Numerical
  Optimisation 4(2):150-194, 2013 (arXiv:1308.4008).
  More, Garbow & Hillstrom, "Testing unconstrained optimization software",
  ACM Transactions on Mathematical Software 7(1):17-41, 1981.
  Himmelblau, "Applied Nonlinear Programming", McGraw-Hill, 1972.
  Styblinski & Tang, "Experiments in nonconvex optimization: stochastic
  approximation with function smoothing and simulated annealing", Neural
  Networks 3(4):467-483, 1990.
  Muehlenbein, Schomisch & Born, "The parallel genetic algorithm as function
  optimizer", Parallel Computing 17:619-632, 1991 (n-D Rastrigin).
  Ackley, "A Connectionist Machine for Genetic Hillclimbing", Kluwer, 1987.
  Powell, "An iterative method for finding stationary values of a function of
  several variables", The Computer Journal 5(2):147-151, 1962.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from problems.problem import Problem
from problems.registry import register
from problems.validate import check_float, check_int


def _uniform_init(dim: int, low: float, high: float):
    def init(key, dtype=jnp.float32):
        return jax.random.uniform(key, (dim,), jnp.float32, low, high).astype(dtype)

    return init


def _make(name, fn, *, dim, box, f_star, x_star, info, args=None, init=None) -> Problem:
    """A deterministic problem without instance data, started uniformly in `box` by default."""
    low, high = box
    return Problem(
        name=name,
        dim=dim,
        args=args or {},
        fn=fn,
        data={},
        init_fn=init or _uniform_init(dim, low, high),
        f_star=float(f_star),
        x_star=np.asarray(x_star, dtype=np.float64),
        info=info,
        bounds=((low, high), (low, high)) if dim == 2 else None,
    )


# ---------------------------------------------------------------- 2-D functions


def _beale(x, data=None, batch=None):
    del data, batch
    a, b = x[0], x[1]
    return (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2


@register("beale")
def beale() -> Problem:
    """Beale: a flat, curved valley; f* = 0 at (3, 0.5); box [-4.5, 4.5]^2."""
    return _make(
        "beale", _beale, dim=2, box=(-4.5, 4.5), f_star=0.0, x_star=[3.0, 0.5], info={"convex": False}
    )


def _booth(x, data=None, batch=None):
    del data, batch
    a, b = x[0], x[1]
    return (a + 2 * b - 7) ** 2 + (2 * a + b - 5) ** 2


@register("booth")
def booth() -> Problem:
    """Booth: a convex quadratic, Hessian [[10, 8], [8, 10]] (eigenvalues 18, 2); f* = 0 at (1, 3)."""
    return _make(
        "booth", _booth, dim=2, box=(-10.0, 10.0), f_star=0.0, x_star=[1.0, 3.0],
        info={"convex": True, "L": 18.0, "mu": 2.0},
    )


def _matyas(x, data=None, batch=None):
    del data, batch
    a, b = x[0], x[1]
    return 0.26 * (a**2 + b**2) - 0.48 * a * b


@register("matyas")
def matyas() -> Problem:
    """Matyas: a convex quadratic, Hessian [[0.52, -0.48], [-0.48, 0.52]] (eigenvalues 1, 0.04); f* = 0 at 0.

    Very flat along the diagonal (condition number 25).
    """
    return _make(
        "matyas", _matyas, dim=2, box=(-10.0, 10.0), f_star=0.0, x_star=[0.0, 0.0],
        info={"convex": True, "L": 1.0, "mu": 0.04},
    )


def _himmelblau(x, data=None, batch=None):
    del data, batch
    a, b = x[0], x[1]
    return (a**2 + b - 11) ** 2 + (a + b**2 - 7) ** 2


#: Himmelblau's four global minimisers (f = 0), to float64 precision (Newton-polished).
HIMMELBLAU_MINIMIZERS = (
    (3.0, 2.0),
    (-2.805118086952745, 3.131312518250573),
    (-3.779310253377747, -3.2831859912861696),
    (3.5844283403304917, -1.8481265269644034),
)


@register("himmelblau")
def himmelblau() -> Problem:
    """Himmelblau: four global minima, all f = 0 (x* is (3, 2); all four in info["minimizers"])."""
    return _make(
        "himmelblau", _himmelblau, dim=2, box=(-5.0, 5.0), f_star=0.0, x_star=HIMMELBLAU_MINIMIZERS[0],
        info={"convex": False, "minimizers": HIMMELBLAU_MINIMIZERS},
    )


def _three_hump_camel(x, data=None, batch=None):
    del data, batch
    a, b = x[0], x[1]
    return 2 * a**2 - 1.05 * a**4 + a**6 / 6 + a * b + b**2


@register("three_hump_camel")
def three_hump_camel() -> Problem:
    """Three-hump camel: three local minima; f* = 0 at 0; box [-5, 5]^2."""
    return _make(
        "three_hump_camel", _three_hump_camel, dim=2, box=(-5.0, 5.0), f_star=0.0, x_star=[0.0, 0.0],
        info={"convex": False},
    )


# ---------------------------------------------------------------- n-D functions


def _styblinski_tang(x, data=None, batch=None):
    del data, batch
    return 0.5 * jnp.sum(x**4 - 16 * x**2 + 5 * x)


def _styblinski_tang_root() -> float:
    """The minimiser of 0.5 (t^4 - 16 t^2 + 5 t): the smallest root of 2 t^3 - 16 t + 2.5."""
    t = -2.9
    for _ in range(8):
        t -= (2 * t**3 - 16 * t + 2.5) / (6 * t**2 - 16)
    return t


STYBLINSKI_TANG_T = _styblinski_tang_root()  # -2.903534027771177


@register("styblinski_tang")
def styblinski_tang(dim: int = 2) -> Problem:
    """Styblinski-Tang: separable, 2^dim local minima; f* = -39.16616570377141 dim at x_i = -2.903534...."""
    dim = check_int("styblinski_tang", "dim", dim, minimum=1)
    t = STYBLINSKI_TANG_T
    return _make(
        "styblinski_tang", _styblinski_tang, dim=dim, box=(-5.0, 5.0),
        f_star=dim * 0.5 * (t**4 - 16 * t**2 + 5 * t), x_star=np.full(dim, t),
        info={"convex": False}, args={"dim": dim},
    )


def _rastrigin(x, data=None, batch=None):
    del data, batch
    return 10.0 * x.shape[0] + jnp.sum(x**2 - 10.0 * jnp.cos(2 * math.pi * x))


@register("rastrigin")
def rastrigin(dim: int = 2) -> Problem:
    """Rastrigin: a quadratic bowl with a regular grid of local minima; f* = 0 at 0; box [-5.12, 5.12]^dim.

    Its Hessian is diag(2 + 40 pi^2 cos(2 pi x_i)), so it is L-smooth with L = 2 + 40 pi^2.
    """
    dim = check_int("rastrigin", "dim", dim, minimum=1)
    return _make(
        "rastrigin", _rastrigin, dim=dim, box=(-5.12, 5.12), f_star=0.0, x_star=np.zeros(dim),
        info={"convex": False, "L": 2.0 + 40.0 * math.pi**2}, args={"dim": dim},
    )


def _ackley(x, data=None, batch=None):
    del data, batch
    ms = jnp.mean(x**2)
    # sqrt is not differentiable at 0 (the minimiser); the double `where` makes the
    # gradient there 0, a valid subgradient, instead of NaN.
    positive = ms > 0
    r = jnp.where(positive, jnp.sqrt(jnp.where(positive, ms, 1.0)), 0.0)
    return -20.0 * jnp.exp(-0.2 * r) - jnp.exp(jnp.mean(jnp.cos(2 * math.pi * x))) + 20.0 + math.e


@register("ackley")
def ackley(dim: int = 2) -> Problem:
    """Ackley: a nearly flat outer region with many local minima around a sharp global one; f* = 0 at 0.

    Non-differentiable at x* (a cone tip); the gradient returned there is 0. Box [-32.768, 32.768]^dim.
    """
    dim = check_int("ackley", "dim", dim, minimum=1)
    return _make(
        "ackley", _ackley, dim=dim, box=(-32.768, 32.768), f_star=0.0, x_star=np.zeros(dim),
        info={"convex": False}, args={"dim": dim},
    )


def _zakharov(x, data=None, batch=None):
    del data, batch
    s = jnp.dot(0.5 * jnp.arange(1, x.shape[0] + 1, dtype=x.dtype), x)
    return jnp.dot(x, x) + s**2 + s**4


@register("zakharov")
def zakharov(dim: int = 2) -> Problem:
    """Zakharov: convex, f* = 0 at 0; Hessian 2 I + (2 + 12 s^2) c c^T >= 2 I (mu = 2, L unbounded)."""
    dim = check_int("zakharov", "dim", dim, minimum=1)
    return _make(
        "zakharov", _zakharov, dim=dim, box=(-5.0, 10.0), f_star=0.0, x_star=np.zeros(dim),
        info={"convex": True, "mu": 2.0}, args={"dim": dim},
    )


def _powell_singular(x, data=None, batch=None):
    del data, batch
    a, b, c, d = (x.reshape(-1, 4)[:, i] for i in range(4))
    return jnp.sum((a + 10 * b) ** 2 + 5 * (c - d) ** 2 + (b - 2 * c) ** 4 + 10 * (a - d) ** 4)


@register("powell_singular")
def powell_singular(dim: int = 4, perturb: float = 0.0) -> Problem:
    """Extended Powell singular function (dim = 4k): f* = 0 at 0, where the Hessian is singular.

    Convex (squares and fourth powers of linear forms), not strongly convex. Every
    seed starts at the standard (3, -1, 0, 1, 3, -1, 0, 1, ...) of More, Garbow &
    Hillstrom; `perturb` > 0 adds a seeded Gaussian perturbation of that standard
    deviation.
    """
    dim = check_int("powell_singular", "dim", dim, minimum=4, multiple_of=4)
    perturb = check_float("powell_singular", "perturb", perturb, minimum=0.0)
    start = np.tile([3.0, -1.0, 0.0, 1.0], dim // 4)

    def init(key, dtype=jnp.float32):
        x0 = jnp.asarray(start, jnp.float32)
        if perturb:
            x0 = x0 + perturb * jax.random.normal(key, (dim,), jnp.float32)
        return x0.astype(dtype)

    return _make(
        "powell_singular", _powell_singular, dim=dim, box=(-4.0, 5.0), f_star=0.0, x_star=np.zeros(dim),
        info={"convex": True, "mu": 0.0}, args={"dim": dim, "perturb": perturb}, init=init,
    )
