"""Decoupled weight decay: u <- u + weight_decay * x (before the learning rate)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import optax

from optimizers import moments
from optimizers.learning_rate import LearningRate


class WeightDecayState(NamedTuple):
    """Step counter of a scheduled weight decay."""

    count: jax.Array


def add_decayed_weights(weight_decay: LearningRate) -> optax.GradientTransformation:
    """Adds `weight_decay * params` to the updates.

    A literal zero (a Python 0 or 0.0) is skipped entirely, as in optax; a
    schedule is evaluated at the step count.

    Args:
      weight_decay: a number >= 0, or a schedule of the step count.

    Returns:
      An `optax.GradientTransformation` that needs `params` in `update`.
    """
    scheduled = callable(weight_decay)
    skip = isinstance(weight_decay, (int, float)) and weight_decay == 0.0

    def init_fn(params):
        del params
        return WeightDecayState(count=moments.count0()) if scheduled else optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("add_decayed_weights: update needs params")
        new_state = WeightDecayState(count=moments.increment(state.count)) if scheduled else state
        if skip:
            return updates, new_state
        wd = weight_decay(state.count) if scheduled else weight_decay
        return jax.tree.map(lambda g, p: g + wd * p, updates, params), new_state

    return optax.GradientTransformation(init_fn, update_fn)
