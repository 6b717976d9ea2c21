"""Yogi: Adam with an additive, sign-controlled second-moment update."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.adam import ScaleByAdamState
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register


def scale_by_yogi(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-3,
    initial_accumulator_value: jax.typing.ArrayLike = 1e-6,
) -> optax.GradientTransformation:
    """v <- v - (1 - b2) sign(v - g^2) g^2; u = mhat / (sqrt(vhat) + eps)."""

    def init_fn(params):
        start = moments.full(params, initial_accumulator_value)
        return ScaleByAdamState(count=moments.count0(), mu=start, nu=start)

    def update_fn(updates, state, params=None):
        del params
        mu = moments.ema(updates, state.mu, b1)
        nu = jax.tree.map(lambda g, v: v - (1 - b2) * jnp.sign(v - g * g) * (g * g), updates, state.nu)
        count = moments.increment(state.count)
        mu_hat = moments.debias(mu, b1, count)
        nu_hat = moments.debias(nu, b2, count)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count, mu=moments.like(mu, state.mu), nu=moments.like(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log")),
    b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b2=check.Hyperparameter(check.DECAY, search=(0.9, 0.9999, "linear")),
    eps=check.Hyperparameter(check.NONNEGATIVE, search=(1e-6, 1e-2, "log")),
)
def yogi(
    learning_rate: LearningRate = 1e-2,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-3,
) -> optax.GradientTransformation:
    """Yogi: v <- v - (1 - b2) sign(v - g^2) g^2; x <- x - lr mhat / (sqrt(vhat) + eps).

    Follows optax: both moments start at 1e-6 and are bias-corrected like
    Adam's (the paper's Algorithm 2 corrects neither).

    References:
      Zaheer et al., "Adaptive methods for nonconvex optimization", NeurIPS 2018.
    """
    return optax.chain(scale_by_yogi(b1, b2, eps), scale_by_learning_rate(learning_rate))


register(OptimizerSpec.declared(
    yogi,
    name="yogi",
    elementwise=True,
    twin=optax.yogi,
    rule="m = b1*m + (1-b1)*g; v -= (1-b2) * sign(v - g^2) * g^2; x -= lr * mhat / (sqrt(vhat) + eps)",
    paper="Zaheer et al. 2018 (NeurIPS)",
    notes="m and v start at 1e-6 and are bias-corrected (optax).",
))
