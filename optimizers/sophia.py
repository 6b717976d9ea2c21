"""Sophia (Liu et al. 2023): momentum divided by a clipped estimate of the Hessian's diagonal."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register
from optimizers.weight_decay import add_decayed_weights


class SophiaState(NamedTuple):
    """Step count, the gradient's moving average, the Hessian diagonal's, and the probes' random key."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    key: jax.Array


def hutchinson_diagonal(obj_fn, params, key):
    """u * (H u) for a Rademacher probe u (one per leaf, from `key`): an unbiased estimate of diag(H).

    H u is a Hessian-vector product (forward over reverse mode): one
    gradient's cost and a bit more, without forming H.
    """
    treedef = jax.tree.structure(params)
    keys = jax.tree.unflatten(treedef, list(jax.random.split(key, treedef.num_leaves)))
    probe = jax.tree.map(lambda p, k: jax.random.rademacher(k, p.shape, jnp.float32).astype(p.dtype), params, keys)
    _, hvp = jax.jvp(jax.grad(obj_fn), (params,), (probe,))
    return jax.tree.map(lambda u, hu: u * hu, probe, hvp)


def scale_by_sophia(
    b1: jax.typing.ArrayLike = 0.965,
    b2: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    gamma: jax.typing.ArrayLike = 0.01,
    clip_threshold: jax.typing.ArrayLike | None = 1.0,
    update_interval: int = 10,
    seed: int = 0,
) -> optax.GradientTransformationExtraArgs:
    """u = clip(mhat / max(gamma h, eps), +-clip_threshold); h <- b2 h + (1 - b2) hhat every update_interval steps.

    m is the gradient's moving average (bias-corrected: mhat), h the Hessian
    diagonal's, refreshed at steps 0, k, 2k, ... from Hutchinson's estimate
    hhat at the step's params (`obj_fn`, the loss of params). `update` needs
    `obj_fn`.
    """
    def init_fn(params):
        return SophiaState(count=moments.count0(), mu=moments.zeros(params), nu=moments.zeros(params),
                           key=jax.random.PRNGKey(seed))

    def update_fn(updates, state, params=None, *, obj_fn, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("sophia: update needs params (the Hessian is estimated there)")
        count = moments.increment(state.count)
        mu = moments.ema(updates, state.mu, b1)
        mu_hat = moments.debias(mu, b1, count)
        # The step divides by the estimate held before this step's refresh (optax).
        step = jax.tree.map(lambda m, h: m / jnp.maximum(gamma * h, eps), mu_hat, state.nu)
        if clip_threshold is not None:
            step = jax.tree.map(lambda s: jnp.clip(s, -clip_threshold, clip_threshold), step)

        def refresh(key, nu):
            key, probe_key = jax.random.split(key)
            return key, moments.like(moments.ema(hutchinson_diagonal(obj_fn, params, probe_key), nu, b2), nu)

        key, nu = jax.lax.cond(state.count % update_interval == 0, refresh, lambda key, nu: (key, nu),
                               state.key, state.nu)
        new = SophiaState(count=count, mu=moments.like(mu, state.mu), nu=moments.like(nu, state.nu), key=key)
        return step, new

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@check.hyperparameters(
    # Its steps are at most lr per coordinate (the clip): larger ones bounce across a valley.
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 0.1, "log")),
    b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b2=check.Hyperparameter(check.DECAY, search=(0.9, 0.999, "linear")),
    eps=check.Hyperparameter(check.NONNEGATIVE, search=(1e-12, 1e-6, "log")),
    weight_decay=check.Hyperparameter(check.NONNEGATIVE),
    gamma=check.Hyperparameter(check.POSITIVE, search=(1e-3, 1.0, "log")),
    clip_threshold=check.Hyperparameter(check.Interval(0.0, check.INF, low_closed=False, optional=True)),
    update_interval=check.Hyperparameter(check.Interval(1.0, check.INF, integer=True)),
)
def sophia(
    learning_rate: LearningRate = 1e-2,
    b1: jax.typing.ArrayLike = 0.965,
    b2: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 1e-4,
    gamma: jax.typing.ArrayLike = 0.01,
    clip_threshold: jax.typing.ArrayLike | None = 1.0,
    update_interval: int = 10,
) -> optax.GradientTransformationExtraArgs:
    """Sophia: x <- x - lr (clip(mhat / max(gamma h, eps), 1) + weight_decay x).

    h, the Hessian diagonal's moving average, is refreshed every
    update_interval steps from Hutchinson's estimate u * (H u), u a Rademacher
    probe (one Hessian-vector product per refresh); the probes come from
    PRNGKey(0), split once per refresh. As in optax's
    `contrib.sophia`: mhat is bias-corrected, the step divides by the h held
    before the step's refresh, the probes are Rademacher (the paper: Gaussian)
    and weight decay is added to the clipped step. `update` needs `obj_fn`.

    References:
      Liu, Li, Hall, Liang, Ma, "Sophia: A Scalable Stochastic Second-order
      Optimizer for Language Model Pre-training", ICLR 2024, arXiv:2305.14342,
      Algorithm 1 (Hutchinson's estimator: Algorithm 2).
    """
    return optax.chain(
        scale_by_sophia(b1, b2, eps, gamma, clip_threshold, update_interval),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )


def evaluations(state, hyperparams) -> jax.Array:
    """The evaluations of the update that returned `state` (ours or optax's: both chains begin with a
    state counting steps): the gradient at x, and a Hessian-vector product on the steps that refresh h."""
    refreshed = (state[0].count - 1) % hyperparams["update_interval"] == 0
    return 1 + refreshed.astype(jnp.int32)


def _twin(learning_rate, b1, b2, eps, weight_decay, gamma, clip_threshold, update_interval):
    return optax.contrib.sophia(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay, gamma=gamma,
                                clip_threshold=clip_threshold, update_interval=update_interval)


register(OptimizerSpec.declared(
    sophia,
    name="sophia",
    elementwise=False,  # its Hessian-vector product couples the coordinates
    twin=_twin,
    twin_call="optax.contrib.sophia(lr, b1, b2, eps, weight_decay, gamma=..., clip_threshold=..., update_interval=...)",
    needs=frozenset({"obj_fn"}),
    evals=evaluations,
    twin_evals=evaluations,
    rule="m = EMA(g); h = EMA(u*(H u)) every k steps; x -= lr*(clip(mhat/max(gamma*h, eps), 1) + wd*x)",
    paper="Liu et al. 2023, arXiv:2305.14342",
    notes="Rademacher probes from PRNGKey(0); mhat bias-corrected; the step uses h before the step's refresh (optax).",
))
