"""A factory's hyperparameters, declared once: the values each may take and where tuning looks.

    @check.hyperparameters(
        learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log")),
        b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
        nesterov=check.Hyperparameter(check.SWITCH, choices=(False, True)),
    )
    def adam(learning_rate=1e-3, b1=0.9, *, nesterov=False): ...

The default of each is the factory's signature's (written there only); the
declaration holds the rest. From it come the factory's checks of concrete
arguments, and a registered optimizer's search space and choices
(`OptimizerSpec.declared`). A bare rule (`value=check.FINITE`) declares a
hyperparameter that is not tuned (the schedules' arguments).

Each failure is one ValueError naming the factory, the parameter, its value and
the allowed range, e.g. ``adam: b1 must be in [0, 1), got 1.5``. Traced values
(inside `jit`, `vmap`, or `optax.inject_hyperparams` under `jit`) cannot be
checked and are not: the checks run when a factory is called, never in a step.
The declarations stay on the factory as `factory.hyperparameters`, their rules
as `factory.rules` (tests and docs read them).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

INF = math.inf
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class Interval(NamedTuple):
    """The numbers a hyperparameter may take.

    Attributes:
      low, high: the ends (may be infinite; an infinite end is always open).
      low_closed, high_closed: whether each end is allowed.
      schedule: whether a schedule (a callable of the step count) is allowed.
      optional: whether None (the feature off) is allowed.
      integer: whether only integers are allowed.
    """

    low: float
    high: float
    low_closed: bool = True
    high_closed: bool = False
    schedule: bool = False
    optional: bool = False
    integer: bool = False

    def __str__(self) -> str:
        def fmt(x: float) -> str:
            return "inf" if x == INF else "-inf" if x == -INF else f"{x:g}"

        text = f"{'[' if self.low_closed else '('}{fmt(self.low)}, {fmt(self.high)}{']' if self.high_closed else ')'}"
        if self.schedule:
            text += " or a schedule"
        if self.optional:
            text += " or None"
        return text

    def admits(self, arr: np.ndarray) -> bool:
        above = arr >= self.low if self.low_closed else arr > self.low
        below = arr <= self.high if self.high_closed else arr < self.high
        whole = arr == np.round(arr) if self.integer else True
        return bool(np.all(above & below & whole))


#: A rule: an Interval for numbers, or a tuple of the allowed values (switches, variants).
Rule = Interval | tuple

STEP_SIZE = Interval(0.0, INF, low_closed=False, schedule=True)
DECAY = Interval(0.0, 1.0)
OPTIONAL_DECAY = Interval(0.0, 1.0, optional=True)
NONNEGATIVE = Interval(0.0, INF)
NONNEGATIVE_OR_SCHEDULE = Interval(0.0, INF, schedule=True)
POSITIVE = Interval(0.0, INF, low_closed=False)
FRACTION = Interval(0.0, 1.0, low_closed=False)
AT_LEAST_ONE = Interval(1.0, INF)
FINITE = Interval(-INF, INF, low_closed=False)
COUNT = Interval(0.0, INF, integer=True)
SWITCH = (False, True)


@dataclasses.dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a factory (its default is the factory signature's).

    Attributes:
      allowed: the values a call may give it (an Interval, or a tuple of values).
      search: (low, high, "log" | "linear"): the range a tuning sweep draws it
        from, or None (not tuned as a number).
      choices: the discrete values a tuning sweep tries (switches, variants),
        or None.
    """

    allowed: Rule
    search: tuple[float, float, str] | None = None
    choices: tuple[Any, ...] | None = None


def _show(value: Any) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0 and arr.dtype.kind in "biuf":
        return repr(arr.item())
    return repr(value)


def check(owner: str, name: str, value: Any, rule: Rule) -> None:
    """Raises ValueError unless a concrete `value` satisfies `rule`; tracers pass unchecked."""
    if not isinstance(rule, Interval):
        if not any(value is a or (type(value) is type(a) and value == a) for a in rule):
            raise ValueError(f"{owner}: {name} must be one of {rule}, got {value!r}")
        return
    if value is None and rule.optional or callable(value) and rule.schedule:
        return
    try:
        if isinstance(value, (bool, str)) or value is None or callable(value):
            raise TypeError
        if isinstance(value, int) and not INT32_MIN <= value <= INT32_MAX:
            raise TypeError  # JAX makes a Python int an int32 (x64 off): this one would overflow in a step
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim != 0:  # one value (a list would broadcast against the parameters, or be empty)
            raise TypeError
    except jax.errors.TracerArrayConversionError:
        return  # traced: its value is not known here
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{owner}: {name} must be {'an integer' if rule.integer else 'a number'} in {rule}, "
                         f"got {value!r}") from None
    if not rule.admits(arr):
        raise ValueError(f"{owner}: {name} must be {'an integer ' if rule.integer else ''}in {rule}, "
                         f"got {_show(value)}")


def _declaration_errors(name: str, h: Hyperparameter, default: Any) -> list[str]:
    """What is wrong with one declaration: a default, search end or choice its rule refuses."""
    errors = []
    values = ([] if default is inspect.Parameter.empty else [("default", default)])
    if h.search is not None:
        low, high, scale = h.search
        if not (low < high and scale in ("log", "linear") and (scale == "linear" or low > 0)):
            errors.append(f"{name}'s search {h.search} is not (low < high, 'log' (low > 0) or 'linear')")
        values += [("search low", low), ("search high", high)]
    values += [("choice", c) for c in h.choices or ()]
    for what, value in values:
        try:
            check("", name, value, h.allowed)
        except ValueError:
            errors.append(f"{name}'s {what} {value!r} is not in {h.allowed}")
    return errors


def hyperparameters(**declared: Hyperparameter | Rule) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: declares a factory's hyperparameters and checks its concrete arguments on each call.

    Each keyword names a parameter of the factory: a `Hyperparameter`, or a bare
    rule for one that is not tuned. A default, search range end or choice that
    its own rule refuses is a TypeError here, when the module is imported.
    """
    declared = {n: h if isinstance(h, Hyperparameter) else Hyperparameter(h) for n, h in declared.items()}

    def wrap(factory: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(factory)
        unknown = set(declared) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{factory.__name__}: rules for unknown parameters {sorted(unknown)}")
        errors = [e for n, h in declared.items() for e in _declaration_errors(n, h, signature.parameters[n].default)]
        if errors:
            raise TypeError(f"{factory.__name__}: declaration refused by its own rules: {'; '.join(errors)}")

        @functools.wraps(factory)
        def checked(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for name, h in declared.items():
                check(factory.__name__, name, bound.arguments[name], h.allowed)
            return factory(*args, **kwargs)

        checked.hyperparameters = dict(declared)
        checked.rules = {n: h.allowed for n, h in declared.items()}
        return checked

    return wrap
