"""Gradient descent: plain, heavy-ball momentum and Nesterov momentum."""

from __future__ import annotations

from typing import NamedTuple

import jax
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register


class MomentumState(NamedTuple):
    """The velocity (trace of past directions)."""

    trace: optax.Updates


def scale_by_momentum(
    momentum: jax.typing.ArrayLike = 0.9, *, nesterov: bool = False
) -> optax.GradientTransformation:
    """Accumulates a velocity: v <- g + momentum * v; returns v (or g + momentum * v).

    Args:
      momentum: the velocity's decay, in [0, 1).
      nesterov: return the look-ahead direction g + momentum * v (Sutskever et al.
        2013 in optax's form) instead of v.
    """

    def init_fn(params):
        return MomentumState(trace=moments.zeros(params))

    def update_fn(updates, state, params=None):
        del params
        trace = jax.tree.map(lambda g, v: g + momentum * v, updates, state.trace)
        if nesterov:
            updates = jax.tree.map(lambda g, v: g + momentum * v, updates, trace)
        else:
            updates = trace
        return updates, MomentumState(trace=moments.like(trace, state.trace))

    return optax.GradientTransformation(init_fn, update_fn)


LEARNING_RATE = check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log"))
MOMENTUM = check.Hyperparameter(check.DECAY, search=(0.0, 0.99, "linear"))


@check.hyperparameters(learning_rate=LEARNING_RATE)
def gd(learning_rate: LearningRate = 1e-3) -> optax.GradientTransformation:
    """Gradient descent: x <- x - lr g.

    References:
      Cauchy, "Methode generale pour la resolution des systemes d'equations
      simultanees", 1847.
    """
    return scale_by_learning_rate(learning_rate)


@check.hyperparameters(
    learning_rate=LEARNING_RATE, momentum=MOMENTUM, nesterov=check.Hyperparameter(check.SWITCH, choices=(False, True))
)
def momentum(
    learning_rate: LearningRate = 1e-3,
    momentum: jax.typing.ArrayLike = 0.9,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """Heavy-ball momentum: v <- g + momentum v; x <- x - lr v.

    Polyak writes x <- x - a g + b (x - x_prev); with a = lr, b = momentum this is
    the same iteration. `nesterov=True` steps along g + momentum v instead.

    References:
      Polyak, "Some methods of speeding up the convergence of iteration methods",
      USSR Comput. Math. and Math. Phys. 4(5), 1964.
    """
    return optax.chain(scale_by_momentum(momentum, nesterov=nesterov), scale_by_learning_rate(learning_rate))


@check.hyperparameters(learning_rate=LEARNING_RATE, momentum=MOMENTUM)
def nesterov(learning_rate: LearningRate = 1e-3, momentum: jax.typing.ArrayLike = 0.9) -> optax.GradientTransformation:
    """Nesterov momentum: v <- g + momentum v; x <- x - lr (g + momentum v).

    This is the reformulation of Sutskever et al. (2013) used by optax and
    PyTorch: the gradient is taken at x, not at the look-ahead point
    x + momentum v of Nesterov's original scheme; the iterates are the
    look-ahead points of the original.

    References:
      Nesterov, "A method of solving a convex programming problem with
      convergence rate O(1/k^2)", Soviet Math. Dokl. 27, 1983.
      Sutskever et al., "On the importance of initialization and momentum in
      deep learning", ICML 2013.
    """
    return optax.chain(scale_by_momentum(momentum, nesterov=True), scale_by_learning_rate(learning_rate))


register(OptimizerSpec.declared(
    gd,
    name="gd",
    elementwise=True,
    twin=optax.sgd,
    twin_call="optax.sgd(lr)",
    rule="x -= lr * g",
    paper="Cauchy 1847",
))
register(OptimizerSpec.declared(
    momentum,
    name="momentum",
    elementwise=True,
    twin=lambda learning_rate, momentum, nesterov: optax.sgd(learning_rate, momentum, nesterov=nesterov),
    twin_call="optax.sgd(lr, momentum, nesterov=nesterov)",
    rule="v = momentum * v + g; x -= lr * v",
    paper="Polyak 1964",
))
register(OptimizerSpec.declared(
    nesterov,
    name="nesterov",
    elementwise=True,
    twin=lambda learning_rate, momentum: optax.sgd(learning_rate, momentum, nesterov=True),
    twin_call="optax.sgd(lr, momentum, nesterov=True)",
    rule="v = momentum * v + g; x -= lr * (g + momentum * v)",
    paper="Nesterov 1983; Sutskever et al. 2013",
    notes="Sutskever's form (gradient at x, as optax and PyTorch), not Nesterov's look-ahead gradient.",
))
