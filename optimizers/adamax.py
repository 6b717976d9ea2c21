"""AdaMax: Adam with the infinity norm in place of the second moment."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register


class ScaleByAdamaxState(NamedTuple):
    """Step count, first moment and the exponentially weighted infinity norm."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def scale_by_adamax(
    b1: jax.typing.ArrayLike = 0.9, b2: jax.typing.ArrayLike = 0.999, eps: jax.typing.ArrayLike = 1e-8
) -> optax.GradientTransformation:
    """m <- b1 m + (1 - b1) g; u <- max(|g| + eps, b2 u); step mhat / u."""

    def init_fn(params):
        return ScaleByAdamaxState(count=moments.count0(), mu=moments.zeros(params), nu=moments.zeros(params))

    def update_fn(updates, state, params=None):
        del params
        count = moments.increment(state.count)
        mu = moments.ema(updates, state.mu, b1)
        nu = jax.tree.map(lambda g, n: jnp.maximum(jnp.abs(g) + eps, b2 * n), updates, state.nu)
        mu_hat = moments.debias(mu, b1, count)
        updates = jax.tree.map(lambda m, n: m / n, mu_hat, nu)
        return updates, ScaleByAdamaxState(count=count, mu=moments.like(mu, state.mu), nu=moments.like(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log")),
    b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b2=check.Hyperparameter(check.DECAY, search=(0.9, 0.9999, "linear")),
    eps=check.Hyperparameter(check.NONNEGATIVE),
)
def adamax(
    learning_rate: LearningRate = 1e-3,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
) -> optax.GradientTransformation:
    """AdaMax: u <- max(b2 u, |g| + eps); x <- x - lr mhat / u.

    The paper has no eps; optax adds it to |g| inside the max (so u > 0).

    References:
      Kingma & Ba, "Adam: A method for stochastic optimization", ICLR 2015,
      arXiv:1412.6980, section 7.1.
    """
    return optax.chain(scale_by_adamax(b1, b2, eps), scale_by_learning_rate(learning_rate))


register(OptimizerSpec.declared(
    adamax,
    name="adamax",
    elementwise=True,
    twin=optax.adamax,
    rule="m = b1*m + (1-b1)*g; u = max(b2*u, |g| + eps); x -= lr * mhat / u",
    paper="Kingma & Ba 2015, arXiv:1412.6980 (section 7.1)",
    notes="eps added to |g| inside the max (the paper has none).",
))
