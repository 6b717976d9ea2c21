"""Rprop: per-coordinate step sizes grown or shrunk by the sign agreement of successive gradients."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.registry import OptimizerSpec, register


class ScaleByRpropState(NamedTuple):
    """Each coordinate's step size, and its last move `step * sign(g)` (0 after a sign flip)."""

    step_sizes: optax.Updates
    last_move: optax.Updates


def scale_by_rprop(
    learning_rate: jax.typing.ArrayLike = 0.01,
    eta_minus: jax.typing.ArrayLike = 0.5,
    eta_plus: jax.typing.ArrayLike = 1.2,
    min_step_size: jax.typing.ArrayLike = 1e-6,
    max_step_size: jax.typing.ArrayLike = 50.0,
) -> optax.GradientTransformation:
    """Rprop's descent step (the update itself, already negated: no learning rate follows).

    With a = g * last_move: the step size is multiplied by eta_plus where a > 0,
    by eta_minus where a < 0 (then clipped to [min_step_size, max_step_size]),
    kept where a = 0. Where a < 0 the coordinate does not move and its last move
    is forgotten; elsewhere the move recorded is step * sign(g).
    As optax does, the update applied is the move recorded on the previous step
    (zero on the first).
    """

    def init_fn(params):
        return ScaleByRpropState(step_sizes=moments.full(params, learning_rate), last_move=moments.zeros(params))

    def update_fn(updates, state, params=None):
        del params

        def one(g, step, last):
            agreement = g * last
            scaled = jnp.clip(step * jnp.where(agreement > 0, eta_plus, eta_minus), min_step_size, max_step_size)
            step = jnp.where(agreement == 0, step, scaled)
            flipped = agreement < 0
            move = jnp.where(flipped, jnp.zeros_like(g), step * jnp.sign(g))
            return -jnp.where(flipped, jnp.zeros_like(last), last), step, move

        out = jax.tree.map(one, updates, state.step_sizes, state.last_move)
        applied, steps, moves = jax.tree.transpose(jax.tree.structure(updates), jax.tree.structure((0, 0, 0)), out)
        return moments.like(applied, updates), ScaleByRpropState(
            step_sizes=moments.like(steps, state.step_sizes), last_move=moments.like(moves, state.last_move))

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.POSITIVE, search=(1e-5, 1.0, "log")),
    eta_minus=check.Hyperparameter(check.Interval(0.0, 1.0, low_closed=False), search=(0.1, 0.9, "linear")),
    eta_plus=check.Hyperparameter(check.AT_LEAST_ONE, search=(1.05, 2.0, "linear")),
    min_step_size=check.NONNEGATIVE,
    max_step_size=check.POSITIVE,
)
def rprop(
    learning_rate: jax.typing.ArrayLike = 0.01,
    eta_minus: jax.typing.ArrayLike = 0.5,
    eta_plus: jax.typing.ArrayLike = 1.2,
    min_step_size: jax.typing.ArrayLike = 1e-6,
    max_step_size: jax.typing.ArrayLike = 50.0,
) -> optax.GradientTransformation:
    """Rprop (iRprop- form): x <- x - step * sign(g), each coordinate's step adapted by sign agreement.

    Args:
      learning_rate: every coordinate's initial step size, > 0 (not a schedule:
        the steps adapt themselves).
      eta_minus: the step's factor after a sign flip, in (0, 1).
      eta_plus: the step's factor while the sign holds, >= 1.
      min_step_size, max_step_size: the bounds of a step size.

    References:
      Riedmiller & Braun, "A direct adaptive method for faster backpropagation
      learning: the RPROP algorithm", ICNN 1993; Igel & Huesken, "Improving the
      Rprop learning algorithm", 2000 (iRprop-).
    """
    return scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size)


register(OptimizerSpec.declared(
    rprop,
    name="rprop",
    elementwise=True,
    twin=optax.rprop,
    rule="a = g*d; s = clip(s * (eta_plus if a > 0 else eta_minus), min, max) unless a = 0; "
         "x -= d unless a < 0; d = 0 if a < 0 else s*sign(g)",
    paper="Riedmiller & Braun 1993 (ICNN); Igel & Huesken 2000",
    notes="optax's form: step t applies d, the move recorded on step t-1 (zero on the first step), unless the "
          "sign flipped; the paper moves by s*sign(g) of step t at once. lr is the initial step size (no schedule).",
))
