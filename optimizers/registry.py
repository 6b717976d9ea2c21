"""The one registry of optimizers, shared by the tests, the harness and users.

Each entry is an `OptimizerSpec`: our factory, its optax twin, default
hyperparameters, a search space for tuning, and the extra update arguments it
needs (so a generic loop can drive any optimizer). A registered optimizer's
defaults, search space and choices are not written in its spec: they come
from its factory (`OptimizerSpec.declared`), where each hyperparameter is
written once (its default in the signature, its rule, search range and
choices in the `validation.hyperparameters` declaration).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from typing import Any, Callable, Mapping

import optax

#: Extra update arguments an optimizer may need, and how a generic loop provides them:
#:   "value":    update(..., value=f(params))            the loss at the current params
#:   "grad":     update(..., grad=g)                     the gradient (same as `updates`)
#:   "value_fn": update(..., value_fn=f)                 the loss function itself (line search)
#:   "obj_fn":   update(..., obj_fn=f)                   the same, as optax's Hessian estimates name it (Sophia)
#:   "f_min":    make(..., f_min=problem.f_star)         a known optimal value (Polyak)
EXTRA_ARGS = ("value", "grad", "value_fn", "obj_fn", "f_min")
#: The extra arguments the engine passes to `update` (f_min goes to the factory instead).
UPDATE_ARGS = ("value", "grad", "value_fn", "obj_fn")


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """One registered optimizer.

    Attributes:
      name: registry name.
      factory: our factory, `factory(**hyperparameters) -> GradientTransformation`.
      twin: optax's equivalent with the same keyword arguments, or None.
      defaults: default hyperparameters (every keyword `make` accepts).
      search_space: {name: (low, high, "log" | "linear")} for tuning sweeps.
      needs: the extra arguments it needs, a subset of EXTRA_ARGS.
      rule: the update rule in one line (documentation).
      paper: the reference it implements.
      choices: the discrete hyperparameters (boolean switches, variants) and
        the values each may take, e.g. {"centered": (False, True)}.
      notes: where it departs from the paper to match optax (documentation).
      twin_call: how the docs write the twin when it is not an optax
        function of the same keywords, e.g. "optax.sgd(lr, momentum, nesterov=True)".
      elementwise: each coordinate's update depends only on that coordinate's
        gradient and state and on scalars (step count, hyperparameters). The
        harness then runs a whole grid at once by broadcasting hyperparameters
        of shape (B,) along a trailing lanes axis, without `vmap`; optimizers
        that reduce over the parameters (norms, line searches) must say False.
      eval_params: `eval_params(state, params) -> params`, the point the
        optimizer is evaluated at when it is not its iterate (schedule-free
        methods: the averaged sequence), or None (the iterate). Every loss the
        harness records is then taken there (docs/METRICS.md).
      twin_eval_params: the same for the twin's state.
      evals: `evals(state, hyperparams) -> int`, the loss evaluations the
        update that returned `state` made (each call of the loss counts one:
        a value, a gradient, both at once, or a Hessian-vector product; the
        value and gradient at x included), for an optimizer that makes other
        than one per step (line searches, Hessian estimates); None: one per
        step. The harness counts evaluations per lane with it
        (docs/METRICS.md: `evals_to_target`).
      twin_evals: the same for the twin's state.
      detect: the extra arguments, the evaluation point and the evaluations
        (optax's line searches) are read from the
        transformation the factory builds (`optimizers.custom.protocol`): a
        plain factory's spec, which declares neither.
    """

    name: str
    factory: Callable[..., optax.GradientTransformation]
    twin: Callable[..., optax.GradientTransformation] | None
    defaults: Mapping[str, Any]
    search_space: Mapping[str, tuple[float, float, str]]
    needs: frozenset[str] = frozenset()
    rule: str = ""
    paper: str = ""
    choices: Mapping[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    notes: str = ""
    elementwise: bool = False
    twin_call: str = ""
    eval_params: Callable[[Any, Any], Any] | None = None
    twin_eval_params: Callable[[Any, Any], Any] | None = None
    evals: Callable[[Any, Mapping[str, Any]], Any] | None = None
    twin_evals: Callable[[Any, Mapping[str, Any]], Any] | None = None
    detect: bool = False

    @classmethod
    def declared(cls, factory: Callable[..., optax.GradientTransformation], **fields: Any) -> OptimizerSpec:
        """The spec of a factory decorated with `validation.hyperparameters`.

        Its defaults are the factory signature's, its search space and choices
        those declared; `fields` are the others (name, twin, rule, ...). Every
        parameter of the factory must be declared.
        """
        declared = getattr(factory, "hyperparameters", {})
        defaults = signature_defaults(factory)
        undeclared = [n for n in defaults if n not in declared]
        if undeclared:
            raise ValueError(f"optimizer {fields.get('name')!r}: {factory.__name__} does not declare {undeclared}")
        return cls(
            factory=factory,
            defaults=defaults,
            search_space={n: h.search for n, h in declared.items() if h.search is not None},
            choices={n: h.choices for n, h in declared.items() if h.choices is not None},
            **fields,
        )

    def _merged(self, hyperparams: Mapping[str, Any]) -> dict[str, Any]:
        for key in hyperparams:
            if key not in self.defaults:
                close = difflib.get_close_matches(key, list(self.defaults), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"optimizer {self.name!r}: unknown hyperparameter {key!r}{hint} "
                    f"(allowed: {', '.join(self.defaults)})"
                )
        return {**self.defaults, **hyperparams}

    def make(self, **hyperparams: Any) -> optax.GradientTransformation:
        """Our implementation with `hyperparams` over the defaults."""
        return self.factory(**self._merged(hyperparams))

    def baseline(self, **hyperparams: Any) -> optax.GradientTransformation | None:
        """optax's twin with the same hyperparameters, or None if it has none."""
        if self.twin is None:
            return None
        return self.twin(**self._merged(hyperparams))


_SPECS: dict[str, OptimizerSpec] = {}


def signature_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """The keyword defaults of `factory`, in signature order (a spec's `defaults`)."""
    params = inspect.signature(factory).parameters.values()
    missing = [p.name for p in params if p.default is inspect.Parameter.empty]
    if missing:
        raise ValueError(f"{factory.__name__}: parameters without a default: {missing}")
    return {p.name: p.default for p in params}


def register(spec: OptimizerSpec) -> OptimizerSpec:
    """Adds `spec` to the registry; its defaults must name every factory keyword."""
    if spec.name in _SPECS:
        raise ValueError(f"optimizer {spec.name!r} is registered twice")
    unknown = set(spec.needs) - set(EXTRA_ARGS)
    if unknown:
        raise ValueError(f"optimizer {spec.name!r}: unknown needs {sorted(unknown)}")
    params = inspect.signature(spec.factory).parameters
    missing = [p for p in params if p not in spec.defaults]
    if missing:
        raise ValueError(f"optimizer {spec.name!r}: defaults lack {missing}")
    stray = [k for k in (*spec.search_space, *spec.choices) if k not in spec.defaults]
    if stray:
        raise ValueError(f"optimizer {spec.name!r}: search_space/choices name unknown {stray}")
    _SPECS[spec.name] = spec
    return spec


def names() -> list[str]:
    """Sorted names of the registered optimizers."""
    return sorted(_SPECS)


def get(name: str) -> OptimizerSpec:
    """The spec registered under `name`; ValueError listing close matches if unknown."""
    try:
        return _SPECS[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown optimizer {name!r}{hint} (known: {', '.join(names())})") from None
