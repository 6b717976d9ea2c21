"""Functions over lanes-last pytrees: every lane's loss, gradient, optimizer step and evaluation point.

A lane is one trajectory (`bench.core.engine`); its arrays hold the lanes on their
LAST axis. These are the per-step pieces the engine's loop is made of, apart so
that the memory estimate (`bench.core.memory`), the protocol checks
(`bench.core.protocol`) and the cost measurement (`bench.tracking.costs`) build
the very same step without the loop. `spec` is always a `bench.core.engine.ProgramSpec`
(not imported: the engine imports this module).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import optax

PyTree = Any


def lanes_like(mask: jax.Array, a: jax.Array) -> jax.Array:
    """Broadcasts a per-lane (B,) array against a lanes-last array explicitly."""
    return jnp.broadcast_to(mask.reshape((1,) * (a.ndim - 1) + mask.shape), a.shape)


def select(mask: jax.Array, new: PyTree, old: PyTree) -> PyTree:
    """Per lane of lanes-last pytrees: `new` where mask, else `old`."""
    return jax.tree.map(lambda a, b: jnp.where(lanes_like(mask, a), a, b), new, old)


def lane_functions(loss_fn, n_lanes: int, data_axes=None):
    """`(loss, value_and_grad)` of every lane of lanes-last pytrees: (B,) losses, lanes-last gradients.

    `data_axes`: None where every lane shares `data`, else a prefix tree of
    `data` marking the parts that hold one entry per lane (-1, lanes-last).

    The gradient is that of the SUM of the lane losses: lanes are independent,
    so it is each lane's gradient, and the backward pass stays lanes-last
    (vmapping `grad` itself would put the lanes first and transpose). A single
    lane drops its lanes axis instead of vmapping over it: XLA reduces a
    (n, 1) array far slower than an (n,) one.
    """
    if n_lanes == 1:
        squeeze = partial(jax.tree.map, lambda a: a[..., 0])
        expand = partial(jax.tree.map, lambda a: a[..., None])
        lane_data = (lambda d: d) if data_axes is None else partial(squeeze_lanes, data_axes)

        def loss(x, data):
            return loss_fn(squeeze(x), lane_data(data))[None]

        def value_and_grad(x, data):
            value, grad = jax.value_and_grad(loss_fn)(squeeze(x), lane_data(data))
            return value[None], expand(grad)

        return loss, value_and_grad

    per_lane = jax.vmap(loss_fn, in_axes=(-1, data_axes), out_axes=-1)

    def total(x, data):
        values = per_lane(x, data)
        return jnp.sum(values), values

    def value_and_grad(x, data):
        (_, values), grad = jax.value_and_grad(total, has_aux=True)(x, data)
        return values, grad

    return per_lane, value_and_grad


def squeeze_lanes(data_axes, data):
    """`data` of a single lane: the parts with lanes (axis -1) lose that axis."""
    return jax.tree.map(lambda axis, d: d if axis is None else jax.tree.map(lambda a: a[..., 0], d),
                        data_axes, data, is_leaf=lambda a: a is None)


def lane_norms(tree: PyTree) -> jax.Array:
    """The 2-norm of each lane of a lanes-last pytree."""
    squares = [jnp.sum(jnp.square(a).reshape(-1, a.shape[-1]), axis=0) for a in jax.tree.leaves(tree)]
    return jnp.sqrt(sum(squares))


def extra_args(needs, value, grad, loss_fn, data) -> dict:
    """The extra update arguments `needs` names, for the loss `loss_fn(params, data)` at value and grad."""
    extra = {}
    if "value" in needs:
        extra["value"] = value
    if "grad" in needs:
        extra["grad"] = grad
    if "value_fn" in needs:
        def value_fn(params, obj_fn=None):
            # optax's line searches hand value_fn every extra argument its
            # signature names and refuse the others: it names (and ignores)
            # obj_fn, so that both can be supplied to a chain.
            del obj_fn
            return loss_fn(params, data)

        extra["value_fn"] = value_fn
    if "obj_fn" in needs:
        extra["obj_fn"] = lambda params: loss_fn(params, data)
    return extra


def _lane_step(spec, make_tx, loss_fn):
    """`(init, apply)`: the optimizer as optax runs it, on one lane (or, elementwise, on all at once)."""
    def init_lane(x, hp):
        return make_tx(hp).init(x)

    def apply_lane(x, state, hp, data, value, grad):
        extra = extra_args(spec.needs, value, grad, loss_fn, data)
        updates, state = make_tx(hp).update(grad, state, x, **extra)
        return optax.apply_updates(x, updates), state

    return init_lane, apply_lane


def optimizer_step(spec, n_lanes: int, make_tx, loss_fn=None, data_axes=None, state_axes=-1):
    """`(init, apply)` over all lanes: apply(x, state, hp, data, value, grad) -> (x', state').

    `loss_fn` (default `spec.loss_fn`) and `data_axes` (see `lane_functions`)
    are those of the loss the optimizer may evaluate (line searches).

    An elementwise optimizer (each coordinate's update depends on that
    coordinate and on scalars only) runs directly on the lanes-last arrays, its
    hyperparameters of shape (B,) broadcasting along the lanes: the same
    arithmetic as one lane at a time, without any transpose. Any other one
    (line search, Polyak: they reduce over the parameters) is vmapped lane by lane,
    its state lanes-last but for the leaves `state_axes` marks None (`shared_state_axes`).
    """
    if spec.elementwise:
        # the one-lane step as it is, on every lane at once (its loss: every lane's losses)
        return _lane_step(spec, make_tx, lane_functions(loss_fn or spec.loss_fn, n_lanes, data_axes)[0])

    init_lane, apply_lane = _lane_step(spec, make_tx, loss_fn or spec.loss_fn)
    init = jax.vmap(init_lane, in_axes=-1, out_axes=state_axes)
    apply = jax.vmap(apply_lane, in_axes=(-1, state_axes, -1, data_axes, -1, -1), out_axes=(-1, state_axes))
    return init, apply


def _has_cond(jaxpr) -> bool:
    """Whether a (closed) jaxpr holds a `cond` (`lax.cond`, `lax.switch`), in any nested jaxpr too."""
    inner = getattr(jaxpr, "jaxpr", jaxpr)
    for eqn in inner.eqns:
        if eqn.primitive.name == "cond":
            return True
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                if hasattr(sub, "eqns") or hasattr(getattr(sub, "jaxpr", None), "eqns"):
                    if _has_cond(sub):
                        return True
    return False


def shared_state_axes(spec, make_tx, x, hp, data) -> PyTree:
    """The vmap axes of a vmapped optimizer's state: None for the leaves every lane holds alike, else -1.

    Shared: the integer leaves (step counts, random keys) that no lane's own
    input reaches, found by tracing (a leaf whose init or update comes out
    batched is per lane). vmap then keeps them unbatched, so a `lax.cond` on
    them (Sophia's Hessian every k steps) stays one branch taken for all lanes
    instead of a select that computes both branches every step. The values are
    those every lane would hold alone. x, hp, data: the full-batch program's
    lanes-last inputs (arrays or shapes). -1 (every leaf per lane) for an
    elementwise optimizer, which runs without vmap, and for an update without
    a `cond`, which has nothing to gain (found on one lane's trace, so that
    the search's traces are spent only where they pay).
    """
    if spec.elementwise:
        return -1
    init_lane, apply_lane = _lane_step(spec, make_tx, spec.loss_fn)
    shape = lambda tree: jax.tree.map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), tree)
    x, hp, data = shape(x), shape(hp), shape(data)
    value = jax.ShapeDtypeStruct(jax.tree.leaves(x)[0].shape[-1:], jax.tree.leaves(x)[0].dtype)
    lane = lambda tree: jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[:-1], a.dtype), tree)
    x1, hp1, value1 = lane(x), lane(hp), lane(value)
    state1 = jax.eval_shape(init_lane, x1, hp1)
    if not _has_cond(jax.make_jaxpr(apply_lane)(x1, state1, hp1, data, value1, x1)):
        return -1
    leaves, treedef = jax.tree.flatten(state1)
    axes = lambda shared: jax.tree.unflatten(treedef, [None if i in shared else -1 for i in range(len(leaves))])

    def init_state(shared):
        """init's state, lanes-last but for the leaves `shared`; None where one of those comes out batched."""
        try:
            return jax.eval_shape(jax.vmap(init_lane, in_axes=-1, out_axes=axes(shared)), x, hp)
        except ValueError:  # an output marked None came out batched: it is per lane
            return None

    def update_keeps(shared, state, out) -> bool:
        """Whether the update, given the leaves `shared` unbatched, returns the leaves `out` unbatched."""
        try:
            jax.eval_shape(jax.vmap(apply_lane, in_axes=(-1, axes(shared), -1, None, -1, -1),
                                    out_axes=(-1, axes(out))), x, state, hp, data, value, x)
            return True
        except ValueError:
            return False

    shared = {i for i, leaf in enumerate(leaves) if not jnp.issubdtype(leaf.dtype, jnp.inexact)}
    state = init_state(shared) if shared else None
    if shared and state is None:
        shared = {i for i in shared if init_state({i}) is not None}
        state = init_state(shared) if shared else None
    while shared:  # the largest set whose leaves the update keeps unbatched when they come in so
        if update_keeps(shared, state, shared):
            break
        shared = {i for i in shared if update_keeps(shared, state, {i})}
        state = init_state(shared) if shared else None
    return axes(shared) if shared else -1


def evaluation_point(spec, k: int, state_axes=-1):
    """Implementation k's `point(state, x)` over all lanes: where it is measured (`ProgramSpec.eval_params`).

    The iterate x itself when it has no evaluation function.
    """
    f = None if spec.eval_params is None else spec.eval_params[k]
    if f is None:
        return lambda state, x: x
    if spec.elementwise:
        return f
    return jax.vmap(f, in_axes=(state_axes, -1), out_axes=-1)


def evaluation_counter(spec, k: int, n_lanes: int, state_axes=-1):
    """Implementation k's `count(state, hp) -> (B,)` evaluations of its last update, or None (one per step)."""
    f = None if spec.evals is None else spec.evals[k]
    if f is None:
        return None
    if spec.elementwise:
        return lambda state, hp: jnp.broadcast_to(jnp.asarray(f(state, hp), jnp.int32), (n_lanes,))
    return jax.vmap(lambda state, hp: jnp.asarray(f(state, hp), jnp.int32), in_axes=(state_axes, -1), out_axes=-1)


def select_state(mask: jax.Array, new: PyTree, old: PyTree, state_axes=-1) -> PyTree:
    """`select` for optimizer states; leaves without a lanes axis, the same for every lane,
    are taken from `new`: an elementwise state's scalars, and a vmapped state's leaves that
    `state_axes` marks None (`shared_state_axes`)."""
    if state_axes == -1:
        return jax.tree.map(lambda a, b: a if jnp.ndim(a) == 0 else jnp.where(lanes_like(mask, a), a, b), new, old)
    return jax.tree.map(lambda axis, a, b: a if axis is None else jnp.where(lanes_like(mask, a), a, b),
                        state_axes, new, old, is_leaf=lambda axis: axis is None)
