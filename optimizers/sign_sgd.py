"""signSGD: steps along the sign of the gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register


def scale_by_sign() -> optax.GradientTransformation:
    """u = sign(g)."""

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(jnp.sign, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


@check.hyperparameters(learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-6, 1e-1, "log")))
def sign_sgd(learning_rate: LearningRate = 1e-3) -> optax.GradientTransformation:
    """signSGD: x <- x - lr sign(g).

    References:
      Bernstein et al., "signSGD: compressed optimisation for non-convex
      problems", ICML 2018, arXiv:1802.04434.
    """
    return optax.chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


register(OptimizerSpec.declared(
    sign_sgd,
    name="sign_sgd",
    elementwise=True,
    twin=optax.sign_sgd,
    rule="x -= lr * sign(g)",
    paper="Bernstein et al. 2018, arXiv:1802.04434",
))
