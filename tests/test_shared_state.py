"""A vmapped optimizer's state leaves that every lane holds alike stay unbatched (`lanewise.shared_state_axes`).

Under vmap a `lax.cond` on a per-lane value becomes a select that computes both
branches every step; on a step count that every lane shares, it stays one branch
for all lanes (Sophia's Hessian every k steps). What is checked here: which leaves
are found shared (the step counts and keys, not a counter a lane's own gradient
drives), and that a sweep with both kinds of branch gives each lane the
trajectory of a plain loop over that lane alone.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optax import contrib

import bench
import optimizers
import problems
from bench.core import engine, lanewise

LANES = 4


def branching_sgd(learning_rate):
    """SGD whose step is scaled by two branches: on its step count (the same in every lane) and on
    how often its own gradient was large (per lane). Neither is elementwise-marked: it is vmapped."""
    def init(params):
        return (jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

    def update(grads, state, params=None):
        steps, large = state
        norm2 = sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads))
        large = large + (norm2 > 1.0).astype(jnp.int32)
        per_lane = jax.lax.cond(large % 2 == 0, lambda: 1.0, lambda: 0.5)
        shared = jax.lax.cond(steps % 3 == 0, lambda: 2.0, lambda: 1.0)
        return jax.tree.map(lambda g: -learning_rate * per_lane * shared * g, grads), (steps + 1, large)

    return optax.GradientTransformation(init, update)


def _axes(make_tx, needs=frozenset(), elementwise=False):
    p = problems.get("quadratic", dim=6, condition_number=10.0)
    x0 = np.repeat(np.asarray(p.init(jax.random.PRNGKey(0)))[..., None], LANES, axis=-1)
    hp = {"learning_rate": np.geomspace(1e-3, 1e-2, LANES).astype(np.float32)}
    spec = engine.ProgramSpec(loss_fn=lambda x, data: p.fn(x, data, None), make_txs=(make_tx,), needs=needs,
                              schedule=None, elementwise=elementwise)
    return lanewise.shared_state_axes(spec, make_tx, x0, hp, p.data)


def test_step_counts_and_keys_are_shared_a_gradient_driven_counter_is_not():
    ours = _axes(lambda h: optimizers.get("sophia").make(**h), frozenset({"obj_fn"}))[0]
    assert (ours.count, ours.key, ours.mu, ours.nu) == (None, None, -1, -1)
    twin = _axes(lambda h: contrib.sophia(**h), frozenset({"obj_fn"}))[0]
    assert (twin.count, twin.hessian_fn_state.key, twin.mu) == (None, None, -1)
    lbfgs = _axes(lambda h: optax.lbfgs(**h), frozenset({"value", "grad", "value_fn"}))
    assert lbfgs[0].count is None and lbfgs[2].info.num_linesearch_steps == -1  # its trials differ per lane
    assert _axes(lambda h: branching_sgd(**h)) == (None, -1)
    assert _axes(lambda h: optax.adam(**h)) == -1  # vmapped, but no cond: nothing to gain, no search
    marked = optimizers.get("adam")
    assert _axes(lambda h: marked.make(**h), elementwise=marked.elementwise) == -1  # not vmapped: none shared


def _plain_loop(learning_rate, x0, loss, steps):
    tx = branching_sgd(learning_rate)

    def body(carry, _):
        x, state = carry
        updates, state = tx.update(jax.grad(loss)(x), state, x)
        x = optax.apply_updates(x, updates)
        return (x, state), loss(x)

    (_, _), losses = jax.lax.scan(body, (x0, tx.init(x0)), None, length=steps)
    return np.asarray(jnp.concatenate([loss(x0)[None], losses]))


@pytest.mark.parametrize("record_path", [False, True])
def test_a_sweep_with_shared_and_per_lane_branches_follows_each_lane_alone(record_path):
    """Learning rates far apart, so that the lanes' gradient-driven counters part ways early: a counter
    wrongly shared would give every lane one lane's branch. Both sides are float64 runs of the same
    arithmetic in two compiled programs (rounding apart in the last bits per step): 1e-9 relative over
    300 steps is far below a wrong branch (a step halved or doubled changes the leading digits)."""
    steps, lrs, args = 300, [0.01, 0.03, 0.06, 0.1], {"dim": 6, "condition_number": 10.0}
    p = problems.get("quadratic", **args)
    runs = bench.sweep("quadratic", branching_sgd, grid={"learning_rate": lrs}, steps=steps, dtype="float64",
                       repeats=1, problem_args=args, record_path=record_path)
    with jax.enable_x64(True):
        x0 = p.init(jax.random.PRNGKey(0), np.float64)
        loss = lambda x: p.fn(x, p.data, None)  # noqa: E731
        for lr in lrs:
            row = runs[np.isclose(runs["learning_rate"], lr)].iloc[0]
            losses = _plain_loop(lr, x0, loss, steps)
            assert np.all(np.isfinite(losses)) and row["diverged_step"] == -1, lr
            np.testing.assert_allclose(float(row["final_loss"]), losses[-1], rtol=1e-9, atol=1e-14, err_msg=lr)
            np.testing.assert_allclose(float(row["best_loss"]), np.nanmin(losses), rtol=1e-9, atol=1e-14)


def test_the_lanes_counters_part_ways():
    """The sweep above checks a per-lane branch only if the lanes take it differently: they do."""
    p = problems.get("quadratic", dim=6, condition_number=10.0)
    with jax.enable_x64(True):
        x0 = p.init(jax.random.PRNGKey(0), np.float64)
        loss = lambda x: p.fn(x, p.data, None)  # noqa: E731
        counts = []
        for lr in (0.01, 0.1):
            tx = branching_sgd(lr)
            x, state = x0, tx.init(x0)
            for _ in range(300):
                updates, state = tx.update(jax.grad(loss)(x), state, x)
                x = optax.apply_updates(x, updates)
            counts.append(int(state[1]))
    assert counts[0] != counts[1], counts


def test_the_vmap_cost_cases_compile_as_the_benchmark_runs_them():
    """`python -m bench.dev.vmap_cost` (results/PERFORMANCE.md section 8) builds each case as a plain factory
    with its fixed hyperparameters as parameters: every case prepares, and Sophia every step is counted so."""
    from bench.dev import vmap_cost

    for case in vmap_cost.CASES:
        cell = vmap_cost._prepared(case, lanes=2, steps=20)
        assert len(cell.groups) == 1, case
    every_step = vmap_cost._prepared("sophia (Hessian every step)", lanes=2, steps=20)
    every_step.time(1, keep_outputs=True)
    assert list(every_step.groups[0].outputs["evals"]) == [40, 40]  # a gradient and a Hessian product per step
