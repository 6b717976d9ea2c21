"""D-Adaptation for AdamW: the step size d estimated online as a lower bound on |x_0 - x*| (learning-rate free)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate
from optimizers.prodigy import D0, LEARNING_RATE_FREE, is_literal_zero
from optimizers.registry import OptimizerSpec, register


class DAdaptAdamWState(NamedTuple):
    """Adam's moments (m of lam d g), the weighted sums s and r of the estimate d, and the count."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    s: optax.Updates
    d: jax.Array
    r: jax.Array


@check.hyperparameters(
    learning_rate=LEARNING_RATE_FREE,
    b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b2=check.Hyperparameter(check.DECAY, search=(0.9, 0.9999, "linear")),
    eps=check.Hyperparameter(check.NONNEGATIVE),
    d0=D0,
    weight_decay=check.Hyperparameter(check.NONNEGATIVE, search=(1e-6, 1e-1, "log")),
)
def dadapt_adamw(
    learning_rate: LearningRate = 1.0,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    d0: jax.typing.ArrayLike = 1e-6,
    weight_decay: jax.typing.ArrayLike = 0.0,
) -> optax.GradientTransformation:
    """D-Adapted AdamW: Adam with step lam d, d <- max(d, r / |s|_1).

    With lam = lr * sqrt(1 - b2^t) / (1 - b1^t), sb2 = sqrt(b2) and v, s
    before this step's update:
      r <- sb2 r + (1 - sb2) lam d <g, s / (sqrt(v) + eps)>
      m <- b1 m + (1 - b1) lam d g;  v <- b2 v + (1 - b2) g^2;  s <- sb2 s + (1 - sb2) lam d g
      d <- max(d, r / ((1 - sb2) |s|_1))
      u = -(m / (sqrt(v) + eps) + weight_decay lam d x)
    The update returned is the whole step (lr only scales d).

    Args:
      learning_rate: a multiplier of the estimated step, 1 by design (or a
        schedule of it).
      b1, b2: Adam's decays, in [0, 1).
      eps: Adam's eps.
      d0: the initial estimate of d, > 0 (an under-estimate).
      weight_decay: decoupled weight decay, multiplied by the step lam d.

    References:
      Defazio & Mishchenko, "Learning-rate-free learning by D-Adaptation",
      ICML 2023, arXiv:2301.07733 (Algorithm 4, Adam).
    """
    scheduled = callable(learning_rate)

    def init_fn(params):
        dtype = optax.tree.dtype(params, "lowest")
        zeros = moments.zeros(params)
        return DAdaptAdamWState(count=moments.count0(), mu=zeros, nu=zeros, s=zeros,
                                d=jnp.asarray(d0, dtype), r=jnp.zeros([], dtype))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("dadapt_adamw: update needs params")
        sb2 = b2**0.5
        count = moments.increment(state.count)
        lr = learning_rate(state.count) if scheduled else learning_rate
        step = (state.d * lr * ((1 - b2**count) ** 0.5 / (1 - b1**count))).astype(state.r.dtype)  # lam d
        progress = optax.tree.vdot(updates, jax.tree.map(lambda s, v: s / (jnp.sqrt(v) + eps), state.s, state.nu))
        mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * step * g, state.mu, updates)
        nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, updates)
        s = jax.tree.map(lambda s, g: sb2 * s + (1 - sb2) * step * g, state.s, updates)
        r = sb2 * state.r + (1 - sb2) * step * progress
        d = jnp.maximum(state.d, r / ((1 - sb2) * optax.tree.sum(jax.tree.map(jnp.abs, s))))

        def one(m, v, p):
            u = -m / (jnp.sqrt(v) + eps)
            return u if is_literal_zero(weight_decay) else -weight_decay * step * p + u

        updates = jax.tree.map(one, mu, nu, params)
        return updates, DAdaptAdamWState(
            count=count, mu=moments.like(mu, state.mu), nu=moments.like(nu, state.nu), s=moments.like(s, state.s),
            d=d.astype(state.d.dtype), r=r.astype(state.r.dtype),
        )

    return optax.GradientTransformation(init_fn, update_fn)


register(OptimizerSpec.declared(
    dadapt_adamw,
    name="dadapt_adamw",
    elementwise=False,  # d comes from an inner product and a norm over all parameters
    twin=lambda learning_rate, b1, b2, eps, d0, weight_decay: optax.contrib.dadapt_adamw(
        learning_rate, betas=(b1, b2), eps=eps, estim_lr0=d0, weight_decay=weight_decay),
    twin_call="optax.contrib.dadapt_adamw(lr, betas=(b1, b2), estim_lr0=d0, ...)",
    rule="d = max(d, r / ((1-sqrt(b2)) * |s|_1)) (r, s: EMAs of lam*d*<g, s/(sqrt(v)+eps)>, lam*d*g); "
         "x -= m / (sqrt(v) + eps), m: EMA of lam*d*g",
    paper="Defazio & Mishchenko 2023, arXiv:2301.07733",
    notes="lr = 1 by design (a multiplier of d); Adam's bias corrections folded into the step lam*d.",
))
