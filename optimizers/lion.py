"""Lion: the sign of an interpolated momentum (EvoLved Sign Momentum)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register
from optimizers.weight_decay import add_decayed_weights


class ScaleByLionState(NamedTuple):
    """Step count and momentum."""

    count: jax.Array
    mu: optax.Updates


def scale_by_lion(b1: jax.typing.ArrayLike = 0.9, b2: jax.typing.ArrayLike = 0.99) -> optax.GradientTransformation:
    """u = sign((1 - b1) g + b1 m); m <- (1 - b2) g + b2 m."""

    def init_fn(params):
        return ScaleByLionState(count=moments.count0(), mu=moments.zeros(params))

    def update_fn(updates, state, params=None):
        del params
        direction = jax.tree.map(lambda g, m: jnp.sign((1.0 - b1) * g + b1 * m), updates, state.mu)
        mu = moments.ema(updates, state.mu, b2)
        return direction, ScaleByLionState(count=moments.increment(state.count), mu=moments.like(mu, state.mu))

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-6, 1e-1, "log")),
    b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b2=check.Hyperparameter(check.DECAY, search=(0.9, 0.999, "linear")),
    weight_decay=check.Hyperparameter(check.NONNEGATIVE_OR_SCHEDULE, search=(1e-6, 1e-1, "log")),
)
def lion(
    learning_rate: LearningRate = 1e-4,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.99,
    weight_decay: LearningRate = 1e-3,
) -> optax.GradientTransformation:
    """Lion: x <- x - lr (sign(b1 m + (1 - b1) g) + weight_decay x); m <- b2 m + (1 - b2) g.

    As in the paper (Algorithm 2); the weight decay is multiplied by lr.

    References:
      Chen et al., "Symbolic discovery of optimization algorithms", NeurIPS
      2023, arXiv:2302.06675.
    """
    return optax.chain(scale_by_lion(b1, b2), add_decayed_weights(weight_decay), scale_by_learning_rate(learning_rate))


register(OptimizerSpec.declared(
    lion,
    name="lion",
    elementwise=True,
    twin=optax.lion,
    rule="x -= lr * (sign(b1*m + (1-b1)*g) + weight_decay * x); m = b2*m + (1-b2)*g",
    paper="Chen et al. 2023, arXiv:2302.06675",
))
