"""Adan: adaptive Nesterov momentum from the gradient and its difference between steps."""

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


class ScaleByAdanState(NamedTuple):
    """Step count, the moments of g, of its difference and of the corrected g squared, and the last g."""

    count: jax.Array
    m: optax.Updates
    v: optax.Updates
    n: optax.Updates
    last_grad: optax.Updates


def scale_by_adan(
    b1: jax.typing.ArrayLike = 0.98,
    b2: jax.typing.ArrayLike = 0.92,
    b3: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 1e-8,
) -> optax.GradientTransformation:
    """d = g - g_prev (0 on the first step); m, v, n: EMAs of g, d, (g + (1-b2) d)^2;
    u = (mhat + (1-b2) vhat) / (sqrt(nhat + eps_root) + eps)."""

    def init_fn(params):
        zeros = moments.zeros(params)
        return ScaleByAdanState(count=moments.count0(), m=zeros, v=zeros, n=zeros, last_grad=zeros)

    def update_fn(updates, state, params=None):
        del params
        first = state.count == 0
        diff = jax.tree.map(lambda g, p: jnp.where(first, jnp.zeros_like(g), g - p), updates, state.last_grad)
        m = moments.ema(updates, state.m, b1)
        v = moments.ema(diff, state.v, b2)
        n = moments.ema(jax.tree.map(lambda g, d: g + (1 - b2) * d, updates, diff), state.n, b3, 2)
        count = moments.increment(state.count)
        directions = jax.tree.map(
            lambda mh, vh, nh: (mh + (1 - b2) * vh) / (jnp.sqrt(nh + eps_root) + eps),
            moments.debias(m, b1, count), moments.debias(v, b2, count), moments.debias(n, b3, count),
        )
        return directions, ScaleByAdanState(
            count=count, m=moments.like(m, state.m), v=moments.like(v, state.v), n=moments.like(n, state.n),
            last_grad=updates)

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log")),
    b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b2=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b3=check.Hyperparameter(check.DECAY, search=(0.9, 0.9999, "linear")),
    eps=check.Hyperparameter(check.NONNEGATIVE, search=(1e-10, 1e-4, "log")),
    eps_root=check.Hyperparameter(check.NONNEGATIVE),
    weight_decay=check.Hyperparameter(check.NONNEGATIVE_OR_SCHEDULE, search=(1e-6, 1e-1, "log")),
)
def adan(
    learning_rate: LearningRate = 1e-3,
    b1: jax.typing.ArrayLike = 0.98,
    b2: jax.typing.ArrayLike = 0.92,
    b3: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 1e-8,
    weight_decay: LearningRate = 0.0,
) -> optax.GradientTransformation:
    """Adan: x <- x - lr ((mhat + (1-b2) vhat) / (sqrt(nhat + eps_root) + eps) + weight_decay x).

    Args:
      learning_rate: step size, or a schedule.
      b1, b2, b3: decays of the moments of g, of g - g_prev and of the
        corrected g squared, in [0, 1) (the paper's 1 - beta_i).
      eps, eps_root: added to sqrt(nhat) and inside the root, >= 0.
      weight_decay: decoupled, multiplied by lr, >= 0 or a schedule.

    References:
      Xie et al., "Adan: Adaptive Nesterov momentum algorithm for faster
      optimizing deep models", TPAMI 2024, arXiv:2208.06677.
    """
    return optax.chain(scale_by_adan(b1, b2, b3, eps, eps_root), add_decayed_weights(weight_decay),
                       scale_by_learning_rate(learning_rate))


register(OptimizerSpec.declared(
    adan,
    name="adan",
    elementwise=True,
    twin=optax.adan,
    rule="d = g - g_prev; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*d; n = b3*n + (1-b3)*(g + (1-b2)*d)^2; "
         "x -= lr * ((mhat + (1-b2)*vhat) / (sqrt(nhat + eps_root) + eps) + weight_decay * x)",
    paper="Xie et al. 2024, arXiv:2208.06677",
    notes="optax's form: all three moments bias-corrected; the difference terms weighted by 1 - b2 (0.08; the "
          "paper's 1 - beta2 with its beta2 = 1 - b2 is 0.92); "
          "eps_root 1e-8; weight decay decoupled (u + wd*x) instead of the paper's proximal 1/(1 + lr*wd).",
))
