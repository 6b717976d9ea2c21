"""Fromage: per-layer steps of relative size lr, then a shrink that keeps the weights' norm from growing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register
from optimizers.weight_decay import add_decayed_weights


def _clipped_norm(x: jax.Array, min_norm: jax.typing.ArrayLike) -> jax.Array:
    """max(|x|_F, min_norm): min_norm where |x|_F <= min_norm, else the norm of x.

    The norm returned is taken again of x with ones where |x|_F <= min_norm
    (finite gradients at 0, as optax's safe norm): XLA fuses that select into
    the sum, which rounds differently from the plain sum, and Fromage's steps
    of fixed relative size amplify a last-bit difference to 1e-2 in 1,000 steps.
    """
    norm = jnp.linalg.norm(x)
    masked = jnp.linalg.norm(jnp.where(norm <= min_norm, jnp.ones_like(x), x))
    return jnp.where(norm <= min_norm, min_norm, masked)


def scale_by_relative_size(min_norm: jax.typing.ArrayLike = 1e-6) -> optax.GradientTransformation:
    """u = g * |x| / |g| per leaf (Frobenius norms, each at least min_norm); g unscaled where a norm is 0."""

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("fromage: update needs params")

        def one(g, p):
            param_norm, grad_norm = _clipped_norm(p, min_norm), _clipped_norm(g, min_norm)
            ratio = param_norm / grad_norm
            return g * jnp.where((param_norm == 0.0) | (grad_norm == 0.0), jnp.array(1.0, p.dtype), ratio)

        return jax.tree.map(one, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-4, 1.0, "log")),
    min_norm=check.Hyperparameter(check.NONNEGATIVE),
)
def fromage(learning_rate: LearningRate = 0.01, min_norm: jax.typing.ArrayLike = 1e-6) -> optax.GradientTransformation:
    """Fromage: x <- (x - lr |x| / |g| g) / sqrt(1 + lr^2), per leaf.

    The step has norm lr |x| (a relative step in the paper's deep relative
    trust); dividing by sqrt(1 + lr^2) undoes the growth of |x| that a step
    orthogonal to x would cause. Written as optax does: the step scaled by
    lr / sqrt(1 + lr^2), plus (1 / sqrt(1 + lr^2) - 1) x.

    Args:
      learning_rate: the relative step size, or a schedule.
      min_norm: the smallest norm used for |x| and |g|, >= 0.

    References:
      Bernstein, Vahdat, Yue & Liu, "On the distance between two neural
      networks and the stability of learning", NeurIPS 2020, arXiv:2002.03432.
    """
    if callable(learning_rate):
        shrink = lambda count: 1 / (1 + learning_rate(count) ** 2) ** 0.5  # noqa: E731
        return optax.chain(
            scale_by_relative_size(min_norm),
            scale_by_learning_rate(lambda count: shrink(count) * learning_rate(count)),
            add_decayed_weights(lambda count: shrink(count) - 1),
        )
    shrink = 1 / (1 + learning_rate**2) ** 0.5
    return optax.chain(
        scale_by_relative_size(min_norm), scale_by_learning_rate(learning_rate * shrink), add_decayed_weights(shrink - 1)
    )


register(OptimizerSpec.declared(
    fromage,
    name="fromage",
    elementwise=False,  # per-leaf norms
    twin=optax.fromage,
    rule="per leaf: x = (x - lr * |x|/|g| * g) / sqrt(1 + lr^2)",
    paper="Bernstein et al. 2020, arXiv:2002.03432",
    notes="norms clipped below at min_norm (optax); written as a step plus a decay (1/sqrt(1+lr^2) - 1) x.",
))
