"""AMSGrad: Adam with a non-decreasing second moment."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.adam import ADAM_HYPERPARAMETERS
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register


class ScaleByAmsgradState(NamedTuple):
    """Step count, moments and the running maximum of the second moment."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    nu_max: optax.Updates


def scale_by_amsgrad(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
) -> optax.GradientTransformation:
    """vmax <- max(vmax, vhat); u = mhat / (sqrt(vmax + eps_root) + eps)."""

    def init_fn(params):
        zeros = moments.zeros(params)
        return ScaleByAmsgradState(count=moments.count0(), mu=zeros, nu=zeros, nu_max=zeros)

    def update_fn(updates, state, params=None):
        del params
        mu = moments.ema(updates, state.mu, b1)
        nu = moments.ema(updates, state.nu, b2, 2)
        count = moments.increment(state.count)
        mu_hat = moments.debias(mu, b1, count)
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, moments.debias(nu, b2, count))
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_max)
        new = ScaleByAmsgradState(count=count, mu=mu, nu=nu, nu_max=nu_max)
        return updates, moments.like(new, state)

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(**ADAM_HYPERPARAMETERS)
def amsgrad(
    learning_rate: LearningRate = 1e-3,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
) -> optax.GradientTransformation:
    """AMSGrad: vmax <- max(vmax, vhat); x <- x - lr mhat / (sqrt(vmax + eps_root) + eps).

    Follows optax: the maximum is taken over the bias-corrected vhat and the
    first moment is bias-corrected; the paper uses neither correction and has
    no eps.

    References:
      Reddi, Kale, Kumar, "On the convergence of Adam and beyond", ICLR 2018,
      arXiv:1904.09237.
    """
    return optax.chain(scale_by_amsgrad(b1, b2, eps, eps_root), scale_by_learning_rate(learning_rate))


register(OptimizerSpec.declared(
    amsgrad,
    name="amsgrad",
    elementwise=True,
    twin=optax.amsgrad,
    rule="adam moments; vmax = max(vmax, vhat); x -= lr * mhat / (sqrt(vmax + eps_root) + eps)",
    paper="Reddi, Kale & Kumar 2018, arXiv:1904.09237",
    notes="max over the bias-corrected vhat, mhat bias-corrected (optax); the paper corrects neither.",
))
