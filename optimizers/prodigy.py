"""Prodigy: Adam whose step size d is estimated online from the distance travelled (learning-rate free)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate
from optimizers.registry import OptimizerSpec, register


class ProdigyState(NamedTuple):
    """Adam's moments of d g, the weighted sums s and r of the estimate d = r / |s|_1, x_0, and the count."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    s: optax.Updates
    x0: optax.Params
    d: jax.Array
    r: jax.Array


def scale_by_prodigy(
    learning_rate: LearningRate = 1.0,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    beta3: jax.typing.ArrayLike | None = None,
    eps: jax.typing.ArrayLike = 1e-8,
    d0: jax.typing.ArrayLike = 1e-6,
    d_coef: jax.typing.ArrayLike = 1.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    *,
    safeguard_warmup: bool = False,
) -> optax.GradientTransformation:
    """The whole Prodigy step (it returns -step, the learning rate included: lr only scales d).

    With lam = lr * sqrt(1 - b2^t) / (1 - b1^t) (Adam's bias corrections folded
    into the step) and d the current estimate:
      m <- b1 m + (1 - b1) d g;  v <- b2 v + (1 - b2) (d g)^2
      s <- beta3 s + lam d^2 g / d0;  r <- beta3 r + lam d^2 <g, x_0 - x> / d0
      d <- max(d, d_coef r / |s|_1)
      u = -lam d (m / (sqrt(v) + d eps) + weight_decay x)   (d old in lam d, new in d eps)
    s and r are the paper's sums without its (1 - beta3) factors (they cancel
    in r / |s|_1) and divided by d0, as in the reference code; with
    `safeguard_warmup` s takes d^2 g / d0 (no lam), which keeps a warm-up's
    small lr from inflating d.
    """
    beta3 = b2**0.5 if beta3 is None else beta3
    scheduled = callable(learning_rate)

    def init_fn(params):
        dtype = optax.tree.dtype(params, "lowest")
        zeros = moments.zeros(params)
        return ProdigyState(count=moments.count0(), mu=zeros, nu=zeros, s=zeros, x0=params,
                            d=jnp.asarray(d0, dtype), r=jnp.zeros([], dtype))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("prodigy: update needs params")
        d = state.d
        count = moments.increment(state.count)
        lr = learning_rate(state.count) if scheduled else learning_rate
        step = jnp.asarray(d * lr * ((1 - b2**count) ** 0.5 / (1 - b1**count)), d.dtype)  # lam d
        dg = jax.tree.map(lambda g: d * g, updates)
        progress = optax.tree.vdot(updates, jax.tree.map(lambda p0, p: p0 - p, state.x0, params))
        mu = jax.tree.map(lambda m, u: b1 * m + (1 - b1) * u, state.mu, dg)
        nu = jax.tree.map(lambda v, u: b2 * v + (1 - b2) * u * u, state.nu, dg)
        weight = d if safeguard_warmup else step
        s = jax.tree.map(lambda s, u: beta3 * s + weight * u / d0, state.s, dg)
        r = beta3 * state.r + (d / d0) * step * progress
        d_new = jnp.maximum(d, d_coef * r / optax.tree.sum(jax.tree.map(jnp.abs, s)))
        eps_d = d_new * eps

        def one(m, v, p):
            u = -step * m / (jnp.sqrt(v) + eps_d)
            return u if is_literal_zero(weight_decay) else -weight_decay * step * p + u

        updates = jax.tree.map(one, mu, nu, params)
        return updates, ProdigyState(
            count=count, mu=moments.like(mu, state.mu), nu=moments.like(nu, state.nu), s=moments.like(s, state.s),
            x0=state.x0, d=d_new.astype(d.dtype), r=r.astype(state.r.dtype),
        )

    return optax.GradientTransformation(init_fn, update_fn)


def is_literal_zero(value) -> bool:
    """A literal 0: its term is skipped (adding -0 x changes nothing)."""
    return isinstance(value, (int, float)) and value == 0.0


#: The learning rate of a learning-rate-free method (a multiplier of its own step): 1 by design, searched near 1.
LEARNING_RATE_FREE = check.Hyperparameter(check.STEP_SIZE, search=(0.1, 10.0, "log"))
D0 = check.Hyperparameter(check.POSITIVE, search=(1e-8, 1e-4, "log"))


@check.hyperparameters(
    learning_rate=LEARNING_RATE_FREE,
    b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b2=check.Hyperparameter(check.DECAY, search=(0.9, 0.9999, "linear")),
    beta3=check.Hyperparameter(check.OPTIONAL_DECAY, search=(0.9, 0.9999, "linear")),
    eps=check.Hyperparameter(check.NONNEGATIVE),
    d0=D0,
    d_coef=check.Hyperparameter(check.POSITIVE, search=(0.1, 10.0, "log")),
    weight_decay=check.Hyperparameter(check.NONNEGATIVE, search=(1e-6, 1e-1, "log")),
    safeguard_warmup=check.Hyperparameter(check.SWITCH, choices=(False, True)),
)
def prodigy(
    learning_rate: LearningRate = 1.0,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    beta3: jax.typing.ArrayLike | None = None,
    eps: jax.typing.ArrayLike = 1e-8,
    d0: jax.typing.ArrayLike = 1e-6,
    d_coef: jax.typing.ArrayLike = 1.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    *,
    safeguard_warmup: bool = False,
) -> optax.GradientTransformation:
    """Prodigy: AdamW with step lr * d, d an online lower bound on the distance |x_0 - x*|.

    Args:
      learning_rate: a multiplier of the estimated step, 1 by design (or a
        schedule of it, e.g. a warm-up and decay from 1).
      b1, b2: Adam's decays, in [0, 1).
      beta3: decay of the estimate's sums; None: sqrt(b2).
      eps: Adam's eps, scaled by d.
      d0: the initial estimate of d, > 0 (an under-estimate).
      d_coef: multiplies each new estimate of d.
      weight_decay: decoupled weight decay, multiplied by the step.
      safeguard_warmup: leave lr out of the sum s (for warm-up schedules).

    References:
      Mishchenko & Defazio, "Prodigy: an expeditiously adaptive parameter-free
      learner", ICML 2024, arXiv:2306.06101.
    """
    return scale_by_prodigy(learning_rate, b1, b2, beta3, eps, d0, d_coef, weight_decay,
                            safeguard_warmup=safeguard_warmup)


def _twin(learning_rate, b1, b2, beta3, eps, d0, d_coef, weight_decay, safeguard_warmup):
    return optax.contrib.prodigy(learning_rate, betas=(b1, b2), beta3=beta3, eps=eps, estim_lr0=d0,
                                 estim_lr_coef=d_coef, weight_decay=weight_decay, safeguard_warmup=safeguard_warmup)


register(OptimizerSpec.declared(
    prodigy,
    name="prodigy",
    elementwise=False,  # d comes from an inner product and a norm over all parameters
    twin=_twin,
    twin_call="optax.contrib.prodigy(lr, betas=(b1, b2), estim_lr0=d0, estim_lr_coef=d_coef, ...)",
    rule="d = max(d, d_coef * r / |s|_1) (r, s: weighted sums of lam*d^2*<g, x0-x>, lam*d^2*g); "
         "x -= lam*d * m / (sqrt(v) + d*eps), m, v: Adam's moments of d*g",
    paper="Mishchenko & Defazio 2024, arXiv:2306.06101",
    notes="lr = 1 by design (a multiplier of d); sums without (1 - beta3) factors, divided by d0; "
          "eps scaled by the new d (reference code).",
))
