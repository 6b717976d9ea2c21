"""One block's bookkeeping: divergence, best loss and first hits of every lane, on the device.

The engine (`bench.core.engine`) runs the steps of a block, writing each
step's loss (B,) to a buffer; `block_books` then reads the block's losses
once and updates each lane's books: the first diverged step, the best loss
before it, and the first step at or under each target. In the usual case this
is one pass over the buffer (`_bookkeeping`); a block in which a lane diverged
or passed more than one target takes the exact path (`_exact_bookkeeping`),
which gives the same results.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

SUB_STEPS = 10  # a block's losses are summarised per this many steps (see `_bookkeeping`)


def finite_below(value: jax.Array, level: jax.Array) -> jax.Array:
    """|value| <= level: False for NaN and inf too (every comparison with NaN is)."""
    return jnp.abs(value) <= level


def _lowest(a: jax.Array, axis: int) -> jax.Array:
    """min along axis, for arrays without NaN.

    Written as its own reduction (not jnp.min) so that XLA:CPU keeps it in its
    own code: jnp.min's float reductions go to a library call, and a loop that
    holds one is no longer compiled whole (measured: the sweep ran ~10% slower).
    """
    return jax.lax.reduce(a, np.asarray(np.inf, a.dtype), lambda u, v: jnp.where(u < v, u, v), (axis,))


def _first_true(mask: jax.Array) -> jax.Array:
    """Per lane (last axis), the first index along axis 0 where mask holds; mask.shape[0] if none."""
    index = jnp.arange(mask.shape[0], dtype=jnp.int32).reshape((-1,) + (1,) * (mask.ndim - 1))
    return jnp.min(jnp.where(mask, index, mask.shape[0]), axis=0)


def _level(thresholds: jax.Array, at: jax.Array) -> jax.Array:
    """Per lane, the threshold of the level `at` marks ((K, B) booleans, one True per lane; 0 if none)."""
    return jnp.sum(jnp.where(at, thresholds, 0), axis=0)


def _first_hits(values, t0, best, thresholds, hits, n_hit):
    """Fills in the targets first reached within one block of stored losses.

    values: (L, B) losses of the block's steps, +inf where not valid; best: the
    running minimum including this block. Thresholds decrease with the target
    index, so the targets reached form a prefix and each lane's first hits come
    in order: level n_hit (the first unreached) is found as the first step at or
    under its threshold, then the next level, while any lane has more.
    """
    levels = jnp.arange(thresholds.shape[0], dtype=jnp.int32)[:, None]
    reached = jnp.sum(best[None, :] <= thresholds, axis=0, dtype=jnp.int32)

    def more(carry):
        n, _ = carry
        return jnp.any(n < reached)

    def next_level(carry):
        n, hits = carry
        at_n = levels == n[None, :]
        todo = n < reached  # then `values` holds a step at or under the level
        first = _first_true(values <= _level(thresholds, at_n)[None, :])
        hits = jnp.where(at_n & todo[None, :], t0 + first[None, :], hits)
        return n + todo.astype(jnp.int32), hits

    return jax.lax.while_loop(more, next_level, (n_hit, hits))


def _exact_bookkeeping(vbuf, length, t0, alive, div_level, thresholds, div_step, best, n_hit, hits):
    """One block's divergence, best loss and first hits, whatever happened in it.

    Divergence is read from the block's losses: the first step whose loss is not
    finite or above the level. Nothing from it on counts.
    """
    block_steps = vbuf.shape[0]
    positions = jnp.arange(block_steps, dtype=jnp.int32)[:, None]
    in_block = positions < length
    bad = in_block & ~finite_below(vbuf, div_level[None, :])
    first_bad = _first_true(bad)
    diverged = alive & (first_bad < block_steps)
    div_step = jnp.where(diverged, t0 + first_bad, div_step)
    live = in_block & alive[None, :] & (positions < first_bad[None, :])
    values = jnp.where(live, vbuf, jnp.inf)
    best = jnp.minimum(best, _lowest(values, 0))
    n_hit, hits = _first_hits(values, t0, best, thresholds, hits, n_hit)
    return div_step, diverged, best, n_hit, hits


def _bookkeeping(vbuf, length, t0, alive, div_level, thresholds, div_step, best, n_hit, hits):
    """`_exact_bookkeeping`'s results, from one pass over the block in the usual case.

    One reduction reads each stored loss once, with bad steps read as -inf:
    per lane and per SUB_STEPS steps it gives the lowest loss, so whether any
    step was bad, the block's lowest loss, and which few steps hold the first
    one at or under the next target. That is the whole answer unless a lane
    diverged in the block or passed more than one target in it; then (rarely:
    in none of the 100 blocks of the 256-configuration Rosenbrock sweep) the
    exact path runs instead. Measured on that sweep: the bookkeeping took 25-30%
    of the time as several passes, about 12% as one (results/PERFORMANCE.md).
    """
    rows, n_lanes = vbuf.shape
    n_targets = thresholds.shape[0]
    positions = jnp.arange(rows, dtype=jnp.int32)[:, None]
    valid = (positions < length) & alive[None, :]
    marked = jnp.where(valid, jnp.where(finite_below(vbuf, div_level[None, :]), vbuf, -jnp.inf), jnp.inf)
    # (The barrier keeps XLA from folding the two minima into one reduction over
    # the block, which then has to be read again for `first_sub`.)
    sub_low = jax.lax.optimization_barrier(_lowest(marked.reshape(rows // SUB_STEPS, SUB_STEPS, n_lanes), 1))
    low = _lowest(sub_low, 0)
    bad = low == -jnp.inf
    levels = jnp.arange(n_targets, dtype=jnp.int32)[:, None]
    at_next = levels == n_hit[None, :]
    next_level = jnp.where(n_hit < n_targets, _level(thresholds, at_next), -jnp.inf)
    got = low <= next_level
    # The first hit lies in the first summary at or under the level: search its steps.
    first_sub = _first_true(sub_low <= next_level[None, :])
    window = jnp.minimum(first_sub, rows // SUB_STEPS - 1)[None, :] * SUB_STEPS + positions[:SUB_STEPS]
    first_hit = window[0] + _first_true(jnp.take_along_axis(vbuf, window, axis=0) <= next_level[None, :])
    new_best = jnp.minimum(best, low)
    reached = jnp.sum(new_best[None, :] <= thresholds, axis=0, dtype=jnp.int32)
    usual = ~jnp.any(bad) & jnp.all(reached <= n_hit + got)

    def one_pass(_):
        hits_now = jnp.where(at_next & got[None, :], t0 + first_hit[None, :], hits)
        return div_step, jnp.zeros_like(alive), new_best, n_hit + got.astype(jnp.int32), hits_now

    def exact(_):
        return _exact_bookkeeping(vbuf, length, t0, alive, div_level, thresholds, div_step, best, n_hit, hits)

    return jax.lax.cond(usual, one_pass, exact, None)


class Levels(NamedTuple):
    """Per lane, the losses the bookkeeping compares with (constant over a program)."""

    div_level: jax.Array  # (B,) a loss above this (or not finite) is divergence; -1 for a bad start
    thresholds: jax.Array  # (K, B) each target's loss, decreasing with the target index


class Books(NamedTuple):
    """Per lane, what the bookkeeping has found so far."""

    div_step: jax.Array  # (B,) the first diverged step, NEVER if none
    best: jax.Array  # (B,) the lowest loss before any divergence
    hits: jax.Array  # (K, B) each target's first-hit step, NEVER if not yet
    # (B,) how many targets are hit (they are hit in order). Derivable, `(hits != NEVER).sum(0)`, but carried:
    # every block's bookkeeping reads it, and the (B,) counter spares it a (K, B) reduction per block.
    n_hit: jax.Array


class BlockLosses(NamedTuple):
    """One block's losses as the bookkeeping reads them."""

    vbuf: jax.Array  # (rows, B) the loss of each step of the block; rows past `length` are stale
    length: jax.Array  # () the block's steps
    t0: jax.Array  # () the block's first step
    alive: jax.Array  # (B,) the lanes not diverged before the block


def block_books(block: BlockLosses, levels: Levels, books: Books, one_pass: bool) -> tuple[Books, jax.Array]:
    """One block's bookkeeping: the updated books, and which lanes diverged in it.

    `one_pass` picks `_bookkeeping` (one pass over the block in the usual case)
    over `_exact_bookkeeping`; both give the same results.
    """
    kernel = _bookkeeping if one_pass else _exact_bookkeeping
    div_step, diverged, best, n_hit, hits = kernel(
        block.vbuf, block.length, block.t0, block.alive, levels.div_level, levels.thresholds,
        books.div_step, books.best, books.n_hit, books.hits)
    return Books(div_step=div_step, best=best, hits=hits, n_hit=n_hit), diverged
