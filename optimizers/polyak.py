"""The Polyak step size: gradient descent with step (f(x) - f*) / |g|^2."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate
from optimizers.registry import OptimizerSpec, register

#: Below this |u|^2 + eps the step is 0 (optax's cut-off: float64 machine epsilon).
TINY = float(np.finfo(float).eps)


class PolyakState(NamedTuple):
    """Step count of a scheduled step-size cap (a constant cap has no state)."""

    count: jax.Array


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-4, 1e4, "log")),
    scaling=check.Hyperparameter(check.POSITIVE, search=(0.1, 10.0, "log")),
    f_min=check.Hyperparameter(check.FINITE),
    eps=check.Hyperparameter(check.NONNEGATIVE),
    variant=check.Hyperparameter(("sps", "sps+"), choices=("sps", "sps+")),
)
def polyak(
    learning_rate: LearningRate = 1.0,
    scaling: jax.typing.ArrayLike = 1.0,
    f_min: jax.typing.ArrayLike = 0.0,
    eps: jax.typing.ArrayLike = 0.0,
    *,
    variant: str = "sps",
) -> optax.GradientTransformationExtraArgs:
    """Polyak step size, capped: x <- x - min((f(x) - f_min) / (|u|^2 + eps), lr) u, u = scaling g.

    With scaling = 1 this is SPS_max of Loizou et al. with cap lr (Polyak's
    step when lr is large). `update` needs `value=f(params)`. As in optax's
    `polyak_sgd(max_learning_rate=lr, scaling=...)`: the step's norm is that
    of the scaled direction u (so the effective step is
    min(gap / (scaling |g|^2), scaling lr) for eps = 0), the step is 0 when
    |u|^2 + eps <= 2.2e-16, and `variant="sps+"` uses max(f(x) - f_min, 0)
    (Garrigos et al. 2023).

    Args:
      learning_rate: the cap on the step size (SPS_max's gamma_b), > 0, or a
        schedule of it.
      scaling: multiplies the direction, > 0 (optax's `scaling`).
      f_min: the optimal value f*, or a lower bound on it.
      eps: added to |u|^2, >= 0.
      variant: "sps" or "sps+".

    References:
      Polyak, "Introduction to optimization", 1987, section 5.3.
      Loizou et al., "Stochastic Polyak step-size for SGD: an adaptive learning
      rate for fast convergence", AISTATS 2021, arXiv:2002.10542.
    """
    scheduled = callable(learning_rate)
    step_down = -scaling

    def init_fn(params):
        del params
        return PolyakState(count=moments.count0()) if scheduled else optax.EmptyState()

    def update_fn(updates, state, params=None, *, value, **extra_args):
        del params, extra_args
        direction = jax.tree.map(lambda g: step_down * g, updates)
        sq_norm = optax.tree.norm(direction, squared=True)
        gap = jnp.asarray(value - f_min).astype(sq_norm.dtype)
        if variant == "sps+":
            gap = jnp.maximum(gap, 0)
        cap = learning_rate(state.count) if scheduled else learning_rate
        step = jnp.where(sq_norm + eps <= TINY, 0.0, jnp.minimum(gap / (sq_norm + eps), cap))
        updates = jax.tree.map(lambda u: step * u, direction)
        return updates, PolyakState(count=moments.increment(state.count)) if scheduled else state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _twin(learning_rate, scaling, f_min, eps, variant):
    if callable(learning_rate):  # optax's cap takes no schedule: inject it
        return optax.inject_hyperparams(optax.polyak_sgd, static_args="variant")(
            max_learning_rate=learning_rate, scaling=scaling, f_min=f_min, eps=eps, variant=variant
        )
    return optax.polyak_sgd(max_learning_rate=learning_rate, scaling=scaling, f_min=f_min, eps=eps, variant=variant)


register(OptimizerSpec.declared(
    polyak,
    name="polyak",
    elementwise=False,  # reduces over all parameters
    twin=_twin,
    twin_call="optax.polyak_sgd(max_learning_rate=lr, ...)",
    needs=frozenset({"value", "f_min"}),
    rule="x -= min((f(x) - f_min) / (|g|^2 + eps), lr) * g",
    paper="Polyak 1987; Loizou et al. 2021, arXiv:2002.10542",
    notes="lr is the cap (optax's max_learning_rate); |.|^2 of the scaled direction scaling*g.",
))
