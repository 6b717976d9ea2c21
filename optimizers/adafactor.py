"""Adafactor: a second moment kept as row and column averages for matrices, steps relative to the parameters."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register
from optimizers.weight_decay import add_decayed_weights


class ScaleByFactoredRmsState(NamedTuple):
    """Step count and, per leaf, the row and column averages of g^2 (a factored matrix) or its full average.

    A leaf's unused entries are empty arrays (shape (0,)).
    """

    count: jax.Array
    v_row: optax.Updates
    v_col: optax.Updates
    v: optax.Updates


def factored_axes(shape: tuple[int, ...], factored: bool, min_dim_size_to_factor: int) -> tuple[int, int] | None:
    """(second largest, largest) axis of a leaf whose second moment is factored, or None (kept whole).

    Factored: arrays of 2 or more axes whose second largest size is at least
    `min_dim_size_to_factor` (ties broken by numpy's argsort, as in optax).
    """
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return int(order[-2]), int(order[-1])


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: jax.typing.ArrayLike = 0.8,
    decay_offset: jax.typing.ArrayLike = 0,
    min_dim_size_to_factor: int = 128,
    eps: jax.typing.ArrayLike = 1e-30,
) -> optax.GradientTransformation:
    """u = g / sqrt(vhat); vhat = EMA of g^2 + eps, or R C / mean(R) from its row and column EMAs R, C.

    The decay of step t (from 0) is 1 - (t - decay_offset + 1)^(-decay_rate),
    computed in float32 as optax does (so it is 0 on the first step).
    """

    def init_fn(params):
        def one(p):
            empty = jnp.zeros((0,), p.dtype)
            axes = factored_axes(p.shape, factored, min_dim_size_to_factor)
            if axes is None:
                return empty, empty, jnp.zeros_like(p)
            second, first = axes
            return jnp.zeros(np.delete(p.shape, first), p.dtype), jnp.zeros(np.delete(p.shape, second), p.dtype), empty

        rows, cols, full = _unzip(params, jax.tree.map(one, params))
        return ScaleByFactoredRmsState(count=moments.count0(), v_row=rows, v_col=cols, v=full)

    def update_fn(updates, state, params=None):
        del params
        t = jnp.asarray(state.count - decay_offset + 1, jnp.float32)
        decay = 1.0 - t ** (-decay_rate)

        def one(g, row, col, full):
            sq = g * g + eps
            axes = factored_axes(g.shape, factored, min_dim_size_to_factor)
            if axes is None:
                full = (decay * full + (1.0 - decay) * sq).astype(g.dtype)
                return g * full ** (-0.5), row, col, full
            second, first = axes
            row = (decay * row + (1.0 - decay) * jnp.mean(sq, axis=first)).astype(g.dtype)
            col = (decay * col + (1.0 - decay) * jnp.mean(sq, axis=second)).astype(g.dtype)
            row_mean = jnp.mean(row, axis=second - 1 if second > first else second, keepdims=True)
            u = g * jnp.expand_dims((row / row_mean) ** (-0.5), first) * jnp.expand_dims(col ** (-0.5), second)
            return u, row, col, full

        out = jax.tree.map(one, updates, state.v_row, state.v_col, state.v)
        directions, rows, cols, full = _unzip(updates, out)
        return directions, ScaleByFactoredRmsState(count=moments.increment(state.count), v_row=rows, v_col=cols,
                                                   v=full)

    return optax.GradientTransformation(init_fn, update_fn)


def _unzip(like, tree):
    """A tree (shaped like `like`) of tuples as a tuple of trees."""
    return jax.tree.transpose(jax.tree.structure(like), None, tree)


def clip_by_block_rms(threshold: jax.typing.ArrayLike) -> optax.GradientTransformation:
    """Per leaf: u <- u / max(1, rms(u) / threshold), the paper's update clipping."""

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda u: u / jnp.maximum(1.0, jnp.sqrt(jnp.mean(u * u)) / threshold), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def scale_by_param_block_rms(min_scale: jax.typing.ArrayLike = 1e-3) -> optax.GradientTransformation:
    """Per leaf: u <- u * max(rms(x), min_scale), a step relative to the parameters' scale. Needs params."""

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("scale_by_param_block_rms: update needs params")
        return jax.tree.map(lambda u, x: u * jnp.maximum(jnp.sqrt(jnp.mean(x * x)), min_scale), updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def _negate() -> optax.GradientTransformation:
    """u <- -u (exact): brackets the weight decay, which is added to the positive step."""

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(jnp.negative, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-4, 1.0, "log")),
    min_dim_size_to_factor=check.Hyperparameter(check.COUNT, choices=(128, 1)),
    decay_rate=check.Hyperparameter(check.POSITIVE, search=(0.5, 1.0, "linear")),
    decay_offset=check.COUNT,
    clipping_threshold=check.Interval(0.0, check.INF, low_closed=False, optional=True),
    weight_decay_rate=check.Hyperparameter(check.Interval(0.0, check.INF, schedule=True, optional=True),
                                           search=(1e-6, 1e-2, "log")),
    eps=check.NONNEGATIVE,
    multiply_by_parameter_scale=check.Hyperparameter(check.SWITCH, choices=(False, True)),
    factored=check.Hyperparameter(check.SWITCH, choices=(False, True)),
)
def adafactor(
    learning_rate: LearningRate = 1e-2,
    min_dim_size_to_factor: int = 128,
    decay_rate: jax.typing.ArrayLike = 0.8,
    decay_offset: int = 0,
    clipping_threshold: jax.typing.ArrayLike | None = 1.0,
    weight_decay_rate: LearningRate | None = None,
    eps: jax.typing.ArrayLike = 1e-30,
    *,
    multiply_by_parameter_scale: bool = True,
    factored: bool = True,
) -> optax.GradientTransformation:
    """Adafactor: x <- x - (lr max(rms(x), 1e-3) clip(g / sqrt(vhat)) + weight_decay_rate x).

    Args:
      learning_rate: step size, or a schedule (relative to rms(x) when
        multiply_by_parameter_scale).
      min_dim_size_to_factor: factor a leaf's second moment only if its second
        largest axis has at least this many entries (an integer: static).
      decay_rate: c in the second moment's decay 1 - (t + 1)^(-c), > 0.
      decay_offset: steps subtracted from t in that decay (an integer).
      clipping_threshold: d, clip each leaf's update to rms <= d, or None.
      weight_decay_rate: added (not multiplied by lr), >= 0, a schedule, or None.
      eps: added to g^2 (the paper's epsilon_1).
      multiply_by_parameter_scale: the paper's relative step size.
      factored: factor matrices at all.

    References:
      Shazeer & Stern, "Adafactor: adaptive learning rates with sublinear
      memory cost", ICML 2018, arXiv:1804.04235.
    """
    chain = [scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps)]
    if clipping_threshold is not None:
        chain.append(clip_by_block_rms(clipping_threshold))
    chain.append(scale_by_learning_rate(learning_rate))  # -lr u: negations below are exact
    if multiply_by_parameter_scale:
        chain.append(scale_by_param_block_rms())
    if weight_decay_rate is not None:
        chain += [_negate(), add_decayed_weights(weight_decay_rate), _negate()]
    return optax.chain(*chain)


register(OptimizerSpec.declared(
    adafactor,
    name="adafactor",
    elementwise=False,  # row/column averages and per-array rms
    twin=optax.adafactor,
    rule="v = b2t*v + (1-b2t)*(g^2 + eps) (rows and columns for matrices: vhat = R C / mean(R)); "
         "u = clip(g / sqrt(vhat), d); x -= lr * max(rms(x), 1e-3) * u + weight_decay_rate * x",
    paper="Shazeer & Stern 2018, arXiv:1804.04235",
    notes="optax's form: b2t = 1 - (t+1)^-0.8 computed in float32 even for float64 parameters; only leaves of "
          "2+ axes whose second largest axis has >= min_dim_size_to_factor (128) entries are factored; a constant "
          "lr (default 1e-2) instead of the paper's min(1e-2, 1/sqrt(t)); no momentum (the paper's beta1 = 0); "
          "eps 1e-30 added to g^2; the param scale floor 1e-3 is the paper's epsilon_2.",
))
