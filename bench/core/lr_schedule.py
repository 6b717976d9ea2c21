"""A run's learning-rate schedule: the `schedule` option, and the optimizer it schedules.

    schedule = { name = "warmup_cosine", warmup_steps = 40, end_value = 0.0 }   # a suite file
    bench.sweep(..., schedule={"name": "warmup_cosine", "warmup_steps": 40})
    gdbench run --schedule warmup_cosine,warmup_steps=40,end_value=0

The swept (or default) `learning_rate` is the schedule's peak; the schedule is
a function of the optimizer's own step count (0 on the first update, optax's
convention) and ends at the run's `steps`:

  constant       the learning rate at every step (the default; None)
  cosine         cosine decay from the peak to end_value (no warm-up)
  warmup_cosine  linear warm-up from 0 over warmup_steps, then cosine decay to end_value
  linear         linear warm-up from 0 over warmup_steps, then linear decay to end_value
  wsd            warmup-stable-decay: warm-up, the peak, then linear decay to end_value
                 over the last decay_fraction x steps (never starting inside the warm-up)

A schedule's parameters are reserved grid names while it is set: a grid (or a
list of configurations) may sweep them as it sweeps hyperparameters, each
configuration's value overriding the schedule's own. `scheduled` makes the
optimizer's spec take them as hyperparameters, so grids, configurations, the
runs table's columns and `hyperparams` carry them like any other. Step counts
(warmup_steps, decay_fraction) stay Python numbers: each value compiles its own
program; end_value may be traced. An optimizer with a hyperparameter of the
same name cannot be scheduled (the name would be ambiguous).

Exempt: schedule-free methods (an evaluation point other than the iterate:
they average in place of a schedule) and an optimizer whose declared
learning_rate rule takes no schedule (rprop: its learning_rate is each
coordinate's initial step size) are refused with one line, as is an optimizer
without a learning_rate.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import numbers
from typing import Any, Mapping

import jax.numpy as jnp

from bench.errors import ConfigError
from optimizers import schedules
from optimizers.registry import OptimizerSpec

#: Each schedule's parameters, in the order the runs table's `schedule` column writes them.
SCHEDULES: dict[str, tuple[str, ...]] = {
    "constant": (),
    "cosine": ("end_value",),
    "warmup_cosine": ("warmup_steps", "end_value"),
    "linear": ("warmup_steps", "end_value"),
    "wsd": ("warmup_steps", "decay_fraction", "end_value"),
}
DEFAULTS: dict[str, Any] = {"warmup_steps": 0, "end_value": 0.0, "decay_fraction": 0.2}
#: Parameters that are Python numbers of the program (step counts): never traced lanes.
STATIC = frozenset({"warmup_steps", "decay_fraction"})
#: The runs table's `schedule` for a constant learning rate.
CONSTANT = "constant"
MAX_STEPS = 10**9  # as sweepspec.MAX_STEPS


def parameters(schedule: Mapping[str, Any] | None) -> dict[str, Any]:
    """The schedule's parameters (its name aside); {} for None."""
    return {} if schedule is None else {k: v for k, v in schedule.items() if k != "name"}


def reserved(schedule) -> tuple[str, ...]:
    """The grid names a schedule (a name or a table, checked or not) reserves: its parameters."""
    name = schedule.get("name") if isinstance(schedule, Mapping) else schedule
    return SCHEDULES.get(name, ()) if isinstance(name, str) else ()


# --------------------------------------------------------------------------- checks


def _check_value(name: str, value, where: str):
    """One parameter's value, normalized (warmup_steps an int, the others floats)."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if name == "warmup_steps":
        if not real or not isinstance(value, numbers.Integral) or not 0 <= value <= MAX_STEPS:
            raise ConfigError(where, f"must be an integer >= 0 (and < steps), got {value!r}")
        return int(value)
    if name == "end_value":
        if not real or not math.isfinite(value) or value < 0:
            raise ConfigError(where, f"must be a number >= 0 (the learning rate the decay ends at), got {value!r}")
        return float(value)
    if not real or not 0 < value <= 1:  # decay_fraction
        raise ConfigError(where, f"must be a number in (0, 1] (the share of steps that decay), got {value!r}")
    return float(value)


def check(value, where: str) -> dict[str, Any] | None:
    """The `schedule` option normalized: None (constant) or {"name": ..., every parameter}.

    `value` is None, a schedule's name, or a table with `name` and any of its
    parameters (the others get their defaults, `DEFAULTS`).
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping):
        raise ConfigError(where, f"must be a schedule's name or a table {{name, ...}}, got {value!r}")
    name = value.get("name")
    if name not in SCHEDULES:
        if "name" not in value:
            raise ConfigError(f"{where}.name", f"missing (one of {', '.join(SCHEDULES)})")
        close = difflib.get_close_matches(str(name), list(SCHEDULES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(where, f"unknown schedule {name!r}{hint} (known: {', '.join(SCHEDULES)})")
    allowed = SCHEDULES[name]
    for key in value:
        if key != "name" and key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{where}.{key}", f"not a parameter of the {name} schedule; {hint}"
                                                f"(allowed: {', '.join(allowed) or 'none'})")
    if name == CONSTANT:
        return None
    return {"name": name, **{k: _check_value(k, value.get(k, DEFAULTS[k]), f"{where}.{k}") for k in allowed}}


def check_steps(schedule: Mapping[str, Any] | None, steps: int, where: str) -> None:
    """ConfigError at `where`.warmup_steps unless the warm-up ends before the run does."""
    warmup = parameters(schedule).get("warmup_steps")
    if warmup is not None and warmup >= steps:
        raise ConfigError(f"{where}.warmup_steps", f"must be < steps ({steps}), got {warmup}")


def from_text(text: str) -> dict[str, Any]:
    """'warmup_cosine,warmup_steps=40,end_value=0' -> {"name": "warmup_cosine", "warmup_steps": 40, "end_value": 0}."""
    name, *rest = [t.strip() for t in text.split(",")]
    out: dict[str, Any] = {"name": name}
    for item in rest:
        key, sep, number = (t.strip() for t in item.partition("="))
        if not sep or not key:
            raise ValueError(f"must be NAME[,KEY=VALUE...], got {text!r}")
        try:
            out[key] = int(number)
        except ValueError:
            try:
                out[key] = float(number)
            except ValueError:
                raise ValueError(f"{key} must be a number, got {number!r}") from None
    return out


def describe(schedule: Mapping[str, Any] | None, config: Mapping[str, Any] | None = None) -> str:
    """The runs table's `schedule`: 'constant', or its name and parameters (a configuration's values) as JSON."""
    if schedule is None:
        return CONSTANT
    config = config or {}
    return json.dumps({"name": schedule["name"], **{k: config.get(k, v) for k, v in parameters(schedule).items()}})


# --------------------------------------------------------------------------- the schedule


def decay_steps(decay_fraction: float, steps: int) -> int:
    """wsd's decay: the last round(decay_fraction x steps) steps, at least one."""
    return max(1, round(decay_fraction * steps))


def check_for_run(name: str, values: Mapping[str, Any], steps: int) -> None:
    """ValueError (naming `schedule.<parameter>`) for concrete values the run cannot take."""
    for key, value in values.items():
        if isinstance(value, (numbers.Real, str)) or value is None:
            try:
                _check_value(key, value, f"schedule.{key}")
            except ConfigError as e:
                raise ValueError(str(e)) from None
    warmup = values.get("warmup_steps")
    if isinstance(warmup, numbers.Integral) and warmup >= steps:
        raise ValueError(f"schedule.warmup_steps: must be < steps ({steps}), got {warmup}")


def make(name: str, peak, steps: int, warmup_steps: int = 0, end_value=0.0,
         decay_fraction: float = 0.2) -> schedules.Schedule:
    """The schedule `count -> learning rate` of a run of `steps` updates peaking at `peak` (may be traced).

    The count is taken in the peak's float dtype (a Python number's: the
    default one, float64 in a float64 run): an optimizer's count is an int32
    array, which JAX divides in float32, so optax's schedules fed it
    directly are float32-accurate (about 1e-7 relative) even in a float64 run.
    """
    schedule = _shape(name, peak, steps, warmup_steps, end_value, decay_fraction)
    dtype = jnp.result_type(peak)
    return lambda count: schedule(jnp.asarray(count, dtype))


def _shape(name: str, peak, steps: int, warmup_steps: int, end_value, decay_fraction: float) -> schedules.Schedule:
    if name == "cosine":
        if isinstance(peak, numbers.Real) and isinstance(end_value, numbers.Real):
            alpha = 0.0 if peak == 0 else end_value / peak  # optax's alpha = end_value / peak
        else:
            alpha = end_value / jnp.where(peak == 0, 1.0, peak)
        return schedules.cosine_decay_schedule(peak, steps, alpha)
    if name == "warmup_cosine":
        return schedules.warmup_cosine_decay_schedule(0.0, peak, warmup_steps, steps, end_value)
    if name == "linear":
        return schedules.warmup_linear_decay_schedule(0.0, peak, warmup_steps, steps, end_value)
    if name == "wsd":
        decay = min(decay_steps(decay_fraction, steps), steps - warmup_steps)
        return schedules.warmup_stable_decay_schedule(0.0, peak, warmup_steps, steps, decay, end_value)
    raise ValueError(f"schedule: unknown schedule {name!r}")


# --------------------------------------------------------------------------- the optimizer


@dataclasses.dataclass(frozen=True)
class Scheduled:
    """A factory whose learning_rate is the peak of a schedule: `factory(**hp)` with
    `learning_rate = make(name, peak, steps, **parameters)`; the schedule's parameters
    are keywords too (the schedule's own values by default)."""

    base: Any  # the optimizer's factory (ours or optax's)
    name: str
    steps: int
    names: tuple[str, ...]

    def __call__(self, **hyperparams):
        values = {k: hyperparams.pop(k) for k in self.names}
        check_for_run(self.name, values, self.steps)
        peak = hyperparams["learning_rate"]
        if isinstance(peak, numbers.Real):
            self.base(**hyperparams)  # the peak's own checks, as a constant learning rate gets them
        return self.base(**{**hyperparams, "learning_rate": make(self.name, peak, self.steps, **values)})


def scheduled(spec: OptimizerSpec, schedule: Mapping[str, Any] | None, steps: int) -> OptimizerSpec:
    """`spec` with its learning rate following `schedule` over `steps` (None: `spec` itself).

    The schedule's parameters become hyperparameters (their defaults the
    schedule's values). ConfigError("schedule", ...) for an optimizer that
    cannot be scheduled (see the module's docstring).
    """
    spec = unscheduled(spec)
    if schedule is None:
        return spec
    if "learning_rate" not in spec.defaults:
        raise ConfigError("schedule", f"{spec.name} has no learning_rate to schedule; run it without schedule")
    if spec.eval_params is not None:
        raise ConfigError("schedule", f"{spec.name} is schedule-free (it averages its iterates in place of a "
                                      "schedule); run it without schedule")
    rule = getattr(spec.factory, "rules", {}).get("learning_rate")
    if rule is not None and not getattr(rule, "schedule", True):
        raise ConfigError("schedule", f"{spec.name}'s learning_rate takes no schedule (its rule is {rule}); "
                                      "run it without schedule")
    values = parameters(schedule)
    clash = [k for k in values if k in spec.defaults]
    if clash:
        raise ConfigError(f"schedule.{clash[0]}", f"{spec.name} has a hyperparameter {clash[0]!r} too; "
                                                  "a schedule's parameter names are reserved")
    check_steps(schedule, steps, "schedule")
    names = tuple(values)

    def wrap(factory):
        return None if factory is None else Scheduled(factory, schedule["name"], steps, names)

    return dataclasses.replace(spec, factory=wrap(spec.factory), twin=wrap(spec.twin),
                               defaults={**spec.defaults, **values})


def is_scheduled(spec: OptimizerSpec) -> bool:
    return isinstance(spec.factory, Scheduled)


def unscheduled(spec: OptimizerSpec) -> OptimizerSpec:
    """The optimizer a `scheduled` spec schedules (`spec` itself if it is not one)."""
    if not is_scheduled(spec):
        return spec
    names = spec.factory.names
    return dataclasses.replace(spec, factory=spec.factory.base, twin=None if spec.twin is None else spec.twin.base,
                               defaults={k: v for k, v in spec.defaults.items() if k not in names})
