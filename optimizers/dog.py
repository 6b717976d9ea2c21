"""DoG and DoWG: gradient descent with step size (distance travelled) / (accumulated gradient norms)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.prodigy import LEARNING_RATE_FREE
from optimizers.registry import OptimizerSpec, register
from optimizers.weight_decay import add_decayed_weights

INIT_STEPS = ("heuristic", "distance", "learning_rate")
OPTIONAL_NONNEGATIVE = check.Interval(0.0, check.INF, optional=True)
WEIGHT_DECAY = check.Hyperparameter(OPTIONAL_NONNEGATIVE, search=(1e-6, 1e-1, "log"))


class ScaleByDogState(NamedTuple):
    """Whether no step was taken yet, x_0, the largest distance |x - x_0| seen, and the sum of |g|^2."""

    first: jax.Array
    x0: optax.Params
    max_dist: jax.Array
    sum_sq_grads: jax.Array


def scale_by_dog(
    init_step: str = "heuristic", init_value: jax.typing.ArrayLike = 1e-6, eps: jax.typing.ArrayLike = 1e-8
) -> optax.GradientTransformation:
    """u = eta g with eta = rbar / sqrt(G + eps), rbar = max(r_eps, max_k |x_k - x_0|), G = sum_k |g_k|^2.

    `init_step` sets the first step: "distance": r_eps = init_value;
    "heuristic": r_eps = init_value (1 + |x_0|) (the paper's suggestion);
    "learning_rate": eta_0 = init_value (r_eps = 0).
    """

    def init_fn(params):
        dtype = optax.tree.dtype(params, "lowest")
        r_eps = {"distance": init_value, "learning_rate": 0.0}.get(init_step)
        if r_eps is None:
            r_eps = init_value * (1 + optax.tree.norm(params))
        return ScaleByDogState(first=jnp.asarray(True), x0=params, max_dist=jnp.asarray(r_eps, dtype),
                               sum_sq_grads=jnp.zeros([], dtype))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("dog: update needs params")
        max_dist = jnp.maximum(state.max_dist, optax.tree.norm(jax.tree.map(lambda p0, p: p0 - p, state.x0, params)))
        sum_sq_grads = state.sum_sq_grads + optax.tree.norm(updates, squared=True)
        eta = max_dist / jnp.sqrt(sum_sq_grads + eps)
        if init_step == "learning_rate":
            eta = jnp.where(state.first, init_value, eta)
        updates = jax.tree.map(lambda g: eta * g, updates)
        return updates, ScaleByDogState(first=jnp.asarray(False), x0=state.x0,
                                        max_dist=max_dist.astype(state.max_dist.dtype),
                                        sum_sq_grads=sum_sq_grads.astype(state.sum_sq_grads.dtype))

    return optax.GradientTransformation(init_fn, update_fn)


def _decay(weight_decay):
    return optax.identity() if weight_decay is None else add_decayed_weights(weight_decay)


@check.hyperparameters(
    learning_rate=LEARNING_RATE_FREE,
    init_step=check.Hyperparameter(INIT_STEPS, choices=INIT_STEPS),
    init_value=check.Hyperparameter(check.POSITIVE, search=(1e-8, 1e-3, "log")),
    eps=check.Hyperparameter(check.NONNEGATIVE),
    weight_decay=WEIGHT_DECAY,
)
def dog(
    learning_rate: LearningRate = 1.0,
    init_step: str = "heuristic",
    init_value: jax.typing.ArrayLike = 1e-6,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike | None = None,
) -> optax.GradientTransformation:
    """DoG: x <- x - lr * rbar_t / sqrt(sum_k |g_k|^2 + eps) * g, rbar_t the largest |x_k - x_0| so far.

    Args:
      learning_rate: a multiplier of DoG's step, 1 by design (or a schedule).
      init_step: how the first step is set: "heuristic", "distance" or "learning_rate".
      init_value: its value (r_eps = init_value (1 + |x_0|), r_eps, or eta_0).
      eps: added to the sum of squared gradient norms.
      weight_decay: an L2 term added to the gradient, or None.

    References:
      Ivgi, Hinder & Carmon, "DoG is SGD's best friend: a parameter-free
      dynamic step size schedule", ICML 2023, arXiv:2302.12022.
    """
    return optax.chain(_decay(weight_decay), scale_by_dog(init_step, init_value, eps),
                       scale_by_learning_rate(learning_rate))


class ScaleByDowgState(NamedTuple):
    """x_0, the largest squared distance |x - x_0|^2 seen, and the weighted sum of |g|^2."""

    x0: optax.Params
    sq_dist: jax.Array
    weighted_sq_grads: jax.Array


def scale_by_dowg(init_sq_dist: jax.typing.ArrayLike | None = None,
                  eps: jax.typing.ArrayLike = 1e-4) -> optax.GradientTransformation:
    """u = eta g with eta = rbar^2 / (sqrt(v) + eps), v = sum_k rbar_k^2 |g_k|^2, rbar^2 = max(r_0^2, |x - x_0|^2).

    r_0^2 is `init_sq_dist`, or eps when None.
    """

    def init_fn(params):
        dtype = optax.tree.dtype(params, "lowest")
        return ScaleByDowgState(x0=params, sq_dist=jnp.asarray(eps if init_sq_dist is None else init_sq_dist, dtype),
                                weighted_sq_grads=jnp.zeros([], dtype))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("dowg: update needs params")
        sq_dist = jax.tree.map(lambda p0, p: p0 - p, state.x0, params)
        sq_dist = jnp.maximum(state.sq_dist, optax.tree.norm(sq_dist, squared=True))
        weighted = sq_dist * optax.tree.norm(updates, squared=True) + state.weighted_sq_grads
        eta = sq_dist / (jnp.sqrt(weighted) + eps)
        updates = jax.tree.map(lambda g: eta * g, updates)
        return updates, ScaleByDowgState(x0=state.x0, sq_dist=sq_dist.astype(state.sq_dist.dtype),
                                         weighted_sq_grads=weighted.astype(state.weighted_sq_grads.dtype))

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=LEARNING_RATE_FREE,
    init_sq_dist=check.Hyperparameter(check.Interval(0.0, check.INF, low_closed=False, optional=True),
                                      search=(1e-8, 1e-2, "log")),
    eps=check.Hyperparameter(check.POSITIVE),
    weight_decay=WEIGHT_DECAY,
)
def dowg(
    learning_rate: LearningRate = 1.0,
    init_sq_dist: jax.typing.ArrayLike | None = None,
    eps: jax.typing.ArrayLike = 1e-4,
    weight_decay: jax.typing.ArrayLike | None = None,
) -> optax.GradientTransformation:
    """DoWG: x <- x - lr * rbar_t^2 / (sqrt(sum_k rbar_k^2 |g_k|^2) + eps) * g.

    Args:
      learning_rate: a multiplier of DoWG's step, 1 by design (or a schedule).
      init_sq_dist: the initial guess r_0^2 of the squared distance to x*, > 0; None: eps.
      eps: added to the denominator, > 0.
      weight_decay: an L2 term added to the gradient, or None.

    References:
      Khaled, Mishchenko & Jin, "DoWG unleashed: an efficient universal
      parameter-free gradient descent method", NeurIPS 2023, arXiv:2305.16284.
    """
    return optax.chain(_decay(weight_decay), scale_by_dowg(init_sq_dist, eps), scale_by_learning_rate(learning_rate))


register(OptimizerSpec.declared(
    dog,
    name="dog",
    elementwise=False,  # norms over all parameters
    twin=lambda learning_rate, init_step, init_value, eps, weight_decay: optax.contrib.dog(
        learning_rate, init_step=(init_step, init_value), eps=eps, weight_decay=weight_decay),
    twin_call="optax.contrib.dog(lr, init_step=(init_step, init_value), ...)",
    rule="rbar = max(rbar, |x - x0|); G += |g|^2; x -= lr * rbar / sqrt(G + eps) * g",
    paper="Ivgi et al. 2023, arXiv:2302.12022",
    notes="lr = 1 by design (a multiplier); r_eps = init_value * (1 + |x0|) by default (the paper's heuristic).",
))
register(OptimizerSpec.declared(
    dowg,
    name="dowg",
    elementwise=False,  # norms over all parameters
    twin=lambda learning_rate, init_sq_dist, eps, weight_decay: optax.contrib.dowg(
        learning_rate, init_estim_sq_dist=init_sq_dist, eps=eps, weight_decay=weight_decay),
    twin_call="optax.contrib.dowg(lr, init_estim_sq_dist=init_sq_dist, ...)",
    rule="rbar^2 = max(rbar^2, |x - x0|^2); v += rbar^2 * |g|^2; x -= lr * rbar^2 / (sqrt(v) + eps) * g",
    paper="Khaled et al. 2023, arXiv:2305.16284",
    notes="lr = 1 by design (a multiplier); r0^2 = eps when init_sq_dist is None.",
))
