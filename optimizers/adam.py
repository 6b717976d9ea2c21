"""Adam and its Nesterov (NAdam) and decoupled-weight-decay (AdamW) variants."""

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


class ScaleByAdamState(NamedTuple):
    """Step count and the first and second moment estimates."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def nesterov_mu_hat(mu, updates, b1, count):
    """NAdam's look-ahead first moment, b1 mhat_{t+1} + (1 - b1) ghat_t (Dozat 2016)."""
    return jax.tree.map(
        lambda m, g: b1 * m + (1 - b1) * g,
        moments.debias(mu, b1, moments.increment(count)),
        moments.debias(updates, b1, count),
    )


def scale_by_adam(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2; u = mhat / (sqrt(vhat + eps_root) + eps)."""

    def init_fn(params):
        return ScaleByAdamState(count=moments.count0(), mu=moments.zeros(params), nu=moments.zeros(params))

    def update_fn(updates, state, params=None):
        del params
        mu = moments.ema(updates, state.mu, b1)
        nu = moments.ema(updates, state.nu, b2, 2)
        count = moments.increment(state.count)
        mu_hat = nesterov_mu_hat(mu, updates, b1, count) if nesterov else moments.debias(mu, b1, count)
        nu_hat = moments.debias(nu, b2, count)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count, mu=moments.like(mu, state.mu), nu=moments.like(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


#: The hyperparameters Adam's family shares: rules, search ranges and choices (defaults: each signature).
ADAM_HYPERPARAMETERS = dict(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-5, 1.0, "log")),
    b1=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    b2=check.Hyperparameter(check.DECAY, search=(0.9, 0.9999, "linear")),
    eps=check.Hyperparameter(check.NONNEGATIVE, search=(1e-10, 1e-4, "log")),
    eps_root=check.Hyperparameter(check.NONNEGATIVE),
)
NESTEROV = check.Hyperparameter(check.SWITCH, choices=(False, True))


@check.hyperparameters(**ADAM_HYPERPARAMETERS, nesterov=NESTEROV)
def adam(
    learning_rate: LearningRate = 1e-3,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """Adam: x <- x - lr mhat / (sqrt(vhat + eps_root) + eps), mhat, vhat bias-corrected.

    Args:
      learning_rate: step size, or a schedule.
      b1, b2: decays of the first and second moments, in [0, 1).
      eps: added to sqrt(vhat), >= 0 (the paper's epsilon).
      eps_root: added to vhat inside the root, >= 0 (0 in the paper).
      nesterov: use NAdam's look-ahead first moment (same as `nadam`).

    References:
      Kingma & Ba, "Adam: A method for stochastic optimization", ICLR 2015,
      arXiv:1412.6980.
    """
    return optax.chain(scale_by_adam(b1, b2, eps, eps_root, nesterov=nesterov), scale_by_learning_rate(learning_rate))


@check.hyperparameters(**ADAM_HYPERPARAMETERS)
def nadam(
    learning_rate: LearningRate = 1e-3,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
) -> optax.GradientTransformation:
    """NAdam: Adam with mhat replaced by b1 mhat_{t+1} + (1 - b1) g_t / (1 - b1^t).

    Follows optax: a constant b1 (Dozat's momentum schedule mu_t is not used)
    and the bias corrections 1 - b1^(t+1) and 1 - b1^t of Adam.

    References:
      Dozat, "Incorporating Nesterov momentum into Adam", ICLR 2016 workshop.
    """
    return optax.chain(scale_by_adam(b1, b2, eps, eps_root, nesterov=True), scale_by_learning_rate(learning_rate))


@check.hyperparameters(
    **ADAM_HYPERPARAMETERS,
    weight_decay=check.Hyperparameter(check.NONNEGATIVE_OR_SCHEDULE, search=(1e-6, 1e-1, "log")),
    nesterov=NESTEROV,
)
def adamw(
    learning_rate: LearningRate = 1e-3,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: LearningRate = 1e-4,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """AdamW: x <- x - lr (mhat / (sqrt(vhat + eps_root) + eps) + weight_decay x).

    The decay is multiplied by the learning rate, as in optax and PyTorch (the
    paper's schedule multiplier eta_t scales both terms; its alpha only the
    Adam term).

    References:
      Loshchilov & Hutter, "Decoupled weight decay regularization", ICLR 2019,
      arXiv:1711.05101.
    """
    return optax.chain(
        scale_by_adam(b1, b2, eps, eps_root, nesterov=nesterov),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )


ADAM_RULE = "m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; x -= lr * mhat / (sqrt(vhat + eps_root) + eps)"

register(OptimizerSpec.declared(
    adam,
    name="adam",
    elementwise=True,
    twin=optax.adam,
    rule=ADAM_RULE,
    paper="Kingma & Ba 2015, arXiv:1412.6980",
    notes="eps outside the sqrt as in the paper; optional eps_root inside it (0 by default).",
))
register(OptimizerSpec.declared(
    nadam,
    name="nadam",
    elementwise=True,
    twin=optax.nadam,
    twin_call="optax.nadam",  # a functools.partial of optax.adam: no name of its own
    rule="as adam with mhat = b1 * m/(1-b1^(t+1)) + (1-b1) * g/(1-b1^t)",
    paper="Dozat 2016 (ICLR workshop)",
    notes="constant b1 (no momentum schedule), Adam's bias corrections (optax's form).",
))
register(OptimizerSpec.declared(
    adamw,
    name="adamw",
    elementwise=True,
    twin=optax.adamw,
    rule="adam step with u = mhat / (sqrt(vhat + eps_root) + eps) + weight_decay * x",
    paper="Loshchilov & Hutter 2019, arXiv:1711.05101",
    notes="weight decay is multiplied by lr (optax, PyTorch).",
))
