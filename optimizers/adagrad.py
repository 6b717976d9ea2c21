"""AdaGrad: steps scaled by the root of the sum of squared gradients."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register


class ScaleByAdagradState(NamedTuple):
    """The running sum of squared gradients."""

    sum_of_squares: optax.Updates


def scale_by_adagrad(
    initial_accumulator_value: jax.typing.ArrayLike = 0.1, eps: jax.typing.ArrayLike = 1e-7
) -> optax.GradientTransformation:
    """s <- s + g^2; u = g / sqrt(s + eps) (0 where s = 0)."""

    def init_fn(params):
        return ScaleByAdagradState(sum_of_squares=moments.full(params, initial_accumulator_value))

    def update_fn(updates, state, params=None):
        del params
        s = jax.tree.map(lambda g, t: g * g + t, updates, state.sum_of_squares)
        inv = jax.tree.map(lambda t: jnp.where(t > 0, jax.lax.rsqrt(t + eps), 0.0), s)
        updates = jax.tree.map(lambda r, g: r * g, inv, updates)
        return updates, ScaleByAdagradState(sum_of_squares=moments.like(s, state.sum_of_squares))

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-4, 10.0, "log")),
    initial_accumulator_value=check.Hyperparameter(check.NONNEGATIVE, search=(1e-3, 1.0, "log")),
    eps=check.Hyperparameter(check.NONNEGATIVE, search=(1e-10, 1e-4, "log")),
)
def adagrad(
    learning_rate: LearningRate = 0.1,
    initial_accumulator_value: jax.typing.ArrayLike = 0.1,
    eps: jax.typing.ArrayLike = 1e-7,
) -> optax.GradientTransformation:
    """AdaGrad (diagonal): s <- s + g^2; x <- x - lr g / sqrt(s + eps).

    Differs from the paper as optax does: eps inside the square root (the paper
    adds delta outside it) and the sum starts at `initial_accumulator_value`
    (TensorFlow's convention) rather than 0.

    References:
      Duchi, Hazan, Singer, "Adaptive subgradient methods for online learning
      and stochastic optimization", JMLR 12, 2011.
    """
    return optax.chain(scale_by_adagrad(initial_accumulator_value, eps), scale_by_learning_rate(learning_rate))


register(OptimizerSpec.declared(
    adagrad,
    name="adagrad",
    elementwise=True,
    twin=optax.adagrad,
    rule="s += g^2; x -= lr * g / sqrt(s + eps)",
    paper="Duchi, Hazan & Singer 2011 (JMLR 12)",
    notes="eps inside the sqrt; s starts at initial_accumulator_value = 0.1 (optax, TensorFlow), not 0.",
))
