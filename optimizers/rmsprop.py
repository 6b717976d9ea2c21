"""RMSProp: steps scaled by a running root mean square of the gradients."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register
from optimizers.sgd import scale_by_momentum


class ScaleByRmsState(NamedTuple):
    """Step count (None without bias correction), first moment (None unless centered), second moment."""

    count: jax.Array | None
    mu: optax.Updates
    nu: optax.Updates


def scale_by_rms(
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    *,
    centered: bool = False,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> optax.GradientTransformation:
    """nu <- decay nu + (1 - decay) g^2; u = g / sqrt(nu + eps).

    Args:
      decay: the moments' decay, in [0, 1).
      eps: added to the mean square (or to its root if not `eps_in_sqrt`).
      initial_scale: the second moment's initial value.
      centered: divide by the standard deviation sqrt(nu - mu^2) instead.
      eps_in_sqrt: eps inside the root (optax's default) or outside it.
      bias_correction: divide the moments by 1 - decay^t as Adam does.
    """

    def init_fn(params):
        mu = moments.zeros(params) if centered else None
        count = moments.count0() if bias_correction else None
        return ScaleByRmsState(count=count, mu=mu, nu=moments.full(params, initial_scale))

    def update_fn(updates, state, params=None):
        del params
        mu = moments.ema(updates, state.mu, decay) if centered else None
        nu = moments.ema(updates, state.nu, decay, 2)
        count = moments.increment(state.count) if bias_correction else None
        mu_hat = moments.debias(mu, decay, count) if bias_correction and centered else mu
        nu_hat = moments.debias(nu, decay, count) if bias_correction else nu
        if centered:
            var = jax.tree.map(lambda m, n: n - m * m, mu_hat, nu_hat)
        else:
            var = nu_hat
        if eps_in_sqrt:
            scaling = jax.tree.map(lambda v: jax.lax.rsqrt(v + eps), var)
        else:
            scaling = jax.tree.map(lambda v: 1 / (jnp.sqrt(v) + eps), var)
        updates = jax.tree.map(lambda s, g: s * g, scaling, updates)
        mu = moments.like(mu, state.mu) if centered else None
        return updates, ScaleByRmsState(count=count, mu=mu, nu=moments.like(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log")),
    decay=check.Hyperparameter(check.DECAY, search=(0.5, 0.999, "linear")),
    eps=check.Hyperparameter(check.NONNEGATIVE, search=(1e-10, 1e-4, "log")),
    initial_scale=check.Hyperparameter(check.NONNEGATIVE),
    momentum=check.Hyperparameter(check.OPTIONAL_DECAY, search=(0.0, 0.99, "linear")),
    centered=check.Hyperparameter(check.SWITCH, choices=(False, True)),
    nesterov=check.Hyperparameter(check.SWITCH, choices=(False, True)),
    eps_in_sqrt=check.Hyperparameter(check.SWITCH, choices=(True, False)),
    # not among the tuning choices: with `centered` the first debiased variance
    # is 0, so the first step is g / sqrt(eps) (as in optax).
    bias_correction=check.Hyperparameter(check.SWITCH),
)
def rmsprop(
    learning_rate: LearningRate = 1e-3,
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    momentum: jax.typing.ArrayLike | None = None,
    *,
    centered: bool = False,
    nesterov: bool = False,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> optax.GradientTransformation:
    """RMSProp: nu <- decay nu + (1 - decay) g^2; x <- x - lr g / sqrt(nu + eps).

    With `centered`, divides by sqrt(nu - mu^2 + eps), mu the running mean of g
    (Graves 2013). With `momentum`, the scaled steps go through a heavy-ball
    velocity v <- lr g / sqrt(...) + momentum v (Nesterov's form if `nesterov`).
    As in optax, eps is inside the root by default and nu starts at
    `initial_scale` = 0 (Hinton's lecture gives no eps; PyTorch puts it outside).

    Args:
      learning_rate: step size, or a schedule.
      decay: decay of the moments, in [0, 1).
      eps: added to the mean square, >= 0.
      initial_scale: nu's initial value, >= 0.
      momentum: None (no velocity) or in [0, 1).
      centered: normalize by the standard deviation instead of the RMS.
      nesterov: Nesterov form of the momentum (only with `momentum`).
      eps_in_sqrt: put eps inside the root (default) or outside it.
      bias_correction: Adam-style bias correction of the moments.

    References:
      Tieleman & Hinton, "Lecture 6.5 - RMSProp", COURSERA: Neural Networks for
      Machine Learning, 2012.
      Graves, "Generating sequences with recurrent neural networks",
      arXiv:1308.0850, 2013 (the centered form).
    """
    parts = [
        scale_by_rms(decay, eps, initial_scale, centered=centered, eps_in_sqrt=eps_in_sqrt,
                     bias_correction=bias_correction),
        scale_by_learning_rate(learning_rate),
    ]
    if momentum is not None:
        parts.append(scale_by_momentum(momentum, nesterov=nesterov))
    return optax.chain(*parts)


register(OptimizerSpec.declared(
    rmsprop,
    name="rmsprop",
    elementwise=True,
    twin=optax.rmsprop,
    rule="nu = decay * nu + (1 - decay) * g^2; x -= lr * g / sqrt(nu + eps)",
    paper="Tieleman & Hinton 2012 (Coursera lecture 6.5); centered: Graves 2013, arXiv:1308.0850",
    notes="eps inside the sqrt (eps_in_sqrt=True); nu starts at initial_scale = 0; momentum is applied after lr.",
))
