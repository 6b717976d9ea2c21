"""The step: updates scaled by minus a learning rate, constant or scheduled."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments

#: A learning rate: a number (possibly traced) or a schedule of the step count.
LearningRate = jax.typing.ArrayLike | Callable[[jax.Array], jax.typing.ArrayLike]


class ScheduleState(NamedTuple):
    """Step counter of a scheduled learning rate."""

    count: jax.Array


def scale_by_learning_rate(learning_rate: LearningRate) -> optax.GradientTransformation:
    """Turns a direction into a descent step: u <- -learning_rate * u.

    Args:
      learning_rate: a number, or a schedule `count -> number` evaluated at the
        step count (0 on the first step), as in optax.

    Returns:
      An `optax.GradientTransformation`; stateless for a constant rate.
    """
    if callable(learning_rate):
        schedule = learning_rate

        def init_fn(params):
            del params
            return ScheduleState(count=moments.count0())

        def update_fn(updates, state, params=None):
            del params
            step = -schedule(state.count)
            updates = jax.tree.map(lambda g: jnp.asarray(step, g.dtype) * g, updates)
            return updates, ScheduleState(count=moments.increment(state.count))

        return optax.GradientTransformation(init_fn, update_fn)

    step = -learning_rate

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: step * g, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)
