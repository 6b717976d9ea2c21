"""Schedule-free SGD and AdamW (Defazio et al. 2024): averaging in place of a learning-rate schedule.

Three sequences share one step. The gradient is taken at y; a base method
(plain gradient steps, or AdamW's preconditioned ones without momentum) moves
z; x is a weighted running average of the z's, and y interpolates the two:

    z_{t+1} = z_t + base_update(grad f(y_t))
    x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1},   c_{t+1} = w_{t+1} / sum_{i<=t+1} w_i
    y_{t+1} = b1 x_{t+1} + (1 - b1) z_{t+1}

with weights w_t = (the largest step size so far)^weight_lr_power, so that
the warm-up's small steps count little. The parameters the optimizer hands
back are y; the point to evaluate is x (`schedule_free_eval_params`), which
the benchmark reads every loss at (`OptimizerSpec.eval_params`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.registry import OptimizerSpec, register


class ScheduleFreeState(NamedTuple):
    """The step count, the averaging's running quantities, b1, and the z sequence.

    x is not stored: it is (y - (1 - b1) z) / b1, from the params y (as optax
    does: the same arithmetic, and one copy of the parameters less).
    """

    b1: jax.Array  # the interpolation weight (needed to recover x)
    count: jax.Array  # updates made so far
    max_lr: jax.Array  # the largest step size so far
    weight_sum: jax.Array  # the sum of the averaging weights so far
    z: optax.Updates  # the base method's sequence
    base: Any  # the base method's state


class RmsState(NamedTuple):
    """Schedule-free AdamW's base state: step count and the second moment."""

    count: jax.Array
    nu: optax.Updates


def schedule_free_eval_params(state: ScheduleFreeState, params: optax.Params) -> optax.Params:
    """The point a schedule-free method is evaluated at: its average x = (y - (1 - b1) z) / b1 (params are y)."""
    return jax.tree.map(lambda y, z: (y - (1 - state.b1) * z) / state.b1, params, state.z)


def _is_zero(x) -> bool:
    """A weight decay that is a Python 0: its term is left out (a traced one is computed)."""
    return isinstance(x, (int, float)) and x == 0


def _step_size(learning_rate, warmup_steps, count):
    """The step size at `count`: linear warm-up from 0 over warmup_steps, then constant (or the schedule's)."""
    lr = learning_rate(count) if callable(learning_rate) else learning_rate
    if warmup_steps is None:
        return lr
    done = jnp.clip(count, 0, warmup_steps)
    return (0.0 - lr) * (1 - done / warmup_steps) + lr  # lr * done / warmup_steps, rounded as optax's


def _schedule_free(base_direction, base_init, learning_rate, warmup_steps, b1, weight_lr_power):
    """The schedule-free transformation over a base step `base_direction(g, y, lr, state) -> (u, state)`."""

    def init_fn(params):
        dtype = optax.tree.dtype(params, "lowest")
        return ScheduleFreeState(
            b1=jnp.asarray(b1, dtype),
            count=moments.count0(),
            max_lr=jnp.zeros([], dtype),
            weight_sum=jnp.zeros([], dtype),
            z=jax.tree.map(jnp.copy, params),
            base=base_init(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("schedule-free: update needs params (the point y the gradient was taken at)")
        count = moments.increment(state.count)
        # As optax: the weight reads the step size one update ahead of the step's own (1-based and 0-based counts).
        lr = jnp.asarray(_step_size(learning_rate, warmup_steps, state.count)).astype(state.max_lr.dtype)
        lr_ahead = jnp.asarray(_step_size(learning_rate, warmup_steps, count)).astype(state.max_lr.dtype)
        max_lr = jnp.maximum(state.max_lr, lr_ahead)
        weight = max_lr**weight_lr_power
        weight_sum = (state.weight_sum + weight).astype(state.weight_sum.dtype)
        # During a warm-up from 0 the first weights are 0: no averaging yet (0 / 0 read as 0).
        c = jnp.where(weight_sum == 0, 0.0, weight / jnp.where(weight_sum == 0, 1.0, weight_sum))
        step, base = base_direction(updates, params, lr, state.base)
        z = moments.like(jax.tree.map(lambda zi, u: zi + u, state.z, step), state.z)
        # x recovered from y and the previous z with the hyperparameter b1 itself (not the state's copy,
        # which is rounded to the parameters' dtype), as optax does.
        prev_x = jax.tree.map(lambda yi, zi: (yi - (1.0 - b1) * zi) / b1, params, state.z)
        x = jax.tree.map(lambda xi, zi: (1 - c) * xi + c * zi, prev_x, z)
        y = jax.tree.map(lambda xi, zi: b1 * xi + (1 - b1) * zi, x, z)
        new = ScheduleFreeState(b1=state.b1, count=count, max_lr=max_lr, weight_sum=weight_sum, z=z, base=base)
        return jax.tree.map(lambda yi, p: (yi - p).astype(p.dtype), y, params), new

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


SCHEDULE_FREE_HYPERPARAMETERS = dict(
    warmup_steps=check.Hyperparameter(check.Interval(1.0, check.INF, integer=True, optional=True)),
    b1=check.Hyperparameter(check.FRACTION, search=(0.5, 0.99, "linear")),
    weight_decay=check.Hyperparameter(check.NONNEGATIVE),
    weight_lr_power=check.Hyperparameter(check.NONNEGATIVE, search=(0.0, 4.0, "linear")),
)


@check.hyperparameters(learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-4, 10.0, "log")),
                       **SCHEDULE_FREE_HYPERPARAMETERS)
def schedule_free_sgd(
    learning_rate: jax.typing.ArrayLike = 1e-3,
    warmup_steps: int | None = None,
    b1: jax.typing.ArrayLike = 0.9,
    weight_decay: jax.typing.ArrayLike = 0.0,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
) -> optax.GradientTransformationExtraArgs:
    """Schedule-free SGD: z <- z - lr_t (g + weight_decay y), averaged into x; y between x and z.

    lr_t warms up linearly from 0 over `warmup_steps` updates (None: none),
    then stays at `learning_rate` (or follows it, a schedule of the update
    count t = 0, 1, ...). As in optax, the averaging weight of update t reads
    the step size of t + 1 (the paper uses lr_t in both). Evaluate at
    `schedule_free_eval_params(state, params)`.

    References:
      Defazio, Yang, Mehta, Mishchenko, Khaled, Cutkosky, "The Road Less
      Scheduled", NeurIPS 2024, arXiv:2405.15682, Algorithm 1.
    """
    def direction(g, y, lr, state):
        if _is_zero(weight_decay):
            return jax.tree.map(lambda gi: -lr * gi, g), state
        return jax.tree.map(lambda gi, yi: -lr * (gi + weight_decay * yi), g, y), state

    return _schedule_free(direction, lambda params: optax.EmptyState(), learning_rate, warmup_steps, b1,
                          weight_lr_power)


@check.hyperparameters(learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log")),
                       warmup_steps=SCHEDULE_FREE_HYPERPARAMETERS["warmup_steps"],
                       b1=SCHEDULE_FREE_HYPERPARAMETERS["b1"],
                       b2=check.Hyperparameter(check.DECAY, search=(0.9, 0.9999, "linear")),
                       eps=check.Hyperparameter(check.NONNEGATIVE, search=(1e-10, 1e-4, "log")),
                       weight_decay=SCHEDULE_FREE_HYPERPARAMETERS["weight_decay"],
                       weight_lr_power=SCHEDULE_FREE_HYPERPARAMETERS["weight_lr_power"])
def schedule_free_adamw(
    learning_rate: jax.typing.ArrayLike = 0.0025,
    warmup_steps: int | None = None,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
) -> optax.GradientTransformationExtraArgs:
    """Schedule-free AdamW: z <- z - lr_t (g / (sqrt(vhat) + eps) + weight_decay y), averaged into x.

    v <- b2 v + (1 - b2) g^2 and vhat = v / (1 - b2^t): Adam's second moment
    without its first (the averaging replaces momentum). lr_t as in
    `schedule_free_sgd`. Evaluate at `schedule_free_eval_params(state, params)`.

    References:
      Defazio et al., "The Road Less Scheduled", NeurIPS 2024,
      arXiv:2405.15682, Algorithm 2 (AdamW).
    """
    def init(params):
        return RmsState(count=moments.count0(), nu=moments.zeros(params))

    def direction(g, y, lr, state):
        nu = moments.ema(g, state.nu, b2, 2)
        count = moments.increment(state.count)
        nu_hat = moments.debias(nu, b2, count)
        # g times 1 / (sqrt(vhat) + eps), the reciprocal taken first (as optax: the same rounding).
        scaled = jax.tree.map(lambda gi, v: (1 / (jnp.sqrt(v) + eps)) * gi, g, nu_hat)
        if _is_zero(weight_decay):
            step = jax.tree.map(lambda u: -lr * u, scaled)
        else:
            step = jax.tree.map(lambda u, yi: -lr * (u + weight_decay * yi), scaled, y)
        return step, RmsState(count=count, nu=moments.like(nu, state.nu))

    return _schedule_free(direction, init, learning_rate, warmup_steps, b1, weight_lr_power)


def _twin_sgd(learning_rate, warmup_steps, b1, weight_decay, weight_lr_power):
    return optax.contrib.schedule_free_sgd(learning_rate, warmup_steps, b1, weight_decay, weight_lr_power)


register(OptimizerSpec.declared(
    schedule_free_sgd,
    name="schedule_free_sgd",
    elementwise=False,  # its averaging's scalars follow each lane's learning rate
    twin=_twin_sgd,
    twin_call="optax.contrib.schedule_free_sgd(lr, warmup_steps, b1, weight_decay, weight_lr_power)",
    eval_params=schedule_free_eval_params,
    twin_eval_params=optax.contrib.schedule_free_eval_params,
    rule="z -= lr_t*(g(y) + wd*y); x = (1-c) x + c z, c = w_t/sum w; y = b1 x + (1-b1) z; read at x",
    paper="Defazio et al. 2024, arXiv:2405.15682",
    notes="w_t = (max lr so far)^weight_lr_power with the step size of t+1 (optax; the paper: of t); "
          "warm-up from 0 over warmup_steps.",
))

register(OptimizerSpec.declared(
    schedule_free_adamw,
    name="schedule_free_adamw",
    elementwise=False,  # as schedule_free_sgd
    twin=optax.contrib.schedule_free_adamw,
    eval_params=schedule_free_eval_params,
    twin_eval_params=optax.contrib.schedule_free_eval_params,
    rule="as schedule_free_sgd with z -= lr_t*(g/(sqrt(vhat)+eps) + wd*y), Adam's vhat; read at x",
    paper="Defazio et al. 2024, arXiv:2405.15682",
    notes="No first moment (the averaging replaces it); weights as schedule_free_sgd's (optax).",
))
