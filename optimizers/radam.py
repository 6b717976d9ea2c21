"""RAdam: Adam with a rectified adaptive learning rate."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.adam import NESTEROV, ScaleByAdamState, nesterov_mu_hat
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register


def scale_by_radam(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    threshold: jax.typing.ArrayLike = 5.0,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """u = r_t mhat / (sqrt(vhat + eps_root) + eps) if rho_t >= threshold, else mhat."""
    rho_inf = 2.0 / (1.0 - b2) - 1.0

    def init_fn(params):
        return ScaleByAdamState(count=moments.count0(), mu=moments.zeros(params), nu=moments.zeros(params))

    def update_fn(updates, state, params=None):
        del params
        mu = moments.ema(updates, state.mu, b1)
        nu = moments.ema(updates, state.nu, b2, 2)
        count = moments.increment(state.count)
        b2t = b2**count
        rho = rho_inf - 2 * count * b2t / (1 - b2t)
        mu_hat = nesterov_mu_hat(mu, updates, b1, count) if nesterov else moments.debias(mu, b1, count)
        nu_hat = moments.debias(nu, b2, count)
        r = jnp.sqrt((rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho))
        rectified = jax.tree.map(lambda m, v: r.astype(m.dtype) * m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        updates = jax.tree.map(lambda a, m: jnp.where(rho >= threshold, a, m), rectified, mu_hat)
        return updates, ScaleByAdamState(count=count, mu=moments.like(mu, state.mu), nu=moments.like(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log")),
    b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b2=check.Hyperparameter(check.DECAY, search=(0.99, 0.9999, "linear")),
    eps=check.Hyperparameter(check.NONNEGATIVE, search=(1e-10, 1e-4, "log")),
    eps_root=check.Hyperparameter(check.NONNEGATIVE),
    threshold=check.Hyperparameter(check.NONNEGATIVE, search=(4.0, 6.0, "linear")),
    nesterov=NESTEROV,
)
def radam(
    learning_rate: LearningRate = 1e-3,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    threshold: jax.typing.ArrayLike = 5.0,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """RAdam: x <- x - lr r_t mhat / (sqrt(vhat) + eps) once rho_t >= threshold, else x - lr mhat.

    rho_inf = 2 / (1 - b2) - 1, rho_t = rho_inf - 2 t b2^t / (1 - b2^t) and
    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)).
    The paper switches at rho_t > 4; optax (and we) at rho_t >= threshold = 5.

    References:
      Liu et al., "On the variance of the adaptive learning rate and beyond",
      ICLR 2020, arXiv:1908.03265.
    """
    return optax.chain(
        scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov), scale_by_learning_rate(learning_rate)
    )


register(OptimizerSpec.declared(
    radam,
    name="radam",
    elementwise=True,
    twin=optax.radam,
    rule="adam moments; x -= lr * (r_t * mhat / (sqrt(vhat) + eps) if rho_t >= threshold else mhat)",
    paper="Liu et al. 2020, arXiv:1908.03265",
    notes="switches to the rectified step at rho_t >= threshold = 5 (optax); the paper uses rho_t > 4.",
))
