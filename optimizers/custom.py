"""Your own optimizer, benchmarked without registering it: a plain optax factory or a plugin reference.

    def my_sgd(learning_rate, momentum=0.9):
        return optax.sgd(learning_rate, momentum)

    bench.sweep("rosenbrock", my_sgd, grid={"learning_rate": [1e-3, 1e-2]})

    # in a suite file or on the command line: "module:attribute" or "path/to/file.py:attribute"
    optimizers = ["adam", "mypkg.opt:my_sgd", "my_opts.py:my_sgd"]

`spec_of` makes an `OptimizerSpec` from the factory's signature: its keyword
defaults are the spec's defaults; a parameter without one must be given a value
in the grid; a `learning_rate` parameter gets the registered optimizers' usual
search space (1e-5 to 1, log). It has no optax twin and runs lane by lane
(vmapped: right for any optimizer, elementwise or not), unless it is marked
elementwise (`elementwise(factory)`, or `factory.elementwise = True`): it then
runs as the registered elementwise optimizers do, on every lane at once with
its hyperparameters broadcast along the lanes axis, which is faster
(results/PERFORMANCE.md). The harness checks the mark on a probe before the
cell compiles (`bench.core.protocol.check_layout`) and refuses a factory whose
updates differ between the two layouts.

Elementwise-ness is declared, not detected: no finite probe proves it. A
factory that mixes coordinates only past a threshold (`optax.clip_by_global_norm(1e3)`
before `optax.adam`: no clipping at a probe's gradient norm) or only after
some steps updates a probe alike in both layouts, and would then mix the
lanes of a real run. The probe catches a wrong mark in the usual cases (a
norm or mean over the parameters, shape-dependent rules such as factored or
orthogonalised 2-D updates); the mark is the user's statement. What optax's protocol
asks of the loop driving it is read from the transformation it builds
(`protocol`): the extra update arguments (a `GradientTransformationExtraArgs`
gets them all: `value`, `grad`, `value_fn`, `obj_fn`; a plain one those its
update names as keyword-only parameters) and the evaluation point (optax's
schedule-free state: `optax.contrib.schedule_free_eval_params`). A reference
that names an `OptimizerSpec` is used as it is (its fields then say all of that).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from optax import contrib

from optimizers.registry import UPDATE_ARGS, OptimizerSpec, get, names

class _Required:
    """Marks a hyperparameter without a default: the grid must give it."""

    def __repr__(self) -> str:
        return "<required>"


REQUIRED = _Required()
LEARNING_RATE_SPACE = (1e-5, 1.0, "log")


def is_reference(name: Any) -> bool:
    """A plugin reference ("module:attribute", "file.py:attribute") rather than a registered name."""
    return isinstance(name, str) and ":" in name


def spec_of(factory: Callable[..., optax.GradientTransformation], name: str | None = None) -> OptimizerSpec:
    """An `OptimizerSpec` for a plain factory `factory(**hyperparameters) -> GradientTransformation`."""
    if isinstance(factory, OptimizerSpec):
        return factory
    if not callable(factory):
        raise ValueError(f"optimizer: expected a name, an OptimizerSpec or a factory, got {factory!r}")
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        raise ValueError(f"optimizer {factory!r}: its signature cannot be read") from None
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY) for p in params):
        raise ValueError(f"optimizer {factory!r}: hyperparameters must be named keyword arguments "
                         "(no *args, **kwargs or positional-only parameters)")
    defaults = {p.name: (REQUIRED if p.default is p.empty else p.default) for p in params}
    space = {"learning_rate": LEARNING_RATE_SPACE} if "learning_rate" in defaults else {}
    label = name or getattr(factory, "__name__", None) or repr(factory)
    return OptimizerSpec(name=label, factory=_checked(factory, label), twin=None, defaults=defaults,
                         search_space=space, rule=f"{label} (user-supplied)", detect=True,
                         elementwise=is_marked_elementwise(factory))


def elementwise(factory: Callable[..., optax.GradientTransformation]) -> Callable[..., optax.GradientTransformation]:
    """Marks a plain factory elementwise and returns it (a decorator; the same as `factory.elementwise = True`).

    Elementwise: each coordinate's update depends only on that coordinate's
    gradient, parameter and state, and on scalars (the step count, the
    hyperparameters), as in Adam or SGD with momentum; not on norms, means
    or shapes of the parameters (LAMB, clipping by global norm, Adafactor,
    line searches). Such a factory runs lanes-last, hyperparameters
    broadcast, like the registered elementwise optimizers.
    """
    if isinstance(factory, OptimizerSpec) or not callable(factory):
        raise ValueError(f"optimizers.elementwise: expected a plain optax factory, got {factory!r} "
                         "(an OptimizerSpec says it in its own `elementwise` field)")
    factory.elementwise = True
    return factory


def is_marked_elementwise(factory: Any) -> bool:
    """Whether a plain factory carries the elementwise mark (its `elementwise` attribute is True, not merely truthy)."""
    return getattr(factory, "elementwise", False) is True


def _checked(factory, label: str):
    """The factory, refusing a call that leaves a hyperparameter without a default unset."""
    def make(**hyperparams):
        missing = [k for k, v in hyperparams.items() if v is REQUIRED]
        if missing:
            raise ValueError(f"optimizer {label!r}: {', '.join(missing)} has no default; give it in the grid")
        return factory(**hyperparams)

    make.__signature__ = inspect.signature(factory)
    return make


def load(reference: str) -> OptimizerSpec:
    """The optimizer a reference names: "package.module:attribute" (importable) or "file.py:attribute"."""
    where, _, attribute = reference.rpartition(":")
    if not where or not attribute.isidentifier():
        raise ValueError(f"optimizer {reference!r}: a reference is 'module:attribute' or 'file.py:attribute'")
    try:
        if where.endswith(".py"):
            path = Path(where)
            module_name = f"gdbench_plugin_{path.stem}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or not path.is_file():
                raise ValueError(f"optimizer {reference!r}: no such file {where!r}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's module: any import error is bad input
        raise ValueError(f"optimizer {reference!r}: cannot import {where!r} ({type(e).__name__}: {e})") from None
    if not hasattr(module, attribute):
        raise ValueError(f"optimizer {reference!r}: {where!r} has no attribute {attribute!r}")
    return spec_of(getattr(module, attribute), name=reference)


def resolve(optimizer: str | OptimizerSpec | Callable[..., optax.GradientTransformation]) -> OptimizerSpec:
    """Any way of naming an optimizer: a registered name, a plugin reference, a spec or a factory."""
    if isinstance(optimizer, OptimizerSpec):
        return optimizer
    if is_reference(optimizer):
        return load(optimizer)
    if isinstance(optimizer, str):
        return get(optimizer)
    return spec_of(optimizer)


def is_users(spec: OptimizerSpec) -> bool:
    """Whether `spec` is not one of the registry's (a plain factory, a plugin, a user's own spec)."""
    return spec.name not in names() or get(spec.name) is not spec


def update_needs(tx: optax.GradientTransformation) -> frozenset[str]:
    """The extra update arguments a built transformation takes.

    A `GradientTransformationExtraArgs` accepts any keyword and uses those it
    knows (optax's convention; a chain's update shows only `**extra_args`), so
    it gets every one the engine can supply: those it does not use cost
    nothing once compiled. A plain `GradientTransformation` gets the
    keyword-only parameters of its update. ValueError for a keyword-only
    parameter without a default that the engine cannot supply.
    """
    try:
        params = inspect.signature(tx.update).parameters.values()
    except (TypeError, ValueError):
        params = ()
    keyword_only = [p for p in params if p.kind == p.KEYWORD_ONLY]
    unknown = [p.name for p in keyword_only if p.name not in UPDATE_ARGS and p.default is p.empty]
    if unknown:
        raise ValueError(f"its update needs {', '.join(unknown)}; the benchmark supplies {', '.join(UPDATE_ARGS)}")
    if isinstance(tx, optax.GradientTransformationExtraArgs):
        return frozenset(UPDATE_ARGS)
    return frozenset(p.name for p in keyword_only if p.name in UPDATE_ARGS)


def eval_params_of(tx: optax.GradientTransformation, params: Any) -> Callable | None:
    """The evaluation function a built transformation's state calls for, or None (its iterate).

    optax's schedule-free methods (`optax.contrib.schedule_free*`) are read at
    their averaged sequence: their state is a `ScheduleFreeState`. The state's
    type is found without running anything (`jax.eval_shape`).
    """
    state = jax.eval_shape(tx.init, params)
    if isinstance(state, contrib.ScheduleFreeState):
        return contrib.schedule_free_eval_params
    return None


#: optax's line-search states, and the trials of the last search they hold (each one call of the loss).
LINESEARCH_STATES = (optax.ScaleByZoomLinesearchState, optax.ScaleByBacktrackingLinesearchState)


def linesearch_evaluations(state: Any, hyperparams: Any = None) -> jax.Array:
    """The evaluations of the update that returned `state`: 1 (at x) plus the trials of each optax line search in it."""
    del hyperparams
    found = [node for node in jax.tree.leaves(state, is_leaf=lambda n: isinstance(n, LINESEARCH_STATES))
             if isinstance(node, LINESEARCH_STATES)]
    return 1 + sum(node.info.num_linesearch_steps for node in found)


#: optax.contrib.sophia's own Hessian interval, that of a plain factory whose hyperparameters do not name one.
SOPHIA_INTERVAL = inspect.signature(contrib.sophia).parameters["update_interval"].default


def _sophia_refreshes(state: Any, interval) -> jax.Array:
    """The Hessian-vector products of the update that returned `state`: one per optax.contrib.sophia in it
    whose pre-update step count was a multiple of `interval` (optax refreshes its estimate then)."""
    found = [node for node in jax.tree.leaves(state, is_leaf=lambda n: isinstance(n, contrib.SophiaState))
             if isinstance(node, contrib.SophiaState)]
    return sum(((node.count - 1) % interval == 0).astype(jnp.int32) for node in found)


def optax_evaluations(state: Any, hyperparams: Any = None) -> jax.Array:
    """The evaluations of the update that returned `state`, read from optax's states in it: 1 (the value and
    gradient at x), each line search's trials, and each optax.contrib.sophia's Hessian-vector product
    (on its refresh steps, every `update_interval` of the hyperparameters, else optax's default)."""
    interval = (hyperparams or {}).get("update_interval", SOPHIA_INTERVAL)
    return linesearch_evaluations(state) + _sophia_refreshes(state, interval)


def _check_sophia_interval(tx: optax.GradientTransformation, params: Any, interval: int) -> None:
    """Runs `tx` for interval + 1 steps, counting its calls of obj_fn, and raises ValueError unless it
    refreshes exactly at steps 0 and `interval`: a factory that fixes another interval inside would
    otherwise be counted wrong."""
    calls = []
    probe = jax.tree.map(lambda a: jnp.full(a.shape, 0.5, a.dtype), params)

    def obj_fn(x):
        jax.debug.callback(lambda: calls.append(1))
        return sum(jnp.sum(jnp.square(a)) for a in jax.tree.leaves(x))

    @jax.jit
    def step(x, state):
        grad = jax.grad(lambda x: sum(jnp.sum(jnp.square(a)) for a in jax.tree.leaves(x)))(x)
        updates, state = tx.update(grad, state, x, obj_fn=obj_fn)
        return optax.apply_updates(x, updates), state

    x, state, refreshed = probe, tx.init(probe), []
    for _ in range(int(interval) + 1):
        before = len(calls)
        x, state = step(x, state)
        jax.effects_barrier()
        refreshed.append(len(calls) > before)
    expected = [k % int(interval) == 0 for k in range(int(interval) + 1)]
    if refreshed != expected:
        raise ValueError(f"it holds an optax.contrib.sophia whose Hessian interval is not {interval} (its "
                         "hyperparameters' update_interval, else optax's default): make update_interval a "
                         "parameter of the factory, so that its evaluations can be counted")


def evals_of(tx: optax.GradientTransformation, params: Any, hyperparams: dict | None = None) -> Callable | None:
    """The evaluation counter a built transformation's state calls for (`OptimizerSpec.evals`), or None (one per step).

    optax's line searches (`scale_by_zoom_linesearch`, as in `optax.lbfgs`, and
    `scale_by_backtracking_linesearch`) keep the trials of their last search in
    their state; optax.contrib.sophia keeps its step count, from which its
    Hessian refreshes follow (checked on a probe: `_check_sophia_interval`);
    other optimizers are counted one evaluation per step.
    """
    state = jax.eval_shape(tx.init, params)
    kinds = (*LINESEARCH_STATES, contrib.SophiaState)
    found = [n for n in jax.tree.leaves(state, is_leaf=lambda n: isinstance(n, kinds)) if isinstance(n, kinds)]
    if not found:
        return None
    if any(isinstance(n, contrib.SophiaState) for n in found):
        _check_sophia_interval(tx, params, (hyperparams or {}).get("update_interval", SOPHIA_INTERVAL))
    return optax_evaluations


def evaluations(spec: OptimizerSpec, make: Callable[..., optax.GradientTransformation], hyperparams: dict,
                params: Any, twin: bool = False) -> Callable | None:
    """One implementation's evaluation counter: the spec's declared one, or, for a spec that
    `detect`s it, that of `make(**hyperparams)` (`evals_of`)."""
    if not spec.detect:
        return spec.twin_evals if twin else spec.evals
    return evals_of(make(**hyperparams), params, hyperparams)


def protocol(spec: OptimizerSpec, make: Callable[..., optax.GradientTransformation], hyperparams: dict,
             params: Any, twin: bool = False) -> tuple[frozenset[str], Callable | None]:
    """`(needs, eval_params)` of one implementation: the spec's declared ones, or, for a spec
    that `detect`s them, those of `make(**hyperparams)` (`update_needs`, `eval_params_of`).

    `needs` are update arguments only (f_min goes to the factory); `twin`
    picks the twin's declared evaluation function.
    """
    if not spec.detect:
        declared = spec.twin_eval_params if twin else spec.eval_params
        return update_args(spec, None), declared
    tx = make(**hyperparams)
    return update_args(spec, tx), eval_params_of(tx, params)


def update_args(spec: OptimizerSpec, tx: optax.GradientTransformation | None) -> frozenset[str]:
    """The extra update arguments of `spec`'s transformation `tx`: declared, or read from tx (`detect`)."""
    if spec.detect:
        return update_needs(tx)
    return frozenset(n for n in spec.needs if n in UPDATE_ARGS)
