"""Minibatch mode: what a lane's optimizer sees at each step, drawn inside the program.

In minibatch mode the optimizer steps on a minibatch's loss (its value, gradient
and, for line searches, its values along the search), while the books (stored
losses, first hits, best loss, divergence) are kept on the full-batch objective,
evaluated every `eval_every` steps (`bench.core.engine`).

Lane b's minibatch at step t is drawn with the key
fold_in(fold_in(PRNGKey(seed_b), BATCH_STREAM), t): it depends on the lane's seed
and the step only, not on how the lanes are laid out or split over devices, so a
run is reproducible and the lanes of different configurations with the same seed
see the same minibatches (common random numbers: their differences are the
optimizers', not the draws').
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax

PyTree = Any
#: Folded into a lane's key after the step: the stream of its minibatch draws.
BATCH_STREAM = 0
#: Where the lanes sit in the optimizer's data (instance data, minibatch): the
#: instance data is shared, the minibatches lanes-last.
DATA_AXES = (None, -1)


@dataclasses.dataclass(frozen=True)
class Minibatch:
    """How a cell draws and uses minibatches.

    Attributes:
      fn: the problem's loss `fn(x, data, batch)` of one lane.
      sample: `sample(key, data) -> batch` of one lane (the batch size bound in).
      eval_every: the full-batch loss is computed at the steps that are
        multiples of this (the recorded steps); in between, the books read the
        last one computed.
    """

    fn: Callable[..., jax.Array]
    sample: Callable[[jax.Array, PyTree], PyTree]
    eval_every: int

    def loss(self, x: PyTree, data_and_batch: tuple) -> jax.Array:
        """A minibatch's loss, on data `(instance data, batch)` (the optimizer's data)."""
        data, batch = data_and_batch
        return self.fn(x, data, batch)


def lane_keys(seeds: jax.Array) -> jax.Array:
    """The (B, 2) base keys of the lanes' draws, from their (B,) seeds: made once per run."""
    return jax.vmap(lambda seed: jax.random.fold_in(jax.random.PRNGKey(seed), BATCH_STREAM))(seeds)


def draw(mb: Minibatch, keys: jax.Array, step: jax.Array, data: PyTree) -> PyTree:
    """Every lane's minibatch at `step` (drawn with fold_in(key, step)), lanes-last."""
    step_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, step)
    return jax.vmap(mb.sample, in_axes=(0, None), out_axes=-1)(step_keys, data)
