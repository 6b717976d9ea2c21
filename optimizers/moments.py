"""Moment estimates over pytrees: the building blocks of the adaptive methods.

The arithmetic is written in the order optax uses, so that trajectories agree
bit for bit: ``(1 - decay) * g**order + decay * m`` for a moment and
``m / (1 - decay**t)`` for its bias correction.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

PyTree = Any


def ema(updates: PyTree, moments: PyTree, decay: jax.typing.ArrayLike, order: int = 1) -> PyTree:
    """Exponential moving average of `updates**order`: (1 - decay) g^order + decay m."""

    def one(g, m):
        return (1 - decay) * (g if order == 1 else g**order) + decay * m

    return jax.tree.map(one, updates, moments)


def debias(moments: PyTree, decay: jax.typing.ArrayLike, count: jax.Array) -> PyTree:
    """Bias correction of a moment started at zero: m / (1 - decay^count)."""
    correction = 1 - decay**count
    return jax.tree.map(lambda m: m / correction.astype(m.dtype), moments)


def increment(count: jax.Array) -> jax.Array:
    """count + 1, saturating at the largest value of its integer dtype."""
    top = jnp.array(jnp.iinfo(count.dtype).max, count.dtype)
    return jnp.where(count < top, count + jnp.array(1, count.dtype), top)


def zeros(params: PyTree) -> PyTree:
    """Zeros shaped and typed like `params` (state follows the parameter dtype)."""
    return jax.tree.map(jnp.zeros_like, params)


def full(params: PyTree, value: jax.typing.ArrayLike) -> PyTree:
    """`value` everywhere, shaped and typed like `params`."""
    return jax.tree.map(lambda p: jnp.full_like(p, value), params)


def like(tree: PyTree, other: PyTree) -> PyTree:
    """`tree` cast leaf by leaf to the dtypes of `other` (a no-op when they agree).

    Keeps a state's dtype fixed when a traced float32 hyperparameter meets
    bfloat16 parameters, so a `lax.scan` carry keeps its type.
    """
    return jax.tree.map(lambda t, o: t.astype(o.dtype), tree, other)


def count0() -> jax.Array:
    """The initial step counter: an int32 zero."""
    return jnp.zeros([], jnp.int32)
