"""AdEMAMix: Adam's step plus a slow, undebiased momentum weighted by alpha."""

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


class ScaleByAdemamixState(NamedTuple):
    """Step count, the fast and slow first moments and the second moment."""

    count: jax.Array
    m1: optax.Updates
    m2: optax.Updates
    nu: optax.Updates


def scale_by_ademamix(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    b3: jax.typing.ArrayLike = 0.9999,
    alpha: jax.typing.ArrayLike = 5.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
) -> optax.GradientTransformation:
    """m1, m2, v: EMAs of g (b1, b3) and g^2 (b2); u = (m1hat + alpha m2) / (sqrt(vhat + eps_root) + eps)."""

    def init_fn(params):
        zeros = moments.zeros(params)
        return ScaleByAdemamixState(count=moments.count0(), m1=zeros, m2=zeros, nu=zeros)

    def update_fn(updates, state, params=None):
        del params
        m1 = moments.ema(updates, state.m1, b1)
        m2 = moments.ema(updates, state.m2, b3)
        nu = moments.ema(updates, state.nu, b2, 2)
        count = moments.increment(state.count)
        directions = jax.tree.map(
            lambda fast, slow, v: (fast + alpha * slow) / (jnp.sqrt(v + eps_root) + eps),
            moments.debias(m1, b1, count), m2, moments.debias(nu, b2, count),
        )
        return directions, ScaleByAdemamixState(
            count=count, m1=moments.like(m1, state.m1), m2=moments.like(m2, state.m2), nu=moments.like(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log")),
    b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b2=check.Hyperparameter(check.DECAY, search=(0.9, 0.9999, "linear")),
    b3=check.Hyperparameter(check.DECAY, search=(0.99, 0.9999, "linear")),
    alpha=check.Hyperparameter(check.NONNEGATIVE, search=(1.0, 10.0, "linear")),
    eps=check.Hyperparameter(check.NONNEGATIVE, search=(1e-10, 1e-4, "log")),
    eps_root=check.Hyperparameter(check.NONNEGATIVE),
    weight_decay=check.Hyperparameter(check.NONNEGATIVE_OR_SCHEDULE, search=(1e-6, 1e-1, "log")),
)
def ademamix(
    learning_rate: LearningRate = 1e-3,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    b3: jax.typing.ArrayLike = 0.9999,
    alpha: jax.typing.ArrayLike = 5.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: LearningRate = 0.0,
) -> optax.GradientTransformation:
    """AdEMAMix: x <- x - lr ((m1hat + alpha m2) / (sqrt(vhat + eps_root) + eps) + weight_decay x).

    Args:
      learning_rate: step size, or a schedule.
      b1, b2: Adam's decays, in [0, 1); b3: the slow momentum's decay.
      alpha: the slow momentum's weight, >= 0 (alpha = 0 is AdamW).
      eps, eps_root: added to sqrt(vhat) and inside the root, >= 0.
      weight_decay: decoupled, multiplied by lr, >= 0 or a schedule.

    References:
      Pagliardini, Ablin & Grangier, "The AdEMAMix optimizer: better, faster,
      older", ICLR 2025, arXiv:2409.03137.
    """
    return optax.chain(scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root), add_decayed_weights(weight_decay),
                       scale_by_learning_rate(learning_rate))


register(OptimizerSpec.declared(
    ademamix,
    name="ademamix",
    elementwise=True,
    twin=optax.contrib.ademamix,
    twin_call="optax.contrib.ademamix",
    rule="m1 = b1*m1 + (1-b1)*g; m2 = b3*m2 + (1-b3)*g; v = b2*v + (1-b2)*g^2; "
         "x -= lr * ((m1hat + alpha*m2) / (sqrt(vhat + eps_root) + eps) + weight_decay * x)",
    paper="Pagliardini et al. 2025, arXiv:2409.03137",
    notes="m2 is not bias-corrected (as in the paper); alpha and b3 are constants: the paper's warm-up "
          "schedules for them (over T_alpha,b3 steps) are not applied.",
))
