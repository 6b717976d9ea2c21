"""Gradient descent with a backtracking (Armijo) line search."""

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


class ArmijoState(NamedTuple):
    """The last accepted step size and how many trials it took."""

    step_size: jax.Array
    num_trials: jax.Array


class _Search(NamedTuple):
    step_size: jax.Array
    value: jax.Array
    excess: jax.Array
    trial: jax.Array


def scale_by_armijo(
    max_backtracking_steps: jax.typing.ArrayLike = 50,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    decrease_factor: jax.typing.ArrayLike = 0.8,
    increase_factor: jax.typing.ArrayLike = 1.5,
    max_learning_rate: jax.typing.ArrayLike = 1.0,
) -> optax.GradientTransformationExtraArgs:
    """Scales a descent direction u by a step t satisfying Armijo's condition.

    t is the first of t0, t0 d, t0 d^2, ... (d = decrease_factor) with
    f(x + t u) <= f(x) + slope_rtol t <u, g>, where
    t0 = min(increase_factor t_prev, max_learning_rate). Stops after
    max_backtracking_steps + 1 trials and takes the last one; takes t = 0 if
    f(x + t u) is not finite. `update` needs `value=f(x)`, `grad=g` and
    `value_fn=f`.
    """

    def init_fn(params):
        dtype = jnp.real(jnp.empty((), jax.tree.leaves(params)[0].dtype)).dtype
        return ArmijoState(step_size=jnp.array(1.0, dtype), num_trials=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params, *, value, grad, value_fn: Callable, **extra_args):
        del extra_args
        slope = optax.tree.real(optax.tree.vdot(updates, optax.tree.conj(grad)))

        def excess(t, new_value):
            e = new_value - value - t * slope_rtol * slope
            return jnp.maximum(jnp.where(jnp.isnan(e), jnp.inf, e), 0.0)

        def searching(s):
            return ~(s.excess <= 0) & (s.trial <= max_backtracking_steps)

        def trial(s):
            t = jnp.where(s.trial > 0, decrease_factor * s.step_size, s.step_size)
            new_value = value_fn(jax.tree.map(lambda p, u: p + t * u, params, updates))
            new = _Search(step_size=t, value=new_value, excess=excess(t, new_value), trial=s.trial + 1)
            return jax.tree.map(lambda a, b: a.astype(b.dtype), new, s)

        t0 = jnp.minimum(increase_factor * state.step_size, max_learning_rate)
        start = _Search(step_size=t0, value=jnp.asarray(value), excess=jnp.array(jnp.inf), trial=jnp.asarray(0))
        found = jax.lax.while_loop(searching, trial, start)
        t = jnp.where(jnp.isinf(found.excess), 0.0, found.step_size)
        updates = jax.tree.map(lambda u: t * u, updates)
        new = ArmijoState(step_size=t, num_trials=found.trial)
        return updates, jax.tree.map(lambda a, b: a.astype(b.dtype), new, state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-3, 10.0, "log")),
    max_backtracking_steps=check.Hyperparameter(check.COUNT),
    slope_rtol=check.Hyperparameter(check.FRACTION, search=(1e-5, 0.5, "log")),
    decrease_factor=check.Hyperparameter(check.FRACTION, search=(0.2, 0.8, "linear")),
    increase_factor=check.Hyperparameter(check.AT_LEAST_ONE, search=(1.0, 3.0, "linear")),
    max_learning_rate=check.Hyperparameter(check.POSITIVE),
)
def gd_armijo(
    learning_rate: LearningRate = 1.0,
    max_backtracking_steps: jax.typing.ArrayLike = 50,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    decrease_factor: jax.typing.ArrayLike = 0.8,
    increase_factor: jax.typing.ArrayLike = 1.5,
    max_learning_rate: jax.typing.ArrayLike = 1.0,
) -> optax.GradientTransformationExtraArgs:
    """Gradient descent with Armijo backtracking: x <- x - t lr g.

    t is the first of t0, t0 d, t0 d^2, ... (d = decrease_factor) with
    f(x - t lr g) <= f(x) - slope_rtol t lr |g|^2, where
    t0 = min(increase_factor t_prev, max_learning_rate) and t_prev = 1 at the
    start. As in optax's `scale_by_backtracking_linesearch` (with atol = rtol
    = 0): the search starts from the last step grown by `increase_factor`
    rather than from a fixed t0 (Armijo), it gives up after
    max_backtracking_steps + 1 trials and takes the last trial (not 0), and
    takes t = 0 on a non-finite value. `update` needs `value`, `grad` and
    `value_fn`.

    References:
      Armijo, "Minimization of functions having Lipschitz continuous first
      partial derivatives", Pacific J. Math. 16(1), 1966.
      Nocedal & Wright, "Numerical Optimization", 2006, Algorithm 3.1.
    """
    return optax.chain(
        scale_by_learning_rate(learning_rate),
        scale_by_armijo(max_backtracking_steps, slope_rtol, decrease_factor, increase_factor, max_learning_rate),
    )


def evaluations(state, hyperparams=None) -> jax.Array:
    """The evaluations of the update that returned `state`: the value and gradient at x, and one value per trial."""
    del hyperparams
    return 1 + state[1].num_trials


def _twin(learning_rate, max_backtracking_steps, slope_rtol, decrease_factor, increase_factor, max_learning_rate):
    return optax.chain(
        optax.sgd(learning_rate),
        optax.scale_by_backtracking_linesearch(
            max_backtracking_steps=max_backtracking_steps,
            slope_rtol=slope_rtol,
            decrease_factor=decrease_factor,
            increase_factor=increase_factor,
            max_learning_rate=max_learning_rate,
        ),
    )


register(OptimizerSpec.declared(
    gd_armijo,
    name="gd_armijo",
    elementwise=False,  # reduces over all parameters
    twin=_twin,
    twin_call="optax.chain(optax.sgd(lr), optax.scale_by_backtracking_linesearch(...))",
    needs=frozenset({"value", "grad", "value_fn"}),
    evals=evaluations,
    twin_evals=linesearch_evaluations,
    rule="t = first of t0*d^k with f(x - t*lr*g) <= f(x) - c*t*lr*|g|^2; x -= t * lr * g",
    paper="Armijo 1966 (Pacific J. Math. 16)",
    notes="t0 = min(increase_factor * t_prev, max_learning_rate) (optax); takes the last trial when the search fails.",
))
