"""NovoGrad: a second moment per layer (one number per parameter array) and momentum of normalised gradients."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register


class ScaleByNovogradState(NamedTuple):
    """Step count, the momentum (shaped like the parameters) and one second moment per leaf (a scalar)."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def scale_by_novograd(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.25,
    eps: jax.typing.ArrayLike = 1e-6,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
) -> optax.GradientTransformation:
    """Per leaf: v <- b2 v + (1 - b2) |g|^2 (v = |g|^2 first); m <- b1 m + g / (sqrt(v + eps_root) + eps) + wd x
    (m without b1 m first); u = m. Needs params."""

    def init_fn(params):
        return ScaleByNovogradState(count=moments.count0(), mu=moments.zeros(params),
                                    nu=jax.tree.map(lambda p: jnp.zeros([], p.dtype), params))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("novograd: update needs params")
        sq_norms = jax.tree.map(lambda g: jnp.linalg.norm(g) ** 2, updates)

        def normalised(nu):
            return jax.tree.map(lambda g, v, x: g / (jnp.sqrt(v + eps_root) + eps) + weight_decay * x,
                                updates, nu, params)

        def first():  # both moments start from the first gradient
            nu = moments.like(sq_norms, state.nu)
            return moments.like(normalised(nu), state.mu), nu

        def later():
            nu = moments.like(moments.ema(sq_norms, state.nu, b2), state.nu)
            mu = jax.tree.map(lambda m, u: b1 * m + u, state.mu, normalised(nu))
            return moments.like(mu, state.mu), nu

        mu, nu = jax.lax.cond(state.count == 0, first, later)
        return mu, ScaleByNovogradState(count=moments.increment(state.count), mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log")),
    b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b2=check.Hyperparameter(check.DECAY, search=(0.1, 0.999, "linear")),
    eps=check.Hyperparameter(check.NONNEGATIVE, search=(1e-10, 1e-4, "log")),
    eps_root=check.Hyperparameter(check.NONNEGATIVE),
    weight_decay=check.Hyperparameter(check.NONNEGATIVE, search=(1e-6, 1e-1, "log")),
)
def novograd(
    learning_rate: LearningRate = 1e-3,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.25,
    eps: jax.typing.ArrayLike = 1e-6,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
) -> optax.GradientTransformation:
    """NovoGrad: x <- x - lr m; m <- b1 m + g / (sqrt(v + eps_root) + eps) + wd x, v = EMA of |g|^2 per leaf.

    Args:
      learning_rate: step size, or a schedule.
      b1: the momentum's factor, in [0, 1) (the paper's beta1; no 1 - b1 on g).
      b2: the decay of each leaf's second moment, in [0, 1).
      eps, eps_root: added to sqrt(v) and inside the root, >= 0.
      weight_decay: added to the normalised gradient inside the momentum, >= 0.

    References:
      Ginsburg et al., "Stochastic gradient methods with layer-wise adaptive
      moments for training of deep networks", 2019, arXiv:1905.11286.
    """
    return optax.chain(scale_by_novograd(b1, b2, eps, eps_root, weight_decay), scale_by_learning_rate(learning_rate))


register(OptimizerSpec.declared(
    novograd,
    name="novograd",
    elementwise=False,  # |g|^2 over each parameter array
    twin=optax.novograd,
    rule="per array: v = b2*v + (1-b2)*|g|^2; m = b1*m + g / (sqrt(v + eps_root) + eps) + weight_decay*x; "
         "x -= lr * m",
    paper="Ginsburg et al. 2019, arXiv:1905.11286",
    notes="optax's defaults b2 = 0.25 (the paper used 0.98) and eps = 1e-6; the first step sets v = |g|^2 and "
          "m = g/(|g| + eps) + wd*x; weight decay is not a schedule.",
))
