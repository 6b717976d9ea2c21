"""L-BFGS (Nocedal 1980) with a line search for the strong Wolfe conditions (Nocedal & Wright, Alg. 3.5/3.6).

The direction is the two-loop recursion's product of the gradient with the
inverse-Hessian estimate built from the last `memory_size` pairs
s = x_{k+1} - x_k, y = g_{k+1} - g_k; the step along it comes from a zoom line
search: first an expanding search for an interval that holds a point
satisfying both Wolfe conditions, then a zoom into it by safeguarded cubic or
quadratic interpolation, else bisection. Each trial costs one value and
gradient of the loss (`value_fn`): an update makes one to
`max_linesearch_steps` of them (its state's `linesearch_steps`).

The constants and the fall-backs follow `optax.lbfgs` with its default
`optax.scale_by_zoom_linesearch(max_linesearch_steps, initial_guess_strategy="one")`,
so that the two take the same steps (tests/test_lbfgs.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import validation as check
from optimizers.custom import linesearch_evaluations
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register

# optax's zoom line search constants that are not hyperparameters here.
INCREASE_FACTOR = 2.0  # the expanding search multiplies the trial step by this
APPROX_DECREASE_RTOL = 1e-6  # the approximate Wolfe condition's relative slack on f(x)
INTERVAL_THRESHOLD = 1e-5  # a zoom interval this short with a safe step found ends the search
CUBIC_MARGIN = 0.2  # a cubic minimiser is used only this fraction of the interval inside it
QUADRATIC_MARGIN = 0.1  # the same for the quadratic one


class LBFGSMemoryState(NamedTuple):
    """The step count, the last point and gradient, and the ring buffer of (s, y, 1/<s, y>) pairs."""

    count: jax.Array
    params: optax.Params
    grad: optax.Updates
    s: optax.Updates  # each leaf (memory_size, *leaf.shape)
    y: optax.Updates
    rho: jax.Array  # (memory_size,)


def _real_vdot(a, b) -> jax.Array:
    return optax.tree.real(optax.tree.vdot(a, b))


def two_loop(g, s, y, rho, gamma, newest) -> optax.Updates:
    """H g by the two-loop recursion (Nocedal 1980; Nocedal & Wright, Alg. 7.4).

    s, y, rho hold the pairs in a ring buffer whose oldest entry is at
    `newest + 1` (mod m): the first loop runs from the newest pair to the
    oldest, the second back. Unfilled entries are zeros (rho = 0): they
    change nothing. gamma scales the initial estimate H0 = gamma I.
    """
    m = rho.shape[0]
    order = (newest + 1 + jnp.arange(m)) % m  # oldest first
    pair = lambda i: jax.tree.map(lambda buf: buf[i], (s, y))  # noqa: E731

    def backward(q, i):
        s_i, y_i = pair(i)
        a = rho[i] * _real_vdot(s_i, q)
        return optax.tree.cast_like(optax.tree.add_scale(q, -a, y_i), q), a

    q, alphas = jax.lax.scan(backward, g, order, reverse=True)
    r = optax.tree.scale(gamma, q)

    def forward(r, i_a):
        i, a = i_a
        s_i, y_i = pair(i)
        b = rho[i] * _real_vdot(y_i, r)
        return optax.tree.cast_like(optax.tree.add_scale(r, a - b, s_i), r), b

    r, _ = jax.lax.scan(forward, r, (order, alphas))
    return r


def scale_by_lbfgs_memory(memory_size: int = 10, scale_init_precond: bool = True) -> optax.GradientTransformation:
    """u <- H_k u, H_k the L-BFGS inverse-Hessian estimate at the current point.

    Each update first stores the pair of the step just taken (s = x - x_prev,
    y = g - g_prev, rho = 1/<y, s>, 0 where <y, s> = 0; nothing on the first
    update), then applies the recursion with H0 = gamma I: gamma = <y, s>/|y|^2
    (Nocedal & Wright, eq. 7.20; 1 when y = 0), and on the first update
    min(1, 1/|g|), so that the first trial step is at most 1 long (optax's
    choice). Without scale_init_precond gamma = 1.
    """
    if isinstance(memory_size, int) and memory_size < 1:
        raise ValueError("lbfgs: memory_size must be an integer >= 1")

    def init_fn(params):
        dtype = jnp.real(jnp.empty((), jax.tree.leaves(params)[0].dtype)).dtype
        ring = jax.tree.map(lambda p: jnp.zeros((memory_size, *p.shape), p.dtype), params)
        return LBFGSMemoryState(count=jnp.zeros([], jnp.int32), params=optax.tree.zeros_like(params),
                                grad=optax.tree.zeros_like(params), s=ring, y=ring,
                                rho=jnp.zeros((memory_size,), dtype))

    def update_fn(updates, state, params):
        # The memory's size is read from the state: under `optax.inject_hyperparams`
        # memory_size comes in as an array, traced in the update.
        newest = (state.count - 1) % state.rho.shape[0]
        started = state.count > 0
        s_new = optax.tree.sub(params, state.params)
        y_new = optax.tree.sub(updates, state.grad)
        sy = _real_vdot(y_new, s_new)
        rho_new = jnp.where(sy == 0.0, 0.0, 1.0 / sy)
        s_new, y_new, rho_new = jax.tree.map(lambda a: jnp.where(started, a, jnp.zeros_like(a)),
                                             (s_new, y_new, rho_new))
        s, y, rho = jax.tree.map(lambda buf, a: buf.at[newest].set(a), (state.s, state.y, state.rho),
                                 (s_new, y_new, rho_new))
        if scale_init_precond:
            yy = optax.tree.norm(y_new, squared=True)
            gamma = jnp.where(yy > 0.0, _real_vdot(y_new, s_new) / yy, 1.0)
            first = jnp.minimum(1.0, 1.0 / optax.tree.norm(jax.lax.stop_gradient(updates)))
            gamma = jnp.where(started, gamma, first)
        else:
            gamma = 1.0
        direction = two_loop(updates, s, y, rho, gamma, newest)
        new = LBFGSMemoryState(count=optax.safe_increment(state.count), params=params, grad=updates, s=s, y=y,
                               rho=rho)
        return direction, new

    return optax.GradientTransformation(init_fn, update_fn)


# --------------------------------------------------------------------------- the zoom line search


class WolfeSearchState(NamedTuple):
    """The last accepted step along the direction, and how many trials (value-and-gradient calls) it took."""

    stepsize: jax.Array
    linesearch_steps: jax.Array


class _Point(NamedTuple):
    """A step t along the direction d: f(x + t d) and the slope <grad f(x + t d), d>."""

    t: jax.Array
    value: jax.Array
    slope: jax.Array


class _Search(NamedTuple):
    """The line search's loop state (scalars in the loss's dtype)."""

    trials: jax.Array  # () int: trials made
    last: _Point  # the latest trial
    decrease_error: jax.Array  # its sufficient-decrease violation (>= 0; inf where not finite)
    curvature_error: jax.Array  # its curvature violation
    bracketed: jax.Array  # the interval is found: zooming
    done: jax.Array  # the last trial satisfies both conditions
    failed: jax.Array  # out of trials, or the interval shrank with a safe step at hand
    lo: _Point  # the interval's end with the lower value
    hi: _Point  # its other end
    ref: _Point  # the cubic's third point (t, value)
    safe: _Point  # the lowest trial of sufficient decrease (t = 0: none yet)


def scale_by_wolfe_linesearch(
    max_linesearch_steps: int = 20,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    curv_rtol: jax.typing.ArrayLike = 0.9,
) -> optax.GradientTransformationExtraArgs:
    """u <- t u, t a step satisfying the strong Wolfe conditions along u (Nocedal & Wright, Alg. 3.5/3.6).

    Sufficient decrease: f(x + t u) <= f(x) + slope_rtol t <g, u>, or, where
    that is lost to rounding, the approximate Wolfe condition of Hager & Zhang
    (2005): (2 slope_rtol - 1) <g, u> >= <g_t, u> with f(x + t u) <= f(x) +
    1e-6 |f(x)|. Curvature: |<g_t, u>| <= curv_rtol |<g, u>|. The first trial
    is t = 1; while no interval is found, t doubles. An interval ends when a
    trial breaks sufficient decrease, does not lower f (after the first), or
    has a non-negative slope. Zooming picks the cubic through both ends and
    the previous one when its minimiser lies inside the interval's middle 60%,
    else the quadratic through the ends when inside its middle 80%, else the
    midpoint. If the trials run out (or the interval shrinks under 1e-5 with
    a point of sufficient decrease found), it takes the lowest trial of
    sufficient decrease, or the last trial if there is none, or t = 0 if that
    is not finite. `update` needs `value`, `grad` and `value_fn`.
    """

    def init_fn(params):
        dtype = jnp.real(jnp.empty((), jax.tree.leaves(params)[0].dtype)).dtype
        return WolfeSearchState(stepsize=jnp.ones([], dtype), linesearch_steps=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params, *, value, grad, value_fn: Callable, **extra_args):
        del extra_args
        dtype = state.stepsize.dtype
        value_and_grad = jax.value_and_grad(value_fn)
        slope0 = _real_vdot(updates, grad)

        def trial_at(t) -> _Point:
            v, g = value_and_grad(optax.tree.add_scale(params, t, updates))
            return _Point(t, v, _real_vdot(optax.tree.conj(g), updates))

        def errors(p: _Point):
            armijo = p.value - value - slope_rtol * p.t * slope0
            approx = jnp.maximum(p.slope - (2 * slope_rtol - 1.0) * slope0,
                                 p.value - value - APPROX_DECREASE_RTOL * jnp.abs(value))
            dec = jnp.maximum(jnp.minimum(approx, armijo), 0.0)
            curv = jnp.maximum(jnp.abs(p.slope) - curv_rtol * jnp.abs(slope0), 0.0)
            nan_inf = lambda e: jnp.where(jnp.isnan(e), jnp.inf, e)  # noqa: E731
            return nan_inf(dec), nan_inf(curv)

        pick = lambda c, a, b: jax.tree.map(lambda u, v: jnp.where(c, u, v), a, b)  # noqa: E731

        def expand(s: _Search) -> _Search:
            """Alg. 3.5: the next trial of the search for an interval."""
            prev = s.last
            new = trial_at(jnp.where(s.trials == 0, 1.0, INCREASE_FACTOR * prev.t))
            dec, curv = errors(new)
            err = jnp.maximum(dec, curv)
            safe = pick(dec <= 0.0, new, s.safe)
            to_hi = (dec > 0.0) | ((new.value >= prev.value) & (s.trials > 0))
            to_lo = (new.slope >= 0.0) & ~to_hi
            lo, hi = pick(to_lo, (new, prev), (prev, new))
            done = err <= 0.0
            return _Search(trials=s.trials + 1, last=new, decrease_error=dec, curvature_error=curv,
                           bracketed=to_hi | to_lo | done, done=done,
                           failed=(s.trials + 1 >= max_linesearch_steps) & ~done,
                           lo=lo, hi=hi, ref=lo, safe=safe)

        def zoom(s: _Search) -> _Search:
            """Alg. 3.6: a trial inside the interval [lo, hi], which then shrinks."""
            lo, hi = s.lo, s.hi
            width = jnp.abs(hi.t - lo.t)
            left, right = jnp.minimum(lo.t, hi.t), jnp.maximum(lo.t, hi.t)
            cubic = cubic_minimizer(lo.t, lo.value, lo.slope, hi.t, hi.value, s.ref.t, s.ref.value)
            use_cubic = (cubic > left + CUBIC_MARGIN * width) & (cubic < right - CUBIC_MARGIN * width)
            quad = quadratic_minimizer(lo.t, lo.value, lo.slope, hi.t, hi.value)
            use_quad = ~use_cubic & (quad > left + QUADRATIC_MARGIN * width) & (quad < right - QUADRATIC_MARGIN * width)
            t = jnp.where(use_cubic, cubic, jnp.where(use_quad, quad, (lo.t + hi.t) / 2.0))
            new = trial_at(t)
            dec, curv = errors(new)
            done = jnp.maximum(dec, curv) <= 0.0
            safe = pick((dec <= 0.0) & (new.value < s.safe.value), new, s.safe)
            hi_to_new = (dec > 0.0) | (new.value >= lo.value)
            hi_to_lo = (new.slope * (hi.t - lo.t) >= 0.0) & ~hi_to_new
            new_hi = pick(hi_to_lo, lo, pick(hi_to_new, new, hi))
            new_lo = pick(hi_to_new, lo, new)
            ref = pick(hi_to_new | hi_to_lo, hi, lo)
            stuck = (s.trials + 1 >= max_linesearch_steps) | ((width <= INTERVAL_THRESHOLD) & (safe.t > 0.0))
            return _Search(trials=s.trials + 1, last=new, decrease_error=dec, curvature_error=curv,
                           bracketed=s.bracketed, done=done, failed=stuck & ~done,
                           lo=new_lo, hi=new_hi, ref=ref, safe=safe)

        def fall_back(s: _Search) -> _Search:
            """Out of trials: the safe step if there is one (or the last trial is not finite), else the last."""
            take_safe = (s.safe.t > 0.0) | jnp.isinf(s.decrease_error)
            return s._replace(last=pick(take_safe, s.safe, s.last))

        def body(s: _Search) -> _Search:
            kept = lambda phase: lambda s: optax.tree.cast_like(phase(s), start)  # noqa: E731 - the loop's dtypes
            s = jax.lax.cond(s.bracketed, kept(zoom), kept(expand), s)
            return jax.lax.cond(s.failed, fall_back, lambda s: s, s)

        zero = jnp.zeros([], dtype)
        here = _Point(zero, jnp.asarray(value, dtype), slope0.astype(dtype))
        inf = jnp.full([], jnp.inf, dtype)
        no = jnp.zeros([], bool)
        start = _Search(trials=jnp.zeros([], jnp.int32), last=here, decrease_error=inf, curvature_error=inf,
                        bracketed=no, done=no, failed=no, lo=here, hi=here, ref=here, safe=here)
        end = jax.lax.while_loop(lambda s: ~(s.done | s.failed), body, start)
        t = end.last.t
        new = WolfeSearchState(stepsize=t, linesearch_steps=end.trials)
        return optax.tree.scale(t, updates), optax.tree.cast_like(new, state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def cubic_minimizer(a, fa, ga, b, fb, c, fc):
    """The minimiser of the cubic p with p(a) = fa, p'(a) = ga, p(b) = fb, p(c) = fc (NaN if none).

    p(a + z) = fa + ga z + B z^2 + A z^3, with (A, B) solving the two
    interpolation equations at b and c (Nocedal & Wright, eq. 3.59).
    """
    db, dc = b - a, c - a
    scale = (db * dc) ** 2 * (db - dc)
    m = jnp.array([[dc**2, -(db**2)], [-(dc**3), db**3]])
    rhs = jnp.array([fb - fa - ga * db, fc - fa - ga * dc])
    big_a, big_b = jnp.dot(m, rhs, precision=jax.lax.Precision.HIGHEST) / scale
    return a + (-big_b + jnp.sqrt(big_b * big_b - 3.0 * big_a * ga)) / (3.0 * big_a)


def quadratic_minimizer(a, fa, ga, b, fb):
    """The minimiser of the quadratic q with q(a) = fa, q'(a) = ga, q(b) = fb (Nocedal & Wright, eq. 3.58)."""
    db = b - a
    curvature = (fb - fa - ga * db) / (db**2)
    return a - ga / (2.0 * curvature)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(0.1, 1.0, "log")),
    memory_size=check.Hyperparameter(check.Interval(1.0, check.INF, integer=True), choices=(10, 3)),
    max_linesearch_steps=check.Hyperparameter(check.Interval(1.0, check.INF, integer=True)),
    slope_rtol=check.Hyperparameter(check.FRACTION, search=(1e-5, 1e-2, "log")),
    curv_rtol=check.Hyperparameter(check.FRACTION, search=(0.5, 0.99, "linear")),
    scale_init_precond=check.Hyperparameter(check.SWITCH, choices=(True, False)),
)
def lbfgs(
    learning_rate: LearningRate = 1.0,
    memory_size: int = 10,
    max_linesearch_steps: int = 20,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    curv_rtol: jax.typing.ArrayLike = 0.9,
    *,
    scale_init_precond: bool = True,
) -> optax.GradientTransformationExtraArgs:
    """L-BFGS: x <- x - t lr H g, H the inverse-Hessian estimate of the last memory_size steps.

    t satisfies the strong Wolfe conditions (slope_rtol, curv_rtol) along
    d = -lr H g, from the trial t = 1 (`scale_by_wolfe_linesearch`); H is
    `scale_by_lbfgs_memory`'s. As in `optax.lbfgs` with its default zoom line
    search: H0 = gamma I with gamma = <y, s>/|y|^2, and min(1, 1/|g|) on the
    first step; each step's line search makes 1 to max_linesearch_steps
    value-and-gradient calls of `value_fn` besides the one at x. `update`
    needs `value`, `grad` and `value_fn`.

    References:
      Nocedal, "Updating quasi-Newton matrices with limited storage", Math.
      Comp. 35(151), 1980 (the two-loop recursion).
      Liu & Nocedal, "On the limited memory BFGS method for large scale
      optimization", Math. Prog. 45, 1989.
      Nocedal & Wright, "Numerical Optimization", 2nd ed., 2006, Algorithms 3.5,
      3.6 (the line search), 7.4, 7.5 (L-BFGS).
    """
    return optax.chain(
        scale_by_lbfgs_memory(memory_size, scale_init_precond),
        scale_by_learning_rate(learning_rate),
        scale_by_wolfe_linesearch(max_linesearch_steps, slope_rtol, curv_rtol),
    )


def evaluations(state, hyperparams=None) -> jax.Array:
    """The value-and-gradient calls of the `lbfgs` update that returned `state`: the one at x, and its trials."""
    del hyperparams
    return 1 + state[2].linesearch_steps


def _twin(learning_rate, memory_size, max_linesearch_steps, slope_rtol, curv_rtol, *, scale_init_precond):
    search = optax.scale_by_zoom_linesearch(max_linesearch_steps=max_linesearch_steps, slope_rtol=slope_rtol,
                                            curv_rtol=curv_rtol, initial_guess_strategy="one")
    return optax.lbfgs(learning_rate, memory_size=memory_size, scale_init_precond=scale_init_precond,
                       linesearch=search)


register(OptimizerSpec.declared(
    lbfgs,
    name="lbfgs",
    elementwise=False,  # inner products over all parameters, a line search
    twin=_twin,
    twin_call="optax.lbfgs(lr, memory_size, linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps, "
              "initial_guess_strategy='one'))",
    needs=frozenset({"value", "grad", "value_fn"}),
    evals=evaluations,
    twin_evals=linesearch_evaluations,
    rule="d = -lr H g (two-loop recursion, last m pairs); t: strong Wolfe zoom from t = 1; x += t d",
    paper="Nocedal 1980 (Math. Comp. 35); Nocedal & Wright 2006, Alg. 3.5/3.6",
    notes="H0 = min(1, 1/|g|) I on the first step, then <y,s>/|y|^2 I; approximate Wolfe (Hager-Zhang) accepted; "
          "on failure the lowest point of sufficient decrease (optax).",
))
