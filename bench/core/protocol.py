"""What optax's protocol asks of the engine for one cell's optimizer, and one line when a user's fails.

An optimizer may need extra update arguments (`value`, `grad`, `value_fn`,
`obj_fn`) and may be measured away from its iterate (`eval_params`: schedule-free
methods). A registered optimizer declares both in its spec; a plain factory's
are read from the transformation it builds (`optimizers.custom.protocol`).
A user's optimizer (not one of the registry's) that fails while it is built,
traced or compiled is bad input: `guarded` turns the failure into an
`OptimizerFailed` naming it (a ConfigError: one line). `bench.sweep` raises it
(exit 2 from the CLI); a suite records that cell as failed and runs the others
(bench/runs/runner.py). `check_traces` traces one step of it, so that a suite
knows such cells before it compiles anything.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Mapping

import jax
import numpy as np
import optax

from bench.core import engine
from bench.errors import ConfigError
from optimizers import custom
from optimizers.registry import OptimizerSpec

MESSAGE_CHARS = 300  # an error's first line is cut here: the line must stay one line


class OptimizerFailed(ConfigError):
    """A user's optimizer failed while built, traced or compiled (`guarded`): bad input, of one cell."""


def of_cell(spec: OptimizerSpec, impls: tuple[str, ...], hyperparams: Mapping[str, Any],
            params: Any) -> tuple[frozenset[str], tuple[Callable | None, ...] | None]:
    """`(needs, eval_params)` for a cell running `impls` ("gdbench", "optax") of `spec`.

    `needs`: the update arguments any of them takes; `eval_params`: one entry
    per implementation (`engine.Cell.eval_params`), None when all are measured
    at their iterate. `params`: one lane's starting point.
    """
    needs, evals = frozenset(), []
    for impl in impls:
        twin = impl == "optax"
        with guarded(spec, "built"):
            n, f = custom.protocol(spec, spec.baseline if twin else spec.make, dict(hyperparams), params, twin=twin)
        needs |= n
        evals.append(f)
    return needs, (tuple(evals) if any(f is not None for f in evals) else None)


def counters(spec: OptimizerSpec, impls: tuple[str, ...], hyperparams: Mapping[str, Any],
             params: Any) -> tuple[Callable | None, ...] | None:
    """Per implementation, its evaluation counter (`engine.Cell.evals`), None when all make one per step."""
    found = []
    for impl in impls:
        twin = impl == "optax"
        with guarded(spec, "built"):
            found.append(custom.evaluations(spec, spec.baseline if twin else spec.make, dict(hyperparams), params,
                                            twin=twin))
    return tuple(found) if any(f is not None for f in found) else None


@contextlib.contextmanager
def guarded(spec: OptimizerSpec, doing: str = "traced or compiled") -> Iterator[None]:
    """For a user's optimizer, any failure inside becomes OptimizerFailed("optimizer", one line).

    ConfigError passes as it is; a registered optimizer's failures too (they are bugs, with their traceback).
    """
    if not custom.is_users(spec):
        yield
        return
    try:
        yield
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's code: any failure is bad input
        raise OptimizerFailed("optimizer", f"{spec.name} failed while {doing}: {one_line(e)}") from None


def one_line(error: BaseException) -> str:
    """`Type: first line of the message`, at most MESSAGE_CHARS characters.

    A message quoting a traceback (XLA's, of an error raised in a host
    callback) ends with the error that caused it: its last line is added.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if first.endswith("Traceback (most recent call last):") and len(lines) > 1:
        first = f"{first[: -len('Traceback (most recent call last):')].rstrip()} {lines[-1]}"
    text = f"{type(error).__name__}: {first}".rstrip(": ")
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


def check_traces(problem, spec: OptimizerSpec, config: Mapping[str, Any], dtype: str) -> None:
    """OptimizerFailed (see `guarded`) unless a user's optimizer builds and traces one step on `problem`.

    `config`: one configuration of its grid (the other hyperparameters keep
    their defaults). Only traced (`jax.eval_shape`), not compiled: cheap
    enough to run for every cell before a suite starts. Registered
    optimizers are not checked.
    """
    if not custom.is_users(spec):
        return
    hp = {**spec.defaults, **dict(config)}
    if "f_min" in spec.needs and problem.f_star is not None:
        hp["f_min"] = float(problem.f_star)

    def loss(x, data):
        return problem.fn(x, data, None)

    with jax.enable_x64(dtype == "float64"), guarded(spec, "traced"):
        x0 = problem.init(jax.random.PRNGKey(0), np.dtype(dtype))
        needs, evals = of_cell(spec, ("gdbench",), hp, x0)
        evaluate = None if evals is None else evals[0]
        tx = spec.make(**hp)

        def step(x, data):
            state = tx.init(x)
            value, grad = jax.value_and_grad(loss)(x, data)
            updates, state = tx.update(grad, state, x, **engine.extra_args(needs, value, grad, loss, data))
            x = optax.apply_updates(x, updates)
            return loss(x if evaluate is None else evaluate(state, x), data)

        jax.eval_shape(step, x0, problem.data)
