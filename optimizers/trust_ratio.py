"""Layer-wise trust ratios: LARS (momentum SGD) and LAMB (Adam), each step rescaled per parameter array."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optimizers import validation as check
from optimizers.adam import ADAM_HYPERPARAMETERS, scale_by_adam
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register
from optimizers.sgd import MOMENTUM, scale_by_momentum
from optimizers.weight_decay import add_decayed_weights


def _norm(x: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.sum(x * x))


def scale_by_trust_ratio(
    trust_coefficient: jax.typing.ArrayLike = 1.0, eps: jax.typing.ArrayLike = 0.0
) -> optax.GradientTransformation:
    """Per parameter array: u <- u * trust_coefficient |x| / (|u| + eps); unchanged where |x| or |u| is 0.

    Needs params. The norms are Euclidean over the whole array (Frobenius for a matrix).
    """

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("scale_by_trust_ratio: update needs params")

        def one(u, x):
            x_norm, u_norm = _norm(x), _norm(u)
            ratio = trust_coefficient * x_norm / (u_norm + eps)
            return u * jnp.where((x_norm == 0) | (u_norm == 0), jnp.ones([], x.dtype), ratio)

        return jax.tree.map(one, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


WEIGHT_DECAY = check.Hyperparameter(check.NONNEGATIVE_OR_SCHEDULE, search=(1e-6, 1e-1, "log"))


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-3, 100.0, "log")),
    weight_decay=WEIGHT_DECAY,
    trust_coefficient=check.Hyperparameter(check.POSITIVE, search=(1e-4, 1e-1, "log")),
    eps=check.Hyperparameter(check.NONNEGATIVE),
    momentum=MOMENTUM,
    nesterov=check.Hyperparameter(check.SWITCH, choices=(False, True)),
)
def lars(
    learning_rate: LearningRate = 1.0,
    weight_decay: LearningRate = 0.0,
    trust_coefficient: jax.typing.ArrayLike = 0.001,
    eps: jax.typing.ArrayLike = 0.0,
    momentum: jax.typing.ArrayLike = 0.9,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """LARS: v <- momentum v + lr tc |x| / (|g + wd x| + eps) (g + wd x) per array; x <- x - v.

    Args:
      learning_rate: the global step size, or a schedule (the local one is
        trust_coefficient |x| / |g + wd x|).
      weight_decay: added to the gradient before the ratio, >= 0 or a schedule.
      trust_coefficient: the paper's eta, > 0.
      eps: added to the update's norm, >= 0.
      momentum: the velocity's decay, in [0, 1); nesterov: step along the
        look-ahead velocity.

    References:
      You, Gitman & Ginsburg, "Large batch training of convolutional networks",
      2017, arXiv:1708.03888.
    """
    return optax.chain(
        add_decayed_weights(weight_decay),
        scale_by_trust_ratio(trust_coefficient, eps),
        scale_by_learning_rate(learning_rate),
        scale_by_momentum(momentum, nesterov=nesterov),
    )


@check.hyperparameters(
    **ADAM_HYPERPARAMETERS,
    weight_decay=WEIGHT_DECAY,
)
def lamb(
    learning_rate: LearningRate = 1e-3,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-6,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: LearningRate = 0.0,
) -> optax.GradientTransformation:
    """LAMB: r = mhat / (sqrt(vhat + eps_root) + eps) + wd x; x <- x - lr |x| / |r| r, per array.

    Args:
      learning_rate: step size, or a schedule.
      b1, b2, eps, eps_root: Adam's (see `adam`); eps defaults to 1e-6 as in optax.
      weight_decay: decoupled, inside the ratio, >= 0 or a schedule.

    References:
      You et al., "Large batch optimization for deep learning: training BERT in
      76 minutes", ICLR 2020, arXiv:1904.00962.
    """
    return optax.chain(
        scale_by_adam(b1, b2, eps, eps_root),
        add_decayed_weights(weight_decay),
        scale_by_trust_ratio(),
        scale_by_learning_rate(learning_rate),
    )


register(OptimizerSpec.declared(
    lars,
    name="lars",
    elementwise=False,  # norms over each parameter array
    twin=optax.lars,
    rule="per array: u = g + weight_decay*x; v = momentum*v + lr * tc*|x|/(|u| + eps) * u; x -= v",
    paper="You et al. 2017, arXiv:1708.03888",
    notes="the ratio is 1 where |x| or |u| is 0 (optax); lr is applied before the momentum, as in optax; "
          "every array gets the ratio and the decay (optax's masks are not offered).",
))
register(OptimizerSpec.declared(
    lamb,
    name="lamb",
    elementwise=False,  # norms over each parameter array
    twin=optax.lamb,
    rule="per array: r = mhat/(sqrt(vhat + eps_root) + eps) + weight_decay*x; x -= lr * |x|/|r| * r",
    paper="You et al. 2020, arXiv:1904.00962",
    notes="phi is the identity and the ratio is 1 where |x| or |r| is 0 (optax); no mask for the decay.",
))
