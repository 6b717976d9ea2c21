"""COCOB-Backprop: each coordinate bets a fraction of its winnings on the sign of the negative gradient."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.prodigy import LEARNING_RATE_FREE
from optimizers.registry import OptimizerSpec, register
from optimizers.weight_decay import add_decayed_weights


class ScaleByCocobState(NamedTuple):
    """x_0, the negated gradient sum theta, the largest |g| seen L, the sum of |g| G, and the reward R."""

    x0: optax.Params
    theta: optax.Updates
    scale: optax.Updates
    abs_sum: optax.Updates
    reward: optax.Updates


def scale_by_cocob(alpha: jax.typing.ArrayLike = 100.0, eps: jax.typing.ArrayLike = 1e-8) -> optax.GradientTransformation:
    """The COCOB-Backprop step (Algorithm 2); returns x_new - x.

    Per coordinate, with L <- max(L, |g|), G <- G + |g|, R <- max(R - g (x - x_0), 0),
    theta <- theta - g: x_new = x_0 + theta / (L max(G + L, alpha L)) (L + R).
    L starts at eps (the paper's L_0), so that the first bet is defined.
    """

    def init_fn(params):
        zeros = moments.zeros(params)
        return ScaleByCocobState(x0=params, theta=zeros, scale=moments.full(params, eps), abs_sum=zeros, reward=zeros)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("cocob: update needs params")
        scale = jax.tree.map(lambda s, g: jnp.maximum(s, jnp.abs(g)), state.scale, updates)
        abs_sum = jax.tree.map(lambda a, g: a + jnp.abs(g), state.abs_sum, updates)
        reward = jax.tree.map(lambda r, g, p, p0: jnp.maximum(r - g * (p - p0), 0), state.reward, updates, params,
                              state.x0)
        theta = jax.tree.map(lambda t, g: t - g, state.theta, updates)

        def bet(p, p0, t, s, a, r):
            return -p + (p0 + t / (s * jnp.maximum(a + s, alpha * s)) * (s + r))

        new = jax.tree.map(bet, params, state.x0, theta, scale, abs_sum, reward)
        return new, ScaleByCocobState(
            x0=state.x0, theta=moments.like(theta, state.theta),
            scale=moments.like(scale, state.scale), abs_sum=moments.like(abs_sum, state.abs_sum),
            reward=moments.like(reward, state.reward),
        )

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=LEARNING_RATE_FREE,
    alpha=check.Hyperparameter(check.POSITIVE, search=(1.0, 1000.0, "log")),
    eps=check.Hyperparameter(check.POSITIVE),
    weight_decay=check.Hyperparameter(check.NONNEGATIVE_OR_SCHEDULE, search=(1e-6, 1e-1, "log")),
)
def cocob(
    learning_rate: LearningRate = 1.0,
    alpha: jax.typing.ArrayLike = 100.0,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: LearningRate = 0.0,
) -> optax.GradientTransformation:
    """COCOB-Backprop: learning-rate-free coin betting on g + weight_decay x.

    Args:
      learning_rate: scales the gradient, 1 by design (COCOB's step is nearly
        invariant to it: only the starting eps breaks the invariance).
      alpha: caps the first bets at 1 / alpha of the gradient's range, > 0.
      eps: the initial scale L_0, > 0.
      weight_decay: an L2 term added to the gradient.

    References:
      Orabona & Tommasi, "Training deep networks without learning rates
      through coin betting", NeurIPS 2017, arXiv:1705.07795.
    """
    # lr multiplies g with no change of sign: a learning rate of -lr
    unsigned = (lambda count: -learning_rate(count)) if callable(learning_rate) else -learning_rate
    return optax.chain(add_decayed_weights(weight_decay), scale_by_learning_rate(unsigned), scale_by_cocob(alpha, eps))


register(OptimizerSpec.declared(
    cocob,
    name="cocob",
    elementwise=True,
    twin=optax.contrib.cocob,
    twin_call="optax.contrib.cocob",
    rule="L = max(L, |g|); G += |g|; R = max(R - g*(x - x0), 0); theta -= g; "
         "x = x0 + theta / (L * max(G + L, alpha*L)) * (L + R)",
    paper="Orabona & Tommasi 2017, arXiv:1705.07795",
    notes="lr scales g (1 by design); L starts at eps.",
))
