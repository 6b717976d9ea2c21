"""The engine: one cell's whole grid of trajectories as one compiled XLA program.

A *lane* is one trajectory: one hyperparameter configuration and one seed. The
program advances every lane of a cell together inside `lax.scan` loops: no
Python and no host synchronisation per step. Its layout follows what was
measured fastest on XLA:CPU without changing the arithmetic: every array keeps
its lanes on the LAST axis (parameters of shape (*leaf_shape, B)), the
per-step bookkeeping (first hits, best loss, divergence) lives in the loop
carry, and lanes are split over the available devices with `shard_map`.

Per lane the program returns, computed on the device:
  losses       the loss at the recorded steps (see `bench.schedule`)
  path         the parameters at the recorded steps (when asked)
  hits         for each target, the first step whose loss is at or under it
               (checked at every step), -1 if never
  best_loss    the lowest finite loss reached before any divergence
  final_loss   the loss at the last point (the frozen point if diverged)
  grad_norm    the gradient's 2-norm at the last point
  diverged_step  the step whose loss was non-finite or above
               DIVERGENCE_FACTOR x |f(x_0)|, -1 if none; from there on the
               lane's point is frozen while the other lanes go on

Step t is the point after t updates; x_0 is step 0.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from bench import schedule
from bench.schedule import Schedule

PyTree = Any
LANES = "lanes"
DIVERGENCE_FACTOR = 1e6
NEVER = -1


@dataclasses.dataclass(frozen=True)
class Cell:
    """What one program computes: a loss, an optimizer, a schedule.

    Attributes:
      loss_fn: pure full-batch loss `loss_fn(x, data) -> scalar`.
      make_tx: builds the optimizer from a dict of (possibly traced) scalars.
      needs: extra update arguments the optimizer takes ("value", "grad", "value_fn").
      schedule: which steps' losses are stored.
      record_path: store the parameters at the recorded steps too.
      elementwise: the optimizer updates each coordinate from that coordinate
        and scalars only, so it can run on all lanes at once by broadcasting.
    """

    loss_fn: Callable[[PyTree, PyTree], jax.Array]
    make_tx: Callable[[Mapping[str, jax.Array]], optax.GradientTransformation]
    needs: frozenset[str]
    schedule: Schedule
    record_path: bool = False
    elementwise: bool = False


def _lanes_like(mask: jax.Array, a: jax.Array) -> jax.Array:
    """Broadcasts a per-lane (B,) array against a lanes-last array explicitly."""
    return jnp.broadcast_to(mask.reshape((1,) * (a.ndim - 1) + mask.shape), a.shape)


def _select(mask: jax.Array, new: PyTree, old: PyTree) -> PyTree:
    """Per lane of lanes-last pytrees: `new` where mask, else `old`."""
    return jax.tree.map(lambda a, b: jnp.where(_lanes_like(mask, a), a, b), new, old)


def _lane_losses(loss_fn):
    """Loss of every lane, and the gradient in the lanes-last layout.

    The gradient is taken of the SUM of the lane losses: lanes are independent,
    so it is each lane's gradient, and the backward pass stays lanes-last
    (vmapping `value_and_grad` itself would put lanes first and transpose).
    """
    per_lane = jax.vmap(loss_fn, in_axes=(-1, None), out_axes=-1)

    def total(x, data):
        values = per_lane(x, data)
        return jnp.sum(values), values

    def value_and_grad(x, data):
        (_, values), grad = jax.value_and_grad(total, has_aux=True)(x, data)
        return values, grad

    return per_lane, value_and_grad


def _lane_norms(tree: PyTree) -> jax.Array:
    """The 2-norm of each lane of a lanes-last pytree."""
    squares = [jnp.sum(jnp.square(a).reshape(-1, a.shape[-1]), axis=0) for a in jax.tree.leaves(tree)]
    return jnp.sqrt(sum(squares))


def _extra_args(needs, value, grad, loss_fn, data) -> dict:
    extra = {}
    if "value" in needs:
        extra["value"] = value
    if "grad" in needs:
        extra["grad"] = grad
    if "value_fn" in needs:
        extra["value_fn"] = lambda p: loss_fn(p, data)
    return extra


def optimizer_step(cell: Cell):
    """`(init, step)` over all lanes: step(x, state, hp, data) -> (value, x', state').

    An elementwise optimizer (each coordinate's update depends on that
    coordinate and on scalars only) runs directly on the lanes-last arrays, its
    hyperparameters of shape (B,) broadcasting along the lanes: the same
    arithmetic as one lane at a time, without any transpose. Any other one
    (line search, Polyak: they reduce over the parameters) is vmapped per lane.
    """
    per_lane, value_and_grad = _lane_losses(cell.loss_fn)
    if cell.elementwise:

        def init(x, hp):
            return cell.make_tx(hp).init(x)

        def step(x, state, hp, data):
            value, grad = value_and_grad(x, data)
            extra = _extra_args(cell.needs, value, grad, per_lane, data)
            updates, state = cell.make_tx(hp).update(grad, state, x, **extra)
            return value, optax.apply_updates(x, updates), state

        return init, step

    lane_vg = jax.value_and_grad(cell.loss_fn)

    def init_lane(x, hp):
        return cell.make_tx(hp).init(x)

    def step_lane(x, state, hp, data):
        value, grad = lane_vg(x, data)
        extra = _extra_args(cell.needs, value, grad, cell.loss_fn, data)
        updates, state = cell.make_tx(hp).update(grad, state, x, **extra)
        return value, optax.apply_updates(x, updates), state

    init = jax.vmap(init_lane, in_axes=-1, out_axes=-1)
    step = jax.vmap(step_lane, in_axes=(-1, -1, -1, None), out_axes=-1)
    return init, step


def _first_hits(values, t0, best, thresholds, hits, n_hit):
    """Fills in the targets first reached within one block of stored losses.

    values: (L, B) losses of the block's steps, +inf where not valid; best: the
    running minimum including this block. Thresholds decrease with the target
    index, so the targets reached form a prefix and each lane's first hits come
    in order: level n_hit (the first unreached) is found as the first step at or
    under its threshold, then the next level, while any lane has more.
    """
    levels = jnp.arange(thresholds.shape[0], dtype=jnp.int32)[:, None]
    positions = jnp.arange(values.shape[0], dtype=jnp.int32)[:, None]
    reached = jnp.sum(best[None, :] <= thresholds, axis=0, dtype=jnp.int32)
    never = jnp.iinfo(jnp.int32).max

    def more(carry):
        n, _ = carry
        return jnp.any(n < reached)

    def next_level(carry):
        n, hits = carry
        at_n = levels == n[None, :]
        level = jnp.sum(jnp.where(at_n, thresholds, 0), axis=0)
        first = jnp.min(jnp.where(values <= level[None, :], positions, never), axis=0)
        todo = n < reached
        hits = jnp.where(at_n & todo[None, :], t0 + first[None, :], hits)
        return n + todo.astype(jnp.int32), hits

    return jax.lax.while_loop(more, next_level, (n_hit, hits))


def trajectories(cell: Cell) -> Callable[..., dict[str, jax.Array]]:
    """The lanes-last program `run(x0, hp, data, targets, f_ref) -> outputs`.

    x0 and hp hold the lanes on their last axis; `targets` (K,) are relative
    suboptimality levels (decreasing), `f_ref` the optimum they are relative to.
    """
    init_all, step_all = optimizer_step(cell)
    loss_all, value_and_grad = _lane_losses(cell.loss_fn)
    runs = schedule.plan(cell.schedule)

    def run(x0, hp, data, targets, f_ref):
        # Hyperparameters of shape (B,) broadcast along the trailing lanes axis.
        with jax.numpy_rank_promotion("allow"):
            return _run(x0, hp, data, targets, f_ref)

    def _run(x0, hp, data, targets, f_ref):
        f0 = loss_all(x0, data)
        n_lanes = f0.shape[-1]
        thresholds = f_ref + targets[:, None] * (f0 - f_ref)[None, :]
        div_level = DIVERGENCE_FACTOR * jnp.abs(f0)

        def block(run_spec):
            def step(i, carry):
                t, x, state, alive, div_step, vbuf, xbuf = carry
                value, x_new, state = step_all(x, state, hp, data)
                bad = ~jnp.isfinite(value) | (jnp.abs(value) > div_level)
                div_step = jnp.where(alive & bad, t, div_step)
                vbuf = jax.lax.dynamic_update_index_in_dim(vbuf, value, i, 0)
                if cell.record_path:
                    xbuf = jax.tree.map(lambda b, a: jax.lax.dynamic_update_index_in_dim(b, a, i, 0), xbuf, x)
                # A diverged lane keeps its last point. Its optimizer state runs on
                # unused: selecting the state too was measured to change how XLA:CPU
                # fuses the update, and so its rounding, in the other lanes.
                ok = alive & ~bad
                x = _select(ok, x_new, x)
                return t + 1, x, state, ok, div_step, vbuf, xbuf

            def body(carry, block_xs):
                t0, x, state, alive, div_step, best, hits, n_hit = carry
                length, slots = block_xs
                vbuf = jnp.zeros((run_spec.block_steps, n_lanes), f0.dtype)
                xbuf = (
                    jax.tree.map(lambda a: jnp.zeros((run_spec.block_steps,) + a.shape, a.dtype), x)
                    if cell.record_path
                    else ()
                )
                t, x, state, alive, div_step, vbuf, xbuf = jax.lax.fori_loop(
                    0, length, step, (t0, x, state, alive, div_step, vbuf, xbuf)
                )
                steps = t0 + jnp.arange(run_spec.block_steps, dtype=jnp.int32)[:, None]
                live = (steps < t) & ((div_step[None, :] == NEVER) | (steps < div_step[None, :]))
                values = jnp.where(live, vbuf, jnp.inf)
                best = jnp.minimum(best, jnp.min(values, axis=0))
                n_hit, hits = _first_hits(values, t0, best, thresholds, hits, n_hit)
                stored = (vbuf[slots], jax.tree.map(lambda b: b[slots], xbuf))
                return (t, x, state, alive, div_step, best, hits, n_hit), stored

            return body

        carry = (
            jnp.zeros((), jnp.int32),
            x0,
            init_all(x0, hp),
            jnp.ones((n_lanes,), bool),
            jnp.full((n_lanes,), NEVER, jnp.int32),
            jnp.full_like(f0, jnp.inf),
            jnp.full((targets.shape[0], n_lanes), NEVER, jnp.int32),
            jnp.zeros((n_lanes,), jnp.int32),
        )
        stored_v, stored_x = [], []
        for run_spec in runs:
            xs = (jnp.asarray(run_spec.lengths), jnp.asarray(run_spec.slots))
            carry, (v, xp) = jax.lax.scan(block(run_spec), carry, xs)
            keep = np.flatnonzero(run_spec.valid.reshape(-1))
            stored_v.append(v.reshape((-1, n_lanes))[keep])
            stored_x.append(jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:])[keep], xp))
        t, x, _, alive, div_step, best, hits, n_hit = carry

        # The final point x_T: its loss and gradient, and the same checks.
        final_loss, grad = value_and_grad(x, data)
        bad = ~jnp.isfinite(final_loss) | (jnp.abs(final_loss) > div_level)
        div_step = jnp.where(alive & bad, t, div_step)
        ok = alive & ~bad
        best = jnp.where(ok, jnp.minimum(best, final_loss), best)
        fresh = ok[None, :] & (final_loss[None, :] <= thresholds) & (hits == NEVER)
        hits = jnp.where(fresh, t, hits)

        out = dict(
            losses=jnp.concatenate(stored_v + [final_loss[None]], axis=0),
            hits=hits,
            best_loss=best,
            final_loss=final_loss,
            grad_norm=_lane_norms(grad),
            diverged_step=div_step,
        )
        if cell.record_path:
            out["path"] = jax.tree.map(
                lambda *leaves: jnp.concatenate(leaves, axis=0), *stored_x, jax.tree.map(lambda a: a[None], x)
            )
        return out

    return run


def _lane_spec(ndim: int) -> P:
    return P(*([None] * (ndim - 1)), LANES)


def _out_specs(cell: Cell, x0: PyTree) -> dict:
    """Every output keeps its lanes on the last axis (see `trajectories`)."""
    specs = dict(
        losses=_lane_spec(2),
        hits=_lane_spec(2),
        best_loss=_lane_spec(1),
        final_loss=_lane_spec(1),
        grad_norm=_lane_spec(1),
        diverged_step=_lane_spec(1),
    )
    if cell.record_path:
        specs["path"] = jax.tree.map(lambda a: _lane_spec(np.ndim(a) + 1), x0)
    return specs


def make_mesh(devices: list) -> Mesh:
    return Mesh(np.asarray(devices), (LANES,))


@dataclasses.dataclass
class Program:
    """A compiled cell program with its inputs on the device(s).

    Calling it runs every lane once and returns the outputs as NumPy arrays
    with the padding lanes dropped; `time` runs it and returns the seconds,
    waiting for the device (`block_until_ready`) but not copying anything back.
    """

    compiled: Any
    args: tuple
    n_lanes: int
    compile_s: float  # tracing, lowering and XLA compilation
    mesh: Mesh
    trace_s: float = 0.0  # of which tracing and lowering

    def _args(self, f_ref: float | None) -> tuple:
        if f_ref is None:
            return self.args
        ref = jax.device_put(np.asarray(f_ref, self.args[4].dtype), NamedSharding(self.mesh, P()))
        return self.args[:4] + (ref,)

    def __call__(self, f_ref: float | None = None) -> dict[str, Any]:
        out = jax.block_until_ready(self.compiled(*self._args(f_ref)))
        return jax.tree.map(lambda a: np.asarray(a)[..., : self.n_lanes], out)

    def time(self, f_ref: float | None = None) -> float:
        args = self._args(f_ref)
        start = time.perf_counter()
        jax.block_until_ready(self.compiled(*args))
        return time.perf_counter() - start


def compile_program(cell: Cell, x0: PyTree, hp: Mapping[str, np.ndarray], data: PyTree,
                    targets: np.ndarray, f_ref: float, devices: list, dtype) -> Program:
    """Lowers and compiles `cell` ahead of time for lanes-last inputs x0 and hp.

    Lanes are padded (with copies of lane 0) to a multiple of the number of
    devices and split over them; the padding is dropped from the outputs.
    """
    mesh = make_mesh(devices)
    n_lanes = jax.tree.leaves(x0)[0].shape[-1]
    pad = (-n_lanes) % mesh.size

    def lanes(a):
        a = np.asarray(a)
        if pad:
            a = np.concatenate([a, np.repeat(a[..., :1], pad, axis=-1)], axis=-1)
        return jax.device_put(a, NamedSharding(mesh, _lane_spec(a.ndim)))

    def replicated(a):
        return jax.device_put(a, NamedSharding(mesh, P()))

    cast = lambda a: np.asarray(a, dtype) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
    args = (
        jax.tree.map(lambda a: lanes(cast(a)), x0),
        {k: lanes(cast(v)) for k, v in hp.items()},
        jax.tree.map(lambda a: replicated(cast(a)), data),
        replicated(np.asarray(targets, dtype)),
        replicated(np.asarray(f_ref, dtype)),
    )
    in_specs = (
        jax.tree.map(lambda a: _lane_spec(a.ndim), args[0]),
        {k: _lane_spec(1) for k in args[1]},
        jax.tree.map(lambda _: P(), args[2]),
        P(),
        P(),
    )
    program = jax.shard_map(
        trajectories(cell), mesh=mesh, in_specs=in_specs, out_specs=_out_specs(cell, x0), check_vma=False
    )
    start = time.perf_counter()
    lowered = jax.jit(program).lower(*args)
    traced = time.perf_counter()
    compiled = lowered.compile()
    done = time.perf_counter()
    return Program(compiled, args, n_lanes, done - start, mesh, trace_s=traced - start)
