"""Learning-rate schedules: functions of the step count (0 on the first step).

Each agrees with optax's schedule of the same name to float rounding (the
arithmetic is the same); the values may be traced (a sweep over the peak
learning rate is a `vmap`), the step counts are Python integers. Unlike optax,
bad step counts raise ValueError instead of silently giving a constant.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from optimizers import validation as check

Schedule = Callable[[jax.typing.ArrayLike], jax.typing.ArrayLike]


def _concrete(x) -> bool:
    return isinstance(x, (int, float))


STEPS = check.Interval(1.0, check.INF, integer=True)
OPTIONAL_FINITE = check.FINITE._replace(optional=True)


@check.hyperparameters(value=check.FINITE)
def constant_schedule(value: jax.typing.ArrayLike) -> Schedule:
    """lr(t) = value."""
    return lambda count: value


@check.hyperparameters(
    init_value=check.FINITE,
    transition_steps=STEPS,
    decay_rate=check.POSITIVE,
    transition_begin=check.COUNT,
    staircase=check.SWITCH,
    end_value=OPTIONAL_FINITE,
)
def exponential_decay(
    init_value: jax.typing.ArrayLike,
    transition_steps: int,
    decay_rate: jax.typing.ArrayLike,
    transition_begin: int = 0,
    *,
    staircase: bool = False,
    end_value: jax.typing.ArrayLike | None = None,
) -> Schedule:
    """lr(t) = init_value * decay_rate^((t - transition_begin) / transition_steps) after transition_begin.

    Args:
      init_value: the value up to `transition_begin`.
      transition_steps: steps per factor of `decay_rate`, an integer >= 1.
      decay_rate: the factor, > 0 (< 1 decays, > 1 grows).
      transition_begin: steps at `init_value` first, an integer >= 0.
      staircase: decay in whole steps of `transition_steps`.
      end_value: a floor (ceiling if decay_rate > 1) on the value, or None.
    """

    def clip(value):
        if end_value is None:
            return value
        if _concrete(decay_rate):
            return (jnp.maximum if decay_rate < 1.0 else jnp.minimum)(value, end_value)
        return jnp.where(decay_rate < 1.0, jnp.maximum(value, end_value), jnp.minimum(value, end_value))

    def schedule(count):
        elapsed = count - transition_begin
        p = elapsed / transition_steps
        if staircase:
            p = jnp.floor(p)
        return clip(jnp.where(elapsed <= 0, init_value, init_value * jnp.power(decay_rate, p)))

    return schedule


@check.hyperparameters(init_value=check.FINITE, decay_steps=STEPS, alpha=check.FINITE, exponent=check.FINITE)
def cosine_decay_schedule(
    init_value: jax.typing.ArrayLike,
    decay_steps: int,
    alpha: jax.typing.ArrayLike = 0.0,
    exponent: jax.typing.ArrayLike = 1.0,
) -> Schedule:
    """lr(t) = init_value ((1 - alpha) c(t)^exponent + alpha), c(t) = (1 + cos(pi min(t, T) / T)) / 2, T = decay_steps.

    References:
      Loshchilov & Hutter, "SGDR: stochastic gradient descent with warm
      restarts", ICLR 2017, arXiv:1608.03983.
    """
    steps = float(decay_steps)

    def schedule(count):
        count = float(count) if isinstance(count, int) else count
        count = jnp.minimum(count, steps)
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * count / steps))
        return init_value * ((1 - alpha) * cosine**exponent + alpha)

    return schedule


@check.hyperparameters(
    init_value=check.FINITE,
    peak_value=check.FINITE,
    warmup_steps=check.COUNT,
    decay_steps=STEPS,
    end_value=check.FINITE,
    exponent=check.FINITE,
)
def warmup_cosine_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    decay_steps: int,
    end_value: jax.typing.ArrayLike = 0.0,
    exponent: jax.typing.ArrayLike = 1.0,
) -> Schedule:
    """Linear warm-up from init_value to peak_value, then cosine decay to end_value.

    lr(t) = init_value + (peak_value - init_value) t / warmup_steps for
    t < warmup_steps, then `cosine_decay_schedule(peak_value, decay_steps -
    warmup_steps, alpha=end_value / peak_value, exponent)` at t - warmup_steps
    (decay_steps counts the warm-up, as in optax).

    References:
      Goyal et al., "Accurate, large minibatch SGD: training ImageNet in 1
      hour", arXiv:1706.02677, 2017 (warm-up); Loshchilov & Hutter 2017 (cosine).
    """
    if decay_steps <= warmup_steps:
        raise ValueError(
            f"warmup_cosine_decay_schedule: decay_steps must be > warmup_steps = {warmup_steps}, got {decay_steps}"
        )
    if _concrete(peak_value) and _concrete(end_value):
        alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    else:
        alpha = jnp.where(peak_value == 0.0, 0.0, end_value / jnp.where(peak_value == 0.0, 1.0, peak_value))
    decay = cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha, exponent)

    def warmup(count):
        done = jnp.clip(count, 0, warmup_steps)
        return (init_value - peak_value) * (1 - done / warmup_steps) + peak_value

    def schedule(count):
        if warmup_steps == 0:
            return jnp.where(count < 0, init_value, decay(count))
        return jnp.where(count < warmup_steps, warmup(count), decay(count - warmup_steps))

    return schedule


@check.hyperparameters(
    init_value=check.FINITE, end_value=check.FINITE, transition_steps=STEPS, transition_begin=check.COUNT
)
def linear_schedule(
    init_value: jax.typing.ArrayLike,
    end_value: jax.typing.ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    """lr(t) = init_value + (end_value - init_value) min(max(t - transition_begin, 0), T) / T, T = transition_steps.

    Constant at init_value before transition_begin and at end_value from
    transition_begin + T on.
    """

    def schedule(count):
        done = jnp.clip(count - transition_begin, 0, transition_steps)
        return (init_value - end_value) * (1 - done / transition_steps) + end_value

    return schedule


def _warmup_then(init_value, peak_value, warmup_steps: int, after: Schedule) -> Schedule:
    """Linear from init_value to peak_value over warmup_steps, then `after(t - warmup_steps)`."""
    if warmup_steps == 0:
        return after
    rise = linear_schedule(init_value, peak_value, warmup_steps)
    return lambda count: jnp.where(count < warmup_steps, rise(count), after(count - warmup_steps))


@check.hyperparameters(
    init_value=check.FINITE,
    peak_value=check.FINITE,
    warmup_steps=check.COUNT,
    decay_steps=STEPS,
    end_value=check.FINITE,
)
def warmup_linear_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    decay_steps: int,
    end_value: jax.typing.ArrayLike = 0.0,
) -> Schedule:
    """Linear warm-up from init_value to peak_value, then linear decay to end_value at decay_steps.

    decay_steps counts the warm-up (as in `warmup_cosine_decay_schedule`):
    the decay takes decay_steps - warmup_steps steps, and the value stays at
    end_value after them.
    """
    if decay_steps <= warmup_steps:
        raise ValueError(
            f"warmup_linear_decay_schedule: decay_steps must be > warmup_steps = {warmup_steps}, got {decay_steps}"
        )
    return _warmup_then(init_value, peak_value, warmup_steps,
                        linear_schedule(peak_value, end_value, decay_steps - warmup_steps))


@check.hyperparameters(
    init_value=check.FINITE,
    peak_value=check.FINITE,
    warmup_steps=check.COUNT,
    total_steps=STEPS,
    decay_steps=STEPS,
    end_value=check.FINITE,
)
def warmup_stable_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    total_steps: int,
    decay_steps: int,
    end_value: jax.typing.ArrayLike = 0.0,
) -> Schedule:
    """Warmup-stable-decay: linear warm-up to peak_value, constant at it, then linear decay to end_value.

    lr(t) rises linearly from init_value over [0, warmup_steps), stays at
    peak_value until total_steps - decay_steps, then falls linearly to
    end_value at total_steps (and stays there). The decay may not begin
    before the warm-up ends: warmup_steps + decay_steps <= total_steps.

    References:
      Hu et al., "MiniCPM: unveiling the potential of small language models
      with scalable training strategies", arXiv:2404.06395, 2024 (WSD);
      Hägele et al., "Scaling laws and compute-optimal training beyond fixed
      training durations", NeurIPS 2024, arXiv:2405.18392 (linear cool-down).
    """
    if warmup_steps + decay_steps > total_steps:
        raise ValueError(
            f"warmup_stable_decay_schedule: warmup_steps + decay_steps must be <= total_steps = {total_steps}, "
            f"got {warmup_steps} + {decay_steps}"
        )
    stable = total_steps - decay_steps - warmup_steps
    decay = linear_schedule(peak_value, end_value, decay_steps, transition_begin=stable)
    return _warmup_then(init_value, peak_value, warmup_steps, decay)
