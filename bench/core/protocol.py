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
knows such cells before it compiles anything. A plain factory marked
elementwise (`optimizers.elementwise`) runs lanes-last; `check_layout` first
holds its updates to lane-by-lane ones on a probe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
from typing import Any, Callable, Iterator, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.core import engine, lanewise
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
    per implementation (`engine.ProgramSpec.eval_params`), None when all are measured
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
    """Per implementation, its evaluation counter (`engine.ProgramSpec.evals`), None when all make one per step."""
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


#: The layout probe (`check_layout`): lanes, steps, and the relative difference allowed between the
#: two layouts' updates. Both compute the same float64 arithmetic per coordinate, only laid out
#: differently, so they differ in the last bits at most (XLA may vectorise or contract a multiply-add
#: differently: a few ulps, ~1e-15, per step); an update that mixes coordinates (a norm, a mean over
#: the parameters or the lanes) differs at the order of the update itself.
PROBE_LANES = 3
PROBE_STEPS = 3
PROBE_RTOL = 1e-9


def check_layout(spec: OptimizerSpec, pspec: engine.ProgramSpec, start: Any, hp: Mapping[str, np.ndarray],
                 data: Any) -> None:
    """ConfigError unless a user's optimizer marked elementwise updates lanes-last as it does lane by lane.

    The probe: PROBE_LANES lanes with the cell's own hyperparameters (lanes
    spread over `hp`, one program's traced values), points near `start`
    (one lane's starting point) and random gradients, PROBE_STEPS steps, in
    float64, each implementation's updates computed both ways (`lanewise.optimizer_step`'s
    two layouts, in one small jitted program) and compared. Registered optimizers and unmarked ones are not probed.
    """
    if not (spec.elementwise and custom.is_users(spec)):
        return
    rng = np.random.default_rng(0)
    n = len(next(iter(hp.values()))) if hp else 1
    pick = np.linspace(0, n - 1, PROBE_LANES).round().astype(int)
    # hyperparameters of shape (lanes,) broadcast along the trailing lanes axis, as in the engine's program
    with jax.enable_x64(True), jax.numpy_rank_promotion("allow"), \
            guarded(spec, "probed for its layout (it is marked elementwise)"):
        hp64 = {k: jnp.asarray(np.asarray(v, np.float64)[pick]) for k, v in hp.items()}
        data64 = jax.tree.map(np.array, data)  # fresh arrays: JAX caches a NumPy array's conversion per object
        x = jax.tree.map(
            lambda a: np.asarray(a, np.float64)[..., None] + rng.standard_normal(np.shape(a) + (PROBE_LANES,)), start)
        grads = [jax.tree.map(lambda a: rng.standard_normal(a.shape), x) for _ in range(PROBE_STEPS)]
        lane_loss = jax.vmap(pspec.loss_fn, in_axes=(-1, None))
        for make_tx in pspec.make_txs:
            layouts = [lanewise.optimizer_step(dataclasses.replace(pspec, elementwise=e), PROBE_LANES, make_tx)
                       for e in (True, False)]

            @jax.jit  # one small program: cheaper than compiling each operation of an unjitted run
            def probe(x, grads, hp, data):
                out = []
                for init, apply in layouts:
                    xs, state, steps = x, init(x, hp), []
                    for g in grads:
                        new, state = apply(xs, state, hp, data, lane_loss(xs, data), g)
                        steps.append((jax.tree.map(jnp.subtract, new, xs), new))
                        xs = new
                    out.append(steps)
                return out

            lanes_last, by_lane = jax.device_get(probe(x, grads, hp64, data64))
            worst = max(_relative_difference(a, b, at) for (a, _), (b, at) in zip(lanes_last, by_lane))
            if not worst <= PROBE_RTOL:
                raise ConfigError("optimizer", f"{spec.name} is marked elementwise, but its updates with every lane "
                                  f"at once differ from those lane by lane (relative difference {worst:.2g} on a "
                                  "probe): it mixes coordinates (a norm, a mean, a shape-dependent rule); remove the "
                                  "mark")


def _relative_difference(a: Any, b: Any, at: Any) -> float:
    """The largest difference between two steps' displacements, per leaf relative to `b`'s largest
    entry (inf where they differ in which entries are finite; 0 where they are equal).

    A displacement is `x' - x`: its rounding is that of x' (`at`), so up to 4 ulps of x' count as equal
    (a tiny learning rate's update would otherwise read as a large relative difference).
    """
    worst = 0.0
    eps = np.finfo(np.float64).eps
    for u, v, w in zip(jax.tree.leaves(a), jax.tree.leaves(b), jax.tree.leaves(at)):
        if np.array_equal(u, v, equal_nan=True):
            continue
        if not np.array_equal(np.isfinite(u), np.isfinite(v)):
            return float("inf")
        finite = np.isfinite(v)
        scale = np.max(np.abs(v[finite]), initial=0.0)
        excess = np.abs(u - v)[finite] - 4 * eps * np.abs(np.asarray(w))[finite]
        worst = max(worst, float(np.max(excess, initial=0.0) / max(scale, np.finfo(np.float64).tiny)))
    return worst


def check_traces(problem, spec: OptimizerSpec, config: Mapping[str, Any], dtype: str) -> None:
    """OptimizerFailed (see `guarded`) unless a user's optimizer builds and traces one step on `problem`.

    `config`: one configuration of its grid (the other hyperparameters keep
    their defaults). Only traced (`jax.eval_shape`), not compiled: cheap
    enough to run for every cell before a suite starts; a factory marked
    elementwise is probed too (`check_layout`: one small compiled program).
    Registered optimizers are not checked.
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
            updates, state = tx.update(grad, state, x, **lanewise.extra_args(needs, value, grad, loss, data))
            x = optax.apply_updates(x, updates)
            return loss(x if evaluate is None else evaluate(state, x), data)

        jax.eval_shape(step, x0, problem.data)
    if spec.elementwise:  # a plain factory marked elementwise: its probe too, before a suite writes anything
        traced = {k: np.asarray([v], np.float64) for k, v in dict(config).items()
                  if isinstance(v, numbers.Real) and not isinstance(v, (bool, numbers.Integral))}
        static = {k: v for k, v in hp.items() if k not in traced}
        pspec = engine.ProgramSpec(loss_fn=loss, make_txs=(lambda h: spec.make(**static, **h),), needs=needs, schedule=None)
        check_layout(spec, pspec, x0, traced, problem.data)
