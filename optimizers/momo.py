"""MoMo: SGD with momentum whose step is capped by a Polyak-type step of a model built from past losses."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate
from optimizers.registry import OptimizerSpec, register

#: Below this |d|^2 the step is 0 (optax's cut-off: float64 machine epsilon).
TINY = float(np.finfo(float).eps)


class MomoState(NamedTuple):
    """The averages d of g, f_bar of f(x) and gamma of <g, x>; the lower bound in use; the count."""

    d: optax.Updates
    f_bar: jax.Array
    gamma: jax.Array
    lower_bound: jax.Array
    count: jax.Array


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-2, 1e2, "log")),
    beta=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    f_min=check.Hyperparameter(check.FINITE),
    weight_decay=check.Hyperparameter(check.NONNEGATIVE, search=(1e-6, 1e-1, "log")),
    adapt_lower_bound=check.Hyperparameter(check.SWITCH, choices=(False, True)),
)
def momo(
    learning_rate: LearningRate = 1.0,
    beta: jax.typing.ArrayLike = 0.9,
    f_min: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    *,
    adapt_lower_bound: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """MoMo (Algorithm 1, with weight decay lam): x <- (x - tau d) / (1 + lr lam).

    With EMAs (weight beta; the first step takes the values themselves)
    d of g, f_bar of f(x_k) and gamma of <g_k, x_k>, and h = f_bar - gamma + <d, x>
    (the momentum model of f at x, minus the lower bound f_min):
      tau = min(lr, max((1 + lr lam) (f_bar - f_min - gamma) + <d, x>, 0) / |d|^2)
    (tau = 0 when |d|^2 <= 2.2e-16). `update` needs `value=f(x)`.
    `adapt_lower_bound` (MoMo*) replaces f_min by an online estimate, never
    below f_min.

    Args:
      learning_rate: the cap on the step (the paper's alpha), or a schedule.
      beta: momentum, in [0, 1).
      f_min: a lower bound on f (the optimal value when known).
      weight_decay: lam, >= 0.
      adapt_lower_bound: estimate the lower bound online (MoMo*).

    References:
      Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: momentum models for
      adaptive learning rates", ICML 2024, arXiv:2305.07583.
    """
    scheduled = callable(learning_rate)

    def init_fn(params):
        dtype = optax.tree.dtype(params, "lowest")
        zero = jnp.zeros([], dtype)
        return MomoState(d=moments.zeros(params), f_bar=zero, gamma=zero, lower_bound=jnp.asarray(f_min, dtype),
                         count=moments.count0())

    def update_fn(updates, state, params=None, *, value, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("momo: update needs params")
        b = jnp.where(state.count == 0, 0.0, beta)
        f_bar = b * state.f_bar + (1 - b) * jnp.asarray(value, state.f_bar.dtype)
        d = jax.tree.map(lambda m, g: b * m + (1 - b) * g, state.d, updates)
        gamma = b * state.gamma + (1 - b) * optax.tree.vdot(updates, params)
        d_sq = optax.tree.norm(d, squared=True)
        d_x = optax.tree.vdot(d, params)
        lr = learning_rate(state.count) if scheduled else learning_rate
        shrink = 1 + lr * weight_decay
        lower = state.lower_bound
        if adapt_lower_bound:
            cap = shrink * (f_bar - gamma) + d_x
            lower = jnp.where(cap < shrink * lower, jnp.maximum(cap / (2 * shrink), f_min), lower)
        polyak = jnp.maximum(shrink * (f_bar - lower - gamma) + d_x, 0.0) / d_sq
        tau = jnp.minimum(lr, jnp.where(d_sq <= TINY, 0.0, polyak))
        decay = -(lr * weight_decay) / shrink
        updates = jax.tree.map(lambda m, p: decay * p - tau * m, d, params)
        if adapt_lower_bound:
            lower = jnp.maximum((f_bar + d_x - gamma) - (1 / 2) * tau * d_sq, f_min)
        return updates, MomoState(
            d=moments.like(d, state.d), f_bar=f_bar.astype(state.f_bar.dtype), gamma=gamma.astype(state.gamma.dtype),
            lower_bound=jnp.asarray(lower, state.lower_bound.dtype), count=moments.increment(state.count),
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


register(OptimizerSpec.declared(
    momo,
    name="momo",
    elementwise=False,  # inner products and a norm over all parameters
    twin=lambda learning_rate, beta, f_min, weight_decay, adapt_lower_bound: optax.contrib.momo(
        learning_rate, beta=beta, lower_bound=f_min, weight_decay=weight_decay, adapt_lower_bound=adapt_lower_bound),
    twin_call="optax.contrib.momo(lr, beta, lower_bound=f_min, ...)",
    needs=frozenset({"value", "f_min"}),
    rule="d, f_bar, gamma: EMAs of g, f, <g, x>; tau = min(lr, max(f_bar - f_min - gamma + <d, x>, 0) / |d|^2); "
         "x -= tau * d",
    paper="Schaipp et al. 2024, arXiv:2305.07583",
    notes="the lower bound is the problem's f* (f_min); the first step takes d = g, f_bar = f (optax).",
))
