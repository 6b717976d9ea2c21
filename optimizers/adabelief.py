"""AdaBelief: Adam with the second moment of the gradient's surprise g - m."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.adam import ScaleByAdamState, nesterov_mu_hat
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register


def scale_by_belief(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """s <- b2 s + (1 - b2)(g - m)^2 + eps_root; u = mhat / (sqrt(shat) + eps)."""

    def init_fn(params):
        return ScaleByAdamState(count=moments.count0(), mu=moments.zeros(params), nu=moments.zeros(params))

    def update_fn(updates, state, params=None):
        del params
        mu = moments.ema(updates, state.mu, b1)
        surprise = jax.tree.map(lambda g, m: g - m, updates, mu)
        nu = moments.ema(surprise, state.nu, b2, 2)
        nu = jax.tree.map(lambda s: s + eps_root, nu)
        count = moments.increment(state.count)
        mu_hat = nesterov_mu_hat(mu, updates, b1, count) if nesterov else moments.debias(mu, b1, count)
        nu_hat = moments.debias(nu, b2, count)
        updates = jax.tree.map(lambda m, s: m / (jnp.sqrt(s) + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count, mu=moments.like(mu, state.mu), nu=moments.like(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log")),
    b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b2=check.Hyperparameter(check.DECAY, search=(0.9, 0.9999, "linear")),
    eps=check.Hyperparameter(check.NONNEGATIVE, search=(1e-16, 1e-8, "log")),
    eps_root=check.Hyperparameter(check.NONNEGATIVE),
    nesterov=check.Hyperparameter(check.SWITCH, choices=(False, True)),
)
def adabelief(
    learning_rate: LearningRate = 1e-3,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """AdaBelief: s <- b2 s + (1 - b2)(g - m)^2 + eps_root; x <- x - lr mhat / (sqrt(shat) + eps).

    As in the paper (Algorithm 2), eps_root is added to s every step and
    stored; optax's defaults eps = eps_root = 1e-16 are the paper's.

    References:
      Zhuang et al., "AdaBelief optimizer: adapting stepsizes by the belief in
      observed gradients", NeurIPS 2020, arXiv:2010.07468.
    """
    return optax.chain(scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov), scale_by_learning_rate(learning_rate))


register(OptimizerSpec.declared(
    adabelief,
    name="adabelief",
    elementwise=True,
    twin=optax.adabelief,
    rule="m = b1*m + (1-b1)*g; s = b2*s + (1-b2)*(g-m)^2 + eps_root; x -= lr * mhat / (sqrt(shat) + eps)",
    paper="Zhuang et al. 2020, arXiv:2010.07468",
    notes="as the paper's Algorithm 2 (eps_root added to s and stored).",
))
