"""SM3: AdaGrad with one accumulator per row and per column of a matrix (sublinear memory)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register

#: Added to the accumulator inside the inverse square root (optax's fixed value; not a hyperparameter there).
EPS = 1e-8


class ScaleBySM3State(NamedTuple):
    """Per leaf, one accumulator per axis (its length), and the momentum of the preconditioned gradient."""

    mu: list
    nu: optax.Updates


def _axis_shape(ndim: int, axis: int, size: int) -> list[int]:
    return [size if i == axis else 1 for i in range(ndim)]


def scale_by_sm3(momentum: jax.typing.ArrayLike = 0.9) -> optax.GradientTransformation:
    """SM3-II with momentum: v = g^2 + min over axes of the accumulators; u = EMA(g / sqrt(v + EPS)).

    For a leaf of rank r the accumulators are r vectors, one per axis; each
    entry's v takes the smallest of the r accumulators covering it (its row's
    and its column's for a matrix), and each accumulator becomes the largest v
    over its slice. For a vector this is diagonal AdaGrad (v = sum of g^2).
    Entries with v = 0 get u = 0. The momentum is an EMA
    (1 - momentum) u + momentum m, not bias-corrected.
    """

    def init_fn(params):
        mu = jax.tree.map(lambda p: [jnp.zeros(p.shape[i], p.dtype) for i in range(p.ndim)], params)
        return ScaleBySM3State(mu=mu, nu=moments.zeros(params))

    def accumulate(g, accumulators):
        covering = [a.reshape(_axis_shape(g.ndim, i, g.shape[i])) for i, a in enumerate(accumulators)]
        return g**2 + (covering[0] if g.ndim < 2 else functools.reduce(jnp.minimum, covering))

    def slices_max(v):
        if v.ndim < 2:
            return [v]
        return [jnp.max(v, axis=[j for j in range(v.ndim) if j != i]) for i in range(v.ndim)]

    def update_fn(updates, state, params=None):
        del params
        v = jax.tree.map(accumulate, updates, state.mu)  # each leaf of updates meets its list of accumulators
        pre = jax.tree.map(lambda g, v: g * jnp.where(v > 0, jax.lax.rsqrt(v + EPS), 0.0), updates, v)
        nu = moments.ema(pre, state.nu, momentum)
        mu = jax.tree.map(slices_max, v)
        return nu, ScaleBySM3State(mu=moments.like(mu, state.mu), nu=moments.like(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-4, 10.0, "log")),
    momentum=check.Hyperparameter(check.DECAY, search=(0.0, 0.99, "linear")),
)
def sm3(learning_rate: LearningRate = 0.1, momentum: jax.typing.ArrayLike = 0.9) -> optax.GradientTransformation:
    """SM3: x <- x - lr * EMA(g / sqrt(v)), v the cover-set accumulators' minimum plus g^2.

    Args:
      learning_rate: step size, or a schedule.
      momentum: decay of the EMA of the preconditioned gradient, in [0, 1).

    References:
      Anil, Gupta, Koren & Singer, "Memory-efficient adaptive optimization",
      NeurIPS 2019, arXiv:1901.11150.
    """
    return optax.chain(scale_by_sm3(momentum), scale_by_learning_rate(learning_rate))


def _twin(learning_rate, momentum):
    if callable(learning_rate):  # optax's sm3 takes no schedule: inject it
        return optax.inject_hyperparams(optax.sm3)(learning_rate=learning_rate, momentum=momentum)
    return optax.sm3(learning_rate, momentum)


register(OptimizerSpec.declared(
    sm3,
    name="sm3",
    elementwise=False,  # a matrix's row and column accumulators span the matrix
    twin=_twin,
    twin_call="optax.sm3",
    rule="v = g^2 + min(row acc, col acc); acc = max of v over its row/column; "
         "m = momentum*m + (1-momentum) * g/sqrt(v + 1e-8); x -= lr * m",
    paper="Anil et al. 2019, arXiv:1901.11150",
    notes="eps = 1e-8 fixed, momentum as an EMA without bias correction (optax); diagonal AdaGrad on vectors.",
))
