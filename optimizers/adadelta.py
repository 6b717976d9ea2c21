"""AdaDelta: steps in units of the running RMS of past steps."""

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


class ScaleByAdadeltaState(NamedTuple):
    """Running means of the squared gradients and of the squared steps."""

    e_g: optax.Updates
    e_x: optax.Updates


def scale_by_adadelta(
    rho: jax.typing.ArrayLike = 0.9, eps: jax.typing.ArrayLike = 1e-6
) -> optax.GradientTransformation:
    """E[g^2] <- rho E[g^2] + (1 - rho) g^2; u = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) g; E[dx^2] likewise with u."""

    def init_fn(params):
        return ScaleByAdadeltaState(e_g=moments.zeros(params), e_x=moments.zeros(params))

    def update_fn(updates, state, params=None):
        del params
        e_g = moments.ema(updates, state.e_g, rho, 2)
        updates = jax.tree.map(lambda g, eg, ex: jnp.sqrt(ex + eps) / jnp.sqrt(eg + eps) * g, updates, e_g, state.e_x)
        e_x = moments.ema(updates, state.e_x, rho, 2)
        return updates, moments.like(ScaleByAdadeltaState(e_g=e_g, e_x=e_x), state)

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-3, 10.0, "log")),
    rho=check.Hyperparameter(check.DECAY, search=(0.5, 0.999, "linear")),
    eps=check.Hyperparameter(check.NONNEGATIVE, search=(1e-8, 1e-3, "log")),
    weight_decay=check.Hyperparameter(check.NONNEGATIVE_OR_SCHEDULE),
)
def adadelta(
    learning_rate: LearningRate = 1.0,
    rho: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-6,
    weight_decay: LearningRate = 0.0,
) -> optax.GradientTransformation:
    """AdaDelta: dx = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) g; x <- x - lr dx.

    The paper has no learning rate (lr = 1, our default); optax's defaults to
    None, which skips the scaling and so steps *up* the gradient: pass a
    number to its twin. `weight_decay` adds weight_decay x to g first (L2).

    References:
      Zeiler, "ADADELTA: an adaptive learning rate method", arXiv:1212.5701, 2012.
    """
    return optax.chain(
        add_decayed_weights(weight_decay), scale_by_adadelta(rho, eps), scale_by_learning_rate(learning_rate)
    )


register(OptimizerSpec.declared(
    adadelta,
    name="adadelta",
    elementwise=True,
    twin=optax.adadelta,
    rule="dx = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g; x -= lr * dx",
    paper="Zeiler 2012, arXiv:1212.5701",
    notes="lr = 1 by default (the paper has none; optax's None would ascend).",
))
