"""Each optimizer's compiled step, ours and optax's twin, on a diagonal quadratic of n = 1e2, 1e4, 1e6.

A timed call runs `perfkit.steps_per_call(n)` steps in one compiled
`fori_loop` (compiled before timing; the call waits for the result). extra_info
holds the median time per step, XLA's flops and bytes accessed of one step
(its own compiled program: XLA counts a loop's body once, whatever the trip
count, so the loop's figures would not say per what), the relative
suboptimality after one call, the device and JAX's version.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import optax
import pytest
from perfkit import SIZES, device_fields, steps_per_call, timed, xla_cost

import optimizers
import problems

CONDITION_NUMBER = 100.0


def _step_fn(tx: optax.GradientTransformation, loss, needs: frozenset[str]):
    """One optimizer step x, state -> x', state', giving the optimizer the extra arguments it needs."""
    def step(x, state, data):
        if "value" in needs:
            value, grad = jax.value_and_grad(loss)(x, data)
        else:
            value, grad = None, jax.grad(loss)(x, data)
        extra = {"value": value, "grad": grad, "value_fn": lambda p: loss(p, data), "obj_fn": lambda p: loss(p, data)}
        updates, state = tx.update(grad, state, x, **{k: v for k, v in extra.items() if k in needs})
        return optax.apply_updates(x, updates), state

    return step


@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"n1e{round(math.log10(n))}")
@pytest.mark.parametrize("impl", ["gdbench", "optax"])
@pytest.mark.parametrize("name", optimizers.names())
def test_step(benchmark, name, impl, n):
    benchmark.group = f"step n=1e{round(math.log10(n))}"
    spec = optimizers.get(name)
    p = problems.get("quadratic", dim=n, condition_number=CONDITION_NUMBER, rotate=False)
    args = {"f_min": float(p.f_star)} if "f_min" in spec.needs else {}
    tx = spec.make(**args) if impl == "gdbench" else spec.baseline(**args)
    loss = lambda x, data: p.fn(x, data, None)
    step = _step_fn(tx, loss, spec.needs - {"f_min"})
    k = steps_per_call(n)

    def run(x, state, data):
        return jax.lax.fori_loop(0, k, lambda i, c: step(*c, data), (x, state))

    data = jax.device_put(jax.tree.map(lambda a: np.asarray(a, np.float32), p.data))
    x0 = jax.device_put(p.init(jax.random.PRNGKey(0), np.float32))
    state0 = tx.init(x0)
    compiled = jax.jit(run).lower(x0, state0, data).compile()
    one_step = jax.jit(step).lower(x0, state0, data).compile()

    x1, _ = timed(benchmark, lambda: jax.block_until_ready(compiled(x0, state0, data)), per_call=k, unit="step")

    f = jax.jit(loss)
    f_star = float(p.f_star)
    subopt = (float(f(x1, data)) - f_star) / (float(f(x0, data)) - f_star)
    subopt = subopt if np.isfinite(subopt) else None  # diverged: null (JSON has no NaN or infinity)
    benchmark.extra_info.update(optimizer=name, impl=impl, n=n, problem=f"quadratic(dim={n}, condition_number="
                                f"{CONDITION_NUMBER:g}, rotate=False)", rel_subopt_after_call=subopt,
                                **xla_cost(one_step), **device_fields())
