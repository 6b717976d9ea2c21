"""The engine: one cell's whole grid of trajectories as one compiled XLA program.

A *lane* is one trajectory: one hyperparameter configuration and one seed. The
program advances every lane of a cell together inside `lax.scan` loops: no
Python and no host synchronisation per step. Its layout follows what was
measured fastest on XLA:CPU without changing the arithmetic: every array keeps
its lanes on the LAST axis (parameters of shape (*leaf_shape, B)); steps run in
blocks (`bench.core.schedule`) whose losses go to a small buffer, from which the
bookkeeping (stored steps, first hits, best loss, divergence: `bench.core.books`)
is done once per block instead of once per step, in one pass over it in the usual case; lanes
are split over the available devices with `shard_map`.

Per lane the program returns, computed on the device:
  losses       the loss at the recorded steps (see `bench.core.schedule`)
  path         the parameters at the recorded steps (when asked)
  hits         for each target, the first step whose loss is at or under it
               (checked at every step; in minibatch mode at the steps the full
               loss is computed, `ProgramSpec.minibatch`), -1 if never
  best_loss    the lowest finite loss reached before any divergence
  final_loss   the loss at the last point (the frozen point if diverged)
  grad_norm    the gradient's 2-norm at the last point
  diverged_step  the first step whose loss was non-finite or above
               DIVERGENCE_FACTOR x |f(x_0)|, -1 if none. Nothing from that step
               on counts (best loss, first hits); the lane's point is frozen
               from the end of that block (at most BLOCK_STEPS - 1 steps later)
               while the other lanes go on
  hit_evals    for each target, the optimizer's evaluations up to its first hit
               (`ProgramSpec.evals`), -1 if never
  evals        the optimizer's evaluations over the run: up to the last step,
               or up to the diverged step for a diverged lane

The evaluations counted are the optimizer's own: each call it makes of the loss
(its value, its gradient or both at once, or a Hessian-vector product) is one;
the loss the engine records at the evaluation point, and in minibatch mode the
full loss, are not counted. Optimizers that make one call per step (the value
and gradient at x) declare nothing, and their counts are the step counts,
computed from the first hits at the end; the others (`ProgramSpec.evals`: line
searches, Hessian-vector products) are counted per lane in the step loop, from
the optimizer's state after each update, and booked at the first hits.

Step t is the point after t updates; x_0 is step 0. An optimizer with an
evaluation point (`ProgramSpec.eval_params`: schedule-free methods) is measured there
instead of at its iterate: every loss above, the divergence check and the path
are then at `eval_params(state_t, x_t)`, while the gradient and the extra
update arguments stay at the iterate x_t.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.core import minibatch, schedule
from bench.core.books import SUB_STEPS, BlockLosses, Books, Levels, block_books, finite_below
from bench.core.lanewise import (evaluation_counter, evaluation_point, lane_functions, lane_norms, optimizer_step,
                                 select, select_state, shared_state_axes)
from bench.core.schedule import Schedule

PyTree = Any
LANES = "lanes"
DIVERGENCE_FACTOR = 1e6
NEVER = -1


@dataclasses.dataclass(frozen=True)
class ProgramSpec:
    """What one program computes: a loss, an optimizer, a schedule.

    Attributes:
      loss_fn: pure full-batch loss `loss_fn(x, data) -> scalar`.
      make_txs: one optimizer builder per implementation the program can run
        (each builds it from a dict of possibly traced scalars). With several,
        the program runs the one its `which` input names: ours and optax's
        share one program, and so one compilation of everything else (the
        program holds every implementation's optimizer state).
      needs: extra update arguments the optimizer takes ("value", "grad",
        "value_fn", "obj_fn"; the last two are both the loss of one lane's
        parameters, on the step's minibatch in minibatch mode).
      schedule: which steps' losses are stored.
      record_path: store the parameters at the recorded steps too.
      elementwise: the optimizer updates each coordinate from that coordinate
        and scalars only, so it can run on all lanes at once by broadcasting.
      loss_first: take each step's loss with its gradient (value_and_grad,
        sharing the forward pass: best for small problems); False computes the
        loss of each new point right after the update and takes the gradient
        alone at the next step, which reads memory less (best for large
        problems: results/PERFORMANCE.md).
      one_pass: do each block's bookkeeping in one pass when it can
        (`_bookkeeping`: faster steps, longer compilation), else always the
        exact way (`_exact_bookkeeping`). The results are the same.
      minibatch: None (full batch), or how each step's minibatch is drawn
        (`bench.core.minibatch`): the optimizer then sees a minibatch's value and
        gradient, the books the full loss every `minibatch.eval_every` steps.
        The lanes' seeds come in as `init["seeds"]`.
      eval_params: None (every implementation is measured at its iterate), or
        one entry per `make_txs`: None, or `eval_params(state, params) ->
        params` on one lane's state and parameters (on all lanes at once, as
        the update, for an elementwise spec), the point it is measured at.
      evals: None (every implementation makes one evaluation per step), or one
        entry per `make_txs`: None (one per step), or `evals(state, hp) ->
        int` on one lane's state after an update and its hyperparameters (all
        lanes at once for an elementwise spec): the loss evaluations that
        update made (`OptimizerSpec.evals`).
      absolute_targets: the targets are absolute, Delta f levels (COCO's): a
        lane reaches t at loss <= f_ref + t (f_ref then f*), not at
        f_ref + t (f(x_0) - f_ref).
    """

    loss_fn: Callable[[PyTree, PyTree], jax.Array]
    make_txs: tuple[Callable[[Mapping[str, jax.Array]], optax.GradientTransformation], ...]
    needs: frozenset[str]
    schedule: Schedule
    record_path: bool = False
    elementwise: bool = False
    loss_first: bool = True
    one_pass: bool = True
    minibatch: minibatch.Minibatch | None = None
    eval_params: tuple[Callable | None, ...] | None = None
    evals: tuple[Callable | None, ...] | None = None
    absolute_targets: bool = False

    @property
    def counted(self) -> bool:
        """Whether some implementation makes other than one evaluation per step (`evals`)."""
        return self.evals is not None and any(f is not None for f in self.evals)

    @property
    def evaluated_elsewhere(self) -> bool:
        """Whether some implementation is measured away from its iterate (`eval_params`)."""
        return self.eval_params is not None and any(f is not None for f in self.eval_params)


class ProgramInputs(NamedTuple):
    """A program's inputs but the path buffer, by name: what `trajectories`' program takes,
    `initial_buffers` and `bench.core.program` make, and the sharding specs follow."""

    x0: PyTree  # the starting points, lanes-last
    hp: Mapping[str, jax.Array]  # (B,) each hyperparameter
    data: PyTree  # the problem's data, shared by every lane
    targets: jax.Array  # (K,) the target levels, decreasing
    f_ref: jax.Array  # () the loss the targets are relative to (f* for absolute ones)
    init: dict  # the constant starting values and work buffers (`initial_buffers`)
    which: jax.Array  # () the implementation in `ProgramSpec.make_txs` to run


# --------------------------------------------------------------------------- the block loop


class Carry(NamedTuple):
    """What the block loop carries from one block to the next."""

    t: jax.Array  # () the step reached: x is step t
    x: PyTree  # the lanes-last points (a diverged lane's frozen point)
    states: tuple  # each implementation's optimizer state (`ProgramSpec.make_txs`)
    value: jax.Array  # (B,) the loss at x, when it comes with the carry (`ProgramSpec.loss_first` False)
    # (B,) a frozen lane's recorded loss, NaN until taken (see `_block`). Whether a
    # lane is alive is not carried: it is `books.div_step == NEVER`.
    frozen: jax.Array
    books: Books
    # Evaluation counts (`ProgramSpec.counted`; else () each): (B,) the evaluations to reach x,
    # (K, B) those at each target's first hit, (B,) those at the diverged step.
    evals: Any = ()
    hit_evals: Any = ()
    div_evals: Any = ()


class Buffers(NamedTuple):
    """One run's buffers, passed from block to block (`initial_buffers`)."""

    vbuf: jax.Array  # (rows, B) the current block's losses, one row per step, reused
    v_out: jax.Array  # (n_blocks, slots, B) the stored losses of each block
    path: PyTree  # (points, *leaf_shape, B) per leaf: the stored points; () without paths
    ebuf: Any = ()  # (rows, B) the evaluations to reach each step of the block (`ProgramSpec.counted`), reused


class BlockPlan(NamedTuple):
    """One block of a run (`schedule.plan`): what the scan reads per block."""

    index: jax.Array  # () the block's index in its run
    length: jax.Array  # () its steps
    slots: jax.Array  # (slots,) the block's steps whose losses are stored (padding: 0)
    rows: jax.Array | None  # the path rows of the block's steps (dense run) or slots (sparse); None without paths


class StepCarry(NamedTuple):
    """What the step loop inside a block carries from step to step."""

    x: PyTree
    state: PyTree  # the running implementation's optimizer state
    value: jax.Array  # (B,) the loss at x (`ProgramSpec.loss_first` False, minibatch mode); else unused
    vbuf: jax.Array  # the block's losses (`Buffers.vbuf`)
    path: PyTree  # the stored points (`Buffers.path`)
    evals: Any = ()  # (B,) the evaluations to reach x (`ProgramSpec.counted`)
    ebuf: Any = ()  # `Buffers.ebuf`


class PathWrite(NamedTuple):
    """A dense run's block writes each step's point: to which rows, and the frozen lanes' points."""

    rows: jax.Array  # (rows,) each step's path row (a step not stored: the last row)
    alive: jax.Array  # (B,) lanes not diverged: the others write x_start
    x_start: PyTree  # the points the block started from


@dataclasses.dataclass(frozen=True)
class Loop:
    """Everything a block needs that is the same for every block of a program."""

    spec: ProgramSpec
    n_lanes: int  # B
    hp: Mapping[str, jax.Array]  # (B,) each
    data: PyTree
    which: jax.Array  # () the implementation to run
    keys: jax.Array | None  # the lanes' base keys (minibatch mode)
    levels: Levels
    loss_all: Callable  # (x, data) -> (B,) full-batch losses
    value_and_grad: Callable  # (x, data) -> ((B,) losses, lanes-last gradient)
    steps_of: tuple  # per implementation, `optimizer_step`'s (init, apply)
    points_of: tuple  # per implementation, `evaluation_point`'s point(state, x)
    counts_of: tuple = ()  # per implementation, `evaluation_counter`'s count(state, hp), or None
    state_axes: tuple = ()  # per implementation, its state's vmap axes (`shared_state_axes`)


def _minibatch_step(loop: Loop, x, value, t, point):
    """The full loss for the books at `point(x)` (computed at multiples of eval_every,
    else the last one), and the optimizer's data, value and gradient on a minibatch at x."""
    mb, data = loop.spec.minibatch, loop.data
    opt_data = (data, minibatch.draw(mb, loop.keys, t, data))
    opt_value, grad = lane_functions(mb.loss, loop.n_lanes, minibatch.DATA_AXES)[1](x, opt_data)
    if mb.eval_every > 1:
        value = jax.lax.cond(t % mb.eval_every == 0, lambda x: loop.loss_all(point(x), data), lambda x: value, x)
    else:
        value = loop.loss_all(point(x), data)
    return value, opt_data, opt_value, grad


def _step(loop: Loop, impl: tuple, t0, write: PathWrite | None, i, carry: StepCarry) -> StepCarry:
    """Step t0 + i of every lane; with `write` (a dense run's), it also stores its point (see `_block_steps`).

    `impl`: the implementation's (apply, point, count) (`optimizer_step`,
    `evaluation_point`, `evaluation_counter`).
    """
    spec, data = loop.spec, loop.data
    apply_all, point, count = impl
    x, state, value, vbuf, path, evals, ebuf = carry  # x is step t0 + i
    opt_data, opt_value = data, None
    elsewhere = spec.evaluated_elsewhere
    if spec.minibatch is not None:
        value, opt_data, opt_value, grad = _minibatch_step(loop, x, value, t0 + i, partial(point, state))
        step_value = value
    elif elsewhere:
        # The books read the loss at the evaluation point; the optimizer, the
        # loss and gradient at its iterate (one more forward pass per step).
        opt_value, grad = loop.value_and_grad(x, data)
        step_value = loop.loss_all(point(state, x), data)
    elif spec.loss_first:
        # The loss goes to the block's buffer only: carrying it too
        # would compute it twice per step (measured: one kernel more).
        step_value, grad = loop.value_and_grad(x, data)
    else:  # value = f(x) came with the carry
        step_value = value
        grad = jax.grad(lambda x: jnp.sum(loop.loss_all(x, data)))(x)
    vbuf = jax.lax.dynamic_update_index_in_dim(vbuf, step_value, i, 0)
    if write is not None:
        path = jax.tree.map(lambda b, a: jax.lax.dynamic_update_index_in_dim(b, a, write.rows[i], 0),
                            path, select(write.alive, point(state, x), write.x_start))
    x, state = apply_all(x, state, loop.hp, opt_data, step_value if opt_value is None else opt_value, grad)
    if spec.counted:
        ebuf = jax.lax.dynamic_update_index_in_dim(ebuf, evals, i, 0)
        evals = evals + (1 if count is None else count(state, loop.hp))
    if not (spec.loss_first or elsewhere):
        # The loss of the new point, computed right after it is made, and
        # the gradient alone at the next step: at n = 1e6-1e7 this was
        # measured 1.3-1.5x faster than a value_and_grad per step.
        value = loop.loss_all(x, data)
    return StepCarry(x, state, value, vbuf, path, evals, ebuf)


def _block_steps(loop: Loop, impl: tuple, dense: bool, n, plan: BlockPlan, t0, alive, x_start,
                 carry: StepCarry) -> StepCarry:
    """Steps 0 .. n-1 of a block, storing the path.

    Each stored point goes straight to its row of the path (a frozen lane
    stores its frozen point x_start). A dense run's block (most steps
    stored) writes every step's point, a step not stored to the last row,
    which x_T overwrites at the end. A sparse run's block runs the steps
    between two stored ones as a loop of plain steps and writes the point
    after it: no write per step (a kernel per step in the loop). Writing
    every step's point to a block buffer and gathering the stored ones at
    the end of each block ran the sweep at 0.6-0.8x the speed of not
    recording paths (`python -m bench.dev.perf paths`).
    """
    plain = partial(_step, loop, impl, t0, None)
    if not loop.spec.record_path:
        return jax.lax.fori_loop(0, n, plain, carry)
    if dense:
        return jax.lax.fori_loop(0, n, partial(_step, loop, impl, t0, PathWrite(plan.rows, alive, x_start)),
                                 carry)

    def segment(j, seg_carry):
        inner, i0 = seg_carry
        # Slots are increasing; a padding slot (0) runs no step and goes to the last row.
        end = jnp.minimum(jnp.maximum(plan.slots[j], i0), n)
        inner = jax.lax.fori_loop(i0, end, plain, inner)
        path = jax.tree.map(lambda p, a: jax.lax.dynamic_update_index_in_dim(p, a, plan.rows[j], 0),
                            inner.path, select(alive, impl[1](inner.state, inner.x), x_start))
        return inner._replace(path=path), end

    carry, i0 = jax.lax.fori_loop(0, jnp.where(n > 0, plan.slots.shape[0], 0), segment,
                                  (carry, jnp.zeros((), jnp.int32)))
    return jax.lax.fori_loop(i0, n, plain, carry)


def _block(loop: Loop, dense: bool, carry: tuple[Carry, Buffers], plan: BlockPlan):
    """One block of a run: its steps, then its bookkeeping (the scan's body)."""
    c, buffers = carry
    vbuf, path = buffers.vbuf, buffers.path
    alive = c.books.div_step == NEVER  # the lanes not diverged before this block
    # vbuf is reused from block to block: entries past a block's length
    # are stale, and masked out or never stored.
    # One loop per implementation; all but the one `which` names run 0 steps.
    # The step counter is not carried through the step loops (one kernel
    # less per step): each block advances it by its length.
    # x_start: where a frozen lane is measured (its frozen point, or the
    # evaluation point of it and its frozen state).
    x_end, value_end, states = c.x, c.value, []
    evals_end, ebuf = c.evals, buffers.ebuf
    counts_of = loop.counts_of or (None,) * len(loop.steps_of)
    for k, ((_, apply_all), point, count) in enumerate(zip(loop.steps_of, loop.points_of, counts_of)):
        n = plan.length if len(loop.steps_of) == 1 else jnp.where(loop.which == k, plan.length, 0)
        x_start = point(c.states[k], c.x) if loop.spec.record_path else c.x
        x_end, state, value_end, vbuf, path, evals_end, ebuf = _block_steps(
            loop, (apply_all, point, count), dense, n, plan, c.t, alive, x_start,
            StepCarry(x_end, c.states[k], value_end, vbuf, path, evals_end, ebuf))
        if loop.spec.evaluated_elsewhere:  # its evaluation point needs the state frozen with the point
            state = select_state(alive, state, c.states[k], loop.state_axes[k])
        states.append(state)
    t = c.t + plan.length
    # Lanes that diverged in an earlier block keep their frozen point (and
    # its loss): they ran this block from it again, unused. A select per
    # block instead of per step; their optimizer state runs on unused.
    x = select(alive, x_end, c.x)
    value = jnp.where(alive, value_end, c.value)
    books, _ = block_books(BlockLosses(vbuf, plan.length, c.t, alive), loop.levels, c.books, loop.spec.one_pass)
    counts = _booked_evals(c, books, ebuf, alive, evals_end) if loop.spec.counted else {}
    # A frozen lane restarted the block from its point, so its first entry is
    # that point's loss. It is taken once, in the first block after the lane
    # froze, and recorded unchanged from then on (and as its final loss): the
    # loops of other blocks (dense or sparse runs) and the final evaluation are
    # other compiled code, and their value of the same point may differ in the
    # last bit (seen on one CPU), while a frozen lane's loss must not change.
    frozen = jnp.where(~alive & jnp.isnan(c.frozen), vbuf[0], c.frozen)
    v_out = jax.lax.dynamic_update_index_in_dim(
        buffers.v_out, jnp.where(alive[None, :], vbuf[plan.slots], frozen[None, :]), plan.index, 0)
    c = Carry(t, x, tuple(states), value, frozen, books, **counts)
    return (c, Buffers(vbuf, v_out, path, ebuf)), None


def _booked_evals(c: Carry, books: Books, ebuf, alive, evals_end) -> dict:
    """The evaluation counts after a block: the first hits and divergences it found read theirs from `ebuf`."""
    rows = ebuf.shape[0]

    def at(steps):  # the evaluations to reach each of these steps of the block (clipped where unused)
        index = jnp.clip(steps - c.t, 0, rows - 1)
        return jnp.take_along_axis(ebuf, index.reshape((-1, index.shape[-1])), axis=0).reshape(steps.shape)

    fresh = (books.hits != NEVER) & (c.books.hits == NEVER)
    hit_evals = jnp.where(fresh, at(books.hits), c.hit_evals)
    diverged = (books.div_step != NEVER) & (c.books.div_step == NEVER)
    div_evals = jnp.where(diverged, at(books.div_step), c.div_evals)
    return dict(evals=jnp.where(alive, evals_end, c.evals), hit_evals=hit_evals, div_evals=div_evals)


def measured_point(spec: ProgramSpec, points_of: tuple, which, states: tuple, x: PyTree) -> PyTree:
    """Where the running implementation (`which`) is measured at x with its state: x, or its evaluation point."""
    if not spec.evaluated_elsewhere:
        return x
    if len(points_of) == 1:
        return points_of[0](states[0], x)
    return jax.lax.switch(which, [partial(point, state) for point, state in zip(points_of, states)], x)


def _final(loop: Loop, c: Carry) -> tuple[Carry, PyTree, jax.Array]:
    """The final point (`measured_point`): its loss and the same checks as every step's; itself; its gradient."""
    x_final = measured_point(loop.spec, loop.points_of, loop.which, c.states, c.x)
    final_value, grad = loop.value_and_grad(x_final, loop.data)
    b = c.books
    alive = b.div_step == NEVER
    final_loss = final_value if loop.spec.loss_first or loop.spec.evaluated_elsewhere else c.value
    # A lane frozen before the last block ends with the loss it records (see `_block`).
    final_loss = jnp.where(alive | jnp.isnan(c.frozen), final_loss, c.frozen)
    ok = alive & finite_below(final_loss, loop.levels.div_level)
    div_step = jnp.where(alive & ~ok, c.t, b.div_step)
    best = jnp.where(ok, jnp.minimum(b.best, final_loss), b.best)
    fresh = ok[None, :] & (final_loss[None, :] <= loop.levels.thresholds) & (b.hits == NEVER)
    hits = jnp.where(fresh, c.t, b.hits)
    n_hit = b.n_hit + jnp.sum(fresh, axis=0, dtype=b.n_hit.dtype)
    c = c._replace(value=final_loss, books=Books(div_step, best, hits, n_hit))
    if loop.spec.counted:
        c = c._replace(hit_evals=jnp.where(fresh, c.evals[None, :], c.hit_evals),
                       div_evals=jnp.where(alive & ~ok, c.evals, c.div_evals))
    return c, x_final, grad


def _evaluations(spec: ProgramSpec, c: Carry) -> tuple[jax.Array, jax.Array]:
    """(hit_evals, evals): the optimizer's evaluations at each first hit and over the run (see the module doc)."""
    b = c.books
    if not spec.counted:  # one evaluation per step: the counts are the steps
        return b.hits, jnp.where(b.div_step != NEVER, b.div_step, c.t)
    return (jnp.where(b.hits != NEVER, c.hit_evals, NEVER),
            jnp.where(b.div_step != NEVER, c.div_evals, c.evals))


def _program(spec: ProgramSpec, inputs: ProgramInputs, path) -> dict[str, jax.Array]:
    """The body of `trajectories`' program (see there)."""
    x0, hp, data, targets, f_ref, init, which = (inputs.x0, inputs.hp, inputs.data, inputs.targets, inputs.f_ref,
                                                 inputs.init, inputs.which)
    n_lanes = jax.tree.leaves(x0)[0].shape[-1]
    loss_all, value_and_grad = lane_functions(spec.loss_fn, n_lanes)
    mb = spec.minibatch
    on_batch = () if mb is None else (mb.loss, minibatch.DATA_AXES)  # what the optimizer evaluates
    # A vmapped state's leaves every lane holds alike stay unbatched (full batch; in minibatch
    # mode every leaf is per lane): a branch on them is then taken, not computed both ways.
    axes_of = tuple(-1 if mb is not None else shared_state_axes(spec, make_tx, x0, hp, data)
                    for make_tx in spec.make_txs)
    steps_of = tuple(optimizer_step(spec, n_lanes, make_tx, *on_batch, state_axes=axes)
                     for make_tx, axes in zip(spec.make_txs, axes_of))
    keys = None if mb is None else minibatch.lane_keys(init["seeds"])
    states0 = tuple(init_all(x0, hp) for init_all, _ in steps_of)
    points_of = tuple(evaluation_point(spec, k, axes_of[k]) for k in range(len(spec.make_txs)))
    counts_of = tuple(evaluation_counter(spec, k, n_lanes, axes_of[k]) for k in range(len(spec.make_txs)))
    f0 = loss_all(measured_point(spec, points_of, which, states0, x0), data)
    scale = jnp.ones_like(f0) if spec.absolute_targets else f0 - f_ref  # absolute: Delta f levels
    thresholds = f_ref + targets[:, None] * scale[None, :]
    # A lane whose start is not finite is diverged at step 0 (level -1).
    div_level = jnp.where(jnp.isfinite(f0), DIVERGENCE_FACTOR * jnp.abs(f0), -1)
    loop = Loop(spec, n_lanes, hp, data, which, keys, Levels(div_level, thresholds), loss_all, value_and_grad,
                steps_of, points_of, counts_of, axes_of)

    # The constant starting values come in as inputs (`initial_buffers`): made
    # on the host, they cost no compiled kernel each (compile time is per kernel).
    c = Carry(
        t=jnp.zeros((), jnp.int32),
        x=x0,
        states=states0,
        value=f0,
        frozen=init["frozen"],
        books=Books(div_step=init["div_step"], best=init["best"], hits=init["hits"], n_hit=init["n_hit"]),
        **({} if not spec.counted else dict(evals=init["evals"], hit_evals=init["hits"], div_evals=init["div_step"])),
    )
    stored_v = []
    for r, (run_spec, rows) in enumerate(zip(schedule.plan(spec.schedule), path_rows(spec.schedule))):
        dense = _dense(run_spec)
        plan = BlockPlan(
            index=np.arange(len(run_spec.lengths), dtype=np.int32),
            length=jnp.asarray(run_spec.lengths),
            slots=jnp.asarray(run_spec.slots),
            rows=(jnp.asarray(rows if dense else _slot_rows(run_spec, rows, len(spec.schedule.stored) - 1))
                  if spec.record_path else None),
        )
        buffers = Buffers(init["vbuf"][r], init["v_out"][r], path, init["ebuf"][r] if spec.counted else ())
        (c, buffers), _ = jax.lax.scan(partial(_block, loop, dense), (c, buffers), plan)
        path = buffers.path
        keep = np.flatnonzero(run_spec.valid.reshape(-1))
        stored_v.append(buffers.v_out.reshape((-1, n_lanes))[keep])
    c, x_final, grad = _final(loop, c)
    hit_evals, evals = _evaluations(spec, c)

    out = dict(
        losses=jnp.concatenate(stored_v + [c.value[None]], axis=0),
        hits=c.books.hits,
        best_loss=c.books.best,
        final_loss=c.value,
        grad_norm=lane_norms(grad),
        diverged_step=c.books.div_step,
        hit_evals=hit_evals,
        evals=evals,
    )
    if spec.record_path:
        out["path"] = jax.tree.map(lambda p, a: jax.lax.dynamic_update_index_in_dim(p, a, p.shape[0] - 1, 0),
                                   path, x_final)
    return out


def trajectories(spec: ProgramSpec) -> Callable[..., dict[str, jax.Array]]:
    """The lanes-last program `run(inputs, path) -> outputs`, `inputs` a `ProgramInputs`.

    x0 and hp hold the lanes on their last axis; `targets` (K,) are relative
    suboptimality levels (decreasing), `f_ref` the optimum they are relative to
    (with `spec.absolute_targets`: Delta f levels above f_ref = f*);
    `init` the constant starting values (`initial_buffers`); `which` the index
    of the implementation in `spec.make_txs` to run; `path` the buffer the
    parameter path is written into (`path_buffer`; `()` without a path), which
    becomes the `path` output: the compiled program takes it donated, so the
    path is written in place, with no copy and no fresh output per run.

    The program scans the blocks of each run of `schedule.plan` with `_block`
    (a `Carry` and the run's `Buffers` from block to block), then checks the
    final point (`_final`).
    """

    def run(inputs: ProgramInputs, path):
        # Hyperparameters of shape (B,) broadcast along the trailing lanes axis.
        with jax.numpy_rank_promotion("allow"):
            return _program(spec, inputs, path)

    return run


def path_rows(sched: Schedule) -> list[np.ndarray]:
    """Per run of `schedule.plan`, (n_blocks, buffer rows): the path row each step of a block goes to.

    The path holds the stored steps in order, the final step T last; a step
    that is not stored goes to that last row, which x_T overwrites at the end.
    """
    stored = sched.points()
    last = len(stored) - 1
    out, t0 = [], 0
    for run in schedule.plan(sched):
        i = np.arange(_buffer_rows(run))[None, :]
        steps = t0 + np.concatenate([[0], np.cumsum(run.lengths)[:-1]])[:, None] + i
        k = np.minimum(np.searchsorted(stored, steps), last)
        out.append(np.where((stored[k] == steps) & (i < run.lengths[:, None]), k, last).astype(np.int32))
        t0 += int(run.lengths.sum())
    return out


def _dense(run) -> bool:
    """Whether a run's blocks store most of their steps (`schedule.plan`'s dense runs)."""
    return 2 * run.slots.shape[1] > run.block_steps


def _slot_rows(run, step_rows: np.ndarray, last: int) -> np.ndarray:
    """(n_blocks, slots) the path row of each stored slot of a run's blocks; padding slots: `last`."""
    return np.where(run.valid, np.take_along_axis(step_rows, run.slots, axis=1), last).astype(np.int32)


def _buffer_rows(run) -> int:
    """A block's buffer length: its longest block, rounded up to whole summaries."""
    return -(-run.block_steps // SUB_STEPS) * SUB_STEPS


def initial_buffers(spec: ProgramSpec, x0: PyTree, n_targets: int, dtype) -> dict:
    """The program's constant starting values and work buffers, lanes-last, as NumPy arrays.

    x0: the (padded) lanes-last starting points; the loss has their dtype.
    The path's buffer is apart (`path_buffer`): it is consumed by each run.
    """
    n_lanes = jax.tree.leaves(x0)[0].shape[-1]
    runs = schedule.plan(spec.schedule)
    counted = dict(evals=np.zeros((n_lanes,), np.int32),
                   ebuf=[np.zeros((_buffer_rows(r), n_lanes), np.int32) for r in runs]) if spec.counted else {}
    return dict(
        **counted,
        frozen=np.full((n_lanes,), np.nan, dtype),
        div_step=np.full((n_lanes,), NEVER, np.int32),
        best=np.full((n_lanes,), np.inf, dtype),
        hits=np.full((n_targets, n_lanes), NEVER, np.int32),
        n_hit=np.zeros((n_lanes,), np.int32),
        vbuf=[np.zeros((_buffer_rows(r), n_lanes), dtype) for r in runs],
        v_out=[np.zeros(r.slots.shape + (n_lanes,), dtype) for r in runs],
    )


def path_buffer(spec: ProgramSpec, x0: PyTree) -> PyTree:
    """The shapes of the parameter path's buffer: per leaf of x0 (lanes-last), (stored points, *leaf).

    `()` when `spec` records no path. Every row is written by a run (see
    `path_rows`), so a run may be given any buffer of these shapes, e.g. the
    previous run's path output (`bench.core.compiled.Program.recycle`).
    """
    if not spec.record_path:
        return ()
    n_points = len(spec.schedule.stored)
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct((n_points,) + a.shape, a.dtype), x0)
