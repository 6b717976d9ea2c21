"""The compiled cost of one optimizer step: what XLA says the step program does.

For one (problem, optimizer, impl, dtype) on one lane (no lanes axis) with the
optimizer's default hyperparameters, the step `x, state -> x', state'` (the
loss and its gradient, the update, applying it) is jitted, lowered and
compiled as the engine compiles its programs (same per-program XLA options),
and its compiled form is summarised:

  flops, bytes_accessed, transcendentals  XLA's cost analysis of the optimized
                                          HLO (`compiled.cost_analysis()`)
  fusions                                 the fused kernels of the optimized HLO: its
                                          `fusion` instructions (`compiled.as_text()`)

These are counts over the optimized program, not measurements: for one JAX/XLA
version and backend they are the same on every run and every CPU of that
backend (XLA:CPU's HLO passes do not depend on the CPU's vector extensions),
so `gdbench compare` gates them exactly, and a change names an optimizer whose
compiled step changed (more arithmetic, more memory traffic, a lost fusion).
"""

from __future__ import annotations

import re

import jax
import numpy as np
import optax
import pandas as pd

import optimizers
import problems
from bench.core import lanewise, xla

METRICS = ("flops", "bytes_accessed", "transcendentals", "fusions")
COLUMNS = ("problem", "instance", "optimizer", "impl", "dtype", *METRICS)
_COST_KEYS = {"flops": "flops", "bytes_accessed": "bytes accessed", "transcendentals": "transcendentals"}
_FUSION = re.compile(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*\S.*?\sfusion\(", re.MULTILINE)


def _analysis(compiled) -> dict[str, float]:
    """`cost_analysis()` as one dict: a dict in recent jax, a list of one dict per program in older ones."""
    raw = compiled.cost_analysis()
    if isinstance(raw, (list, tuple)):
        raw = raw[0] if raw else {}
    return dict(raw or {})


def count_fusions(hlo_text: str) -> int:
    """The `fusion` instructions (one kernel each) in an optimized HLO module's text."""
    return len(_FUSION.findall(hlo_text))


def step_function(problem: problems.Problem, spec: optimizers.OptimizerSpec, impl: str, required=None):
    """`(init, step)` of one lane with default hyperparameters: step(x, state, data) -> (x', state').

    `required`: values for the hyperparameters without a default (a user's
    factory, `optimizers.custom`), e.g. the first of the grid's.
    """
    hp = {**spec.defaults, **dict(required or {})}
    if "f_min" in spec.needs and problem.f_star is not None:
        hp["f_min"] = float(problem.f_star)
    tx = (spec.make if impl == "gdbench" else spec.baseline)(**hp)

    def loss(x, data):
        return problem.fn(x, data, None)

    def step(x, state, data):
        value, grad = jax.value_and_grad(loss)(x, data)
        extra = lanewise.extra_args(optimizers.custom.update_args(spec, tx), value, grad, loss, data)
        updates, state = tx.update(grad, state, x, **extra)
        return optax.apply_updates(x, updates), state

    return tx.init, step


def step_costs(problem: problems.Problem, optimizer: str, impl: str = "gdbench", dtype: str = "float32",
               device=None, required=None) -> dict[str, float]:
    """The compiled cost of one step (METRICS) of `optimizer` (`impl`: gdbench or optax) on `problem`."""
    from bench.core.cells import precision

    spec = optimizers.resolve(optimizer)
    device = device or jax.devices()[0]
    with precision(dtype):
        init, step = step_function(problem, spec, impl, required)
        x = jax.device_put(problem.init(jax.random.PRNGKey(0), np.dtype(dtype)), device)
        data = jax.device_put(problem.data, device)
        state = jax.jit(init)(x)
        compiled = jax.jit(step).lower(x, state, data).compile(
            compiler_options=xla.compile_options(device.platform))
        analysis = _analysis(compiled)
        out = {m: float(analysis.get(k, 0.0)) for m, k in _COST_KEYS.items()}  # XLA leaves out zeros
        out["fusions"] = float(count_fusions(compiled.as_text()))
    return out


def table(problem: problems.Problem, optimizer: str, impls, dtype: str, instance: str, device=None,
          grid=None) -> pd.DataFrame:
    """The costs rows (COLUMNS) of one cell: one per implementation. A hyperparameter without
    a default takes the first of its `grid` values."""
    spec = optimizers.resolve(optimizer)
    required = {k: v[0] for k, v in dict(grid or {}).items() if spec.defaults.get(k) is optimizers.custom.REQUIRED}
    rows = [{"problem": problem.name, "instance": instance, "optimizer": optimizer, "impl": impl, "dtype": dtype,
             **step_costs(problem, optimizer, impl, dtype, device, required)} for impl in impls]
    return pd.DataFrame(rows, columns=list(COLUMNS))
