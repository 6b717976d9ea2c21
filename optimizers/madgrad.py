"""MADGRAD: dual averaging with a cube-root AdaGrad scaling and momentum by iterate averaging."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate
from optimizers.registry import OptimizerSpec, register
from optimizers.weight_decay import add_decayed_weights


class ScaleByMadgradState(NamedTuple):
    """Step count, the weighted sums of g^2 and of g, and the starting point x0."""

    count: jax.Array
    grad_sum_sq: optax.Updates
    grad_sum: optax.Updates
    x0: optax.Params


def scale_by_madgrad(
    learning_rate: LearningRate = 1e-2,
    momentum: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-6,
) -> optax.GradientTransformation:
    """lam = (lr + eps) sqrt(k + 1); s += lam g; v += lam g^2; z = x0 - s / (cbrt(v) + eps);
    the update moves x to momentum x + (1 - momentum) z. Needs params."""

    def init_fn(params):
        return ScaleByMadgradState(count=moments.count0(), grad_sum_sq=moments.zeros(params),
                                   grad_sum=moments.zeros(params), x0=params)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("madgrad: update needs params")
        lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
        weight = (lr + eps) * jnp.sqrt(state.count + 1)
        sum_sq = jax.tree.map(lambda v, g: v + (weight * g**2).astype(v.dtype), state.grad_sum_sq, updates)
        sums = jax.tree.map(lambda s, g: s + (weight * g).astype(s.dtype), state.grad_sum, updates)

        def move(x0, s, v, x):
            z = x0 - s / (jnp.cbrt(v) + eps)
            return (1 - momentum) * z + momentum * x - x

        moves = jax.tree.map(move, state.x0, sums, sum_sq, params)
        return moves, ScaleByMadgradState(count=moments.increment(state.count), grad_sum_sq=sum_sq,
                                          grad_sum=sums, x0=state.x0)

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log")),
    momentum=check.Hyperparameter(check.DECAY, search=(0.0, 0.99, "linear")),
    weight_decay=check.Hyperparameter(check.NONNEGATIVE_OR_SCHEDULE, search=(1e-6, 1e-1, "log")),
    eps=check.Hyperparameter(check.POSITIVE, search=(1e-8, 1e-4, "log")),
)
def madgrad(
    learning_rate: LearningRate = 1e-2,
    momentum: jax.typing.ArrayLike = 0.9,
    weight_decay: LearningRate = 0.0,
    eps: jax.typing.ArrayLike = 1e-6,
) -> optax.GradientTransformation:
    """MADGRAD: z = x0 - sum(lam g) / (cbrt(sum(lam g^2)) + eps); x <- momentum x + (1 - momentum) z.

    Args:
      learning_rate: step size, or a schedule (inside the dual averaging's
        weights lam_k = (lr_k + eps) sqrt(k + 1)).
      momentum: the weight of the current iterate in the average, in [0, 1).
      weight_decay: added to the gradient (coupled, as in the paper's code),
        >= 0 or a schedule.
      eps: added to the learning rate and to the cube root, > 0.

    References:
      Defazio & Jelassi, "Adaptivity without compromise: a momentumized,
      adaptive, dual averaged gradient method for stochastic optimization",
      JMLR 2022, arXiv:2101.11075.
    """
    return optax.chain(add_decayed_weights(weight_decay), scale_by_madgrad(learning_rate, momentum, eps))


register(OptimizerSpec.declared(
    madgrad,
    name="madgrad",
    elementwise=True,
    twin=optax.contrib.madgrad,
    twin_call="optax.contrib.madgrad",
    rule="lam = (lr+eps)*sqrt(k+1); s += lam*g; v += lam*g^2; z = x0 - s / (cbrt(v) + eps); "
         "x = momentum*x + (1-momentum)*z",
    paper="Defazio & Jelassi 2022, arXiv:2101.11075",
    notes="lr + eps in the weights (the authors' code), float32 from a Python float lr as in optax; weight decay "
          "added to g (coupled); the state keeps x0 (one more copy of the parameters).",
))
