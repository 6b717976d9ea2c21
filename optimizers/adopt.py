"""ADOPT: Adam with the gradient normalised by the previous second moment, then averaged."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register


class ScaleByAdoptState(NamedTuple):
    """Step count, the momentum of normalised gradients and the second moment."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def scale_by_adopt(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.9999,
    eps: jax.typing.ArrayLike = 1e-6,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
) -> optax.GradientTransformation:
    """r = clip(g / max(sqrt(v_prev), eps), t^(1/4)); m <- b1 m + (1 - b1) r; v <- b2 v + (1 - b2) g^2; u = m.

    The first step only initialises v = g^2 (its update is zero): v_prev of a
    step never holds that step's gradient, which is the paper's point.
    """

    def init_fn(params):
        return ScaleByAdoptState(count=moments.count0(), mu=moments.zeros(params), nu=moments.zeros(params))

    def update_fn(updates, state, params=None):
        del params
        started = state.count > 0
        b1_t = jnp.where(started, b1, 1)  # first step: m stays 0
        b2_t = jnp.where(started, b2, 0)  # first step: v = g^2
        limit = state.count**0.25

        def normalised(g, v):
            r = g / jnp.maximum(jnp.sqrt(v), eps)
            return jnp.clip(r, -limit, limit) if use_clipping else r

        ratios = jax.tree.map(normalised, updates, state.nu)
        mu = moments.ema(ratios, state.mu, b1_t)
        nu = moments.ema(updates, state.nu, b2_t, 2)
        direction = moments.ema(ratios, mu, b1_t) if nesterov else mu
        count = moments.increment(state.count)
        return direction, ScaleByAdoptState(count=count, mu=moments.like(mu, state.mu), nu=moments.like(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


SWITCH = check.Hyperparameter(check.SWITCH, choices=(False, True))


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log")),
    b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b2=check.Hyperparameter(check.DECAY, search=(0.9, 0.9999, "linear")),
    eps=check.Hyperparameter(check.POSITIVE, search=(1e-10, 1e-4, "log")),
    nesterov=SWITCH,
    use_clipping=SWITCH,
)
def adopt(
    learning_rate: LearningRate = 1e-3,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.9999,
    eps: jax.typing.ArrayLike = 1e-6,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
) -> optax.GradientTransformation:
    """ADOPT: x <- x - lr m, m averaging g / max(sqrt(v_prev), eps) clipped to t^(1/4).

    Args:
      learning_rate: step size, or a schedule.
      b1, b2: decays of the momentum and of the second moment, in [0, 1).
      eps: floor of sqrt(v), > 0.
      nesterov: step along b1 m + (1 - b1) r instead of m.
      use_clipping: clip the normalised gradient to [-t^(1/4), t^(1/4)]
        (the paper's stabilisation; t the step count from 0).

    References:
      Taniguchi et al., "ADOPT: Modified Adam can converge with any beta2 with
      the optimal rate", NeurIPS 2024, arXiv:2411.02853.
    """
    return optax.chain(scale_by_adopt(b1, b2, eps, nesterov=nesterov, use_clipping=use_clipping),
                       scale_by_learning_rate(learning_rate))


register(OptimizerSpec.declared(
    adopt,
    name="adopt",
    elementwise=True,
    twin=optax.contrib.adopt,
    twin_call="optax.contrib.adopt",
    rule="r = clip(g / max(sqrt(v), eps), t^0.25); m = b1*m + (1-b1)*r; v = b2*v + (1-b2)*g^2; x -= lr * m",
    paper="Taniguchi et al. 2024, arXiv:2411.02853",
    notes="step 0 only sets v = g^2 (zero update); clipping bound t^0.25 with t counted from 0 (optax's default).",
))
