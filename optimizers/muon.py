"""Muon: momentum orthogonalised by Newton-Schulz iterations on matrices, Adam on the rest."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers import moments
from optimizers import validation as check
from optimizers.adam import ADAM_HYPERPARAMETERS, adamw, nesterov_mu_hat
from optimizers.learning_rate import LearningRate, scale_by_learning_rate
from optimizers.registry import OptimizerSpec, register
from optimizers.weight_decay import add_decayed_weights

#: Jordan's quintic coefficients (a, b, c) of X <- a X + b (X X^T) X + c (X X^T)^2 X: a large slope at 0,
#: so that small singular values grow fast; 5 steps leave them in about [0.7, 1.2], not at 1 (those far below
#: the Frobenius norm lower).
NS_COEFFS = (3.4445, -4.7750, 2.0315)


def newton_schulz(x: jax.Array, ns_steps: jax.typing.ArrayLike = 5, eps: jax.typing.ArrayLike = 1e-8) -> jax.Array:
    """Approximately U V^T of a matrix x = U S V^T, by `ns_steps` quintic Newton-Schulz iterations.

    x is first divided by its Frobenius norm (+ eps), which puts its singular
    values in [0, 1], the interval the coefficients are made for. It works on the
    wide orientation (rows <= columns), so that X X^T is the smaller Gram matrix.
    """
    wide = x.shape[0] <= x.shape[1]
    x = x if wide else x.T
    x = x / (jnp.sqrt(jnp.sum(x * x)) + eps)
    a, b, c = NS_COEFFS

    def iteration(_, x):
        gram = x @ x.T
        return a * x + (b * gram + (c * gram) @ gram) @ x

    x = jax.lax.fori_loop(0, ns_steps, iteration, x, unroll=True)
    return x if wide else x.T


def orthogonalize(x: jax.Array, ns_steps: jax.typing.ArrayLike = 5, eps: jax.typing.ArrayLike = 1e-8) -> jax.Array:
    """`newton_schulz` of a matrix, computed as a stack of one (`vmap`).

    optax orthogonalises a stack of matrices; XLA rounds a batched product of a
    tall matrix differently from an unbatched one (by an ulp, which Muon's
    steps, of fixed size, amplify), so ours takes the same batched form.
    """
    return jax.vmap(lambda m: newton_schulz(m, ns_steps, eps))(x[None])[0]


class ScaleByMuonState(NamedTuple):
    """Step count and the momentum of the matrices."""

    count: jax.Array
    mu: optax.Updates


def scale_by_muon(
    beta: jax.typing.ArrayLike = 0.95,
    ns_steps: jax.typing.ArrayLike = 5,
    eps: jax.typing.ArrayLike = 1e-8,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
) -> optax.GradientTransformation:
    """m <- beta m + (1 - beta) g; u = orthogonalize(mhat) * sqrt(max(1, cols / rows)), for matrices only.

    mhat is m bias-corrected (or Nesterov's look-ahead beta mhat_{t+1} +
    (1 - beta) ghat_t); `adaptive` scales u by <mhat, u> (the dual norm of mhat
    under the spectral norm, Bernstein & Newhouse 2024). The factor
    sqrt(max(1, cols / rows)) (rows: the input dimension) keeps the update's
    RMS size comparable across shapes (Jordan's width scaling).
    """

    def init_fn(params):
        return ScaleByMuonState(count=moments.count0(), mu=moments.zeros(params))

    def update_fn(updates, state, params=None):
        del params
        mu = moments.ema(updates, state.mu, beta)
        count = moments.increment(state.count)
        mu_hat = nesterov_mu_hat(mu, updates, beta, count) if nesterov else moments.debias(mu, beta, count)
        ortho = jax.tree.map(lambda m: orthogonalize(m, ns_steps, eps), mu_hat)
        if adaptive:
            ortho = jax.tree.map(lambda m, o: jnp.sum(m * o) * o, mu_hat, ortho)
        updates = jax.tree.map(lambda o: jnp.sqrt(jnp.maximum(1, o.shape[1] / o.shape[0])) * o, ortho)
        return updates, ScaleByMuonState(count=count, mu=moments.like(mu, state.mu))

    return optax.GradientTransformation(init_fn, update_fn)


def _labels(params):
    """The partition's labels: 'muon' for each matrix, 'adam' for every other leaf."""
    return jax.tree.map(lambda p: "muon" if p.ndim == 2 else "adam", params)


SWITCH = check.Hyperparameter(check.SWITCH, choices=(False, True))


@check.hyperparameters(
    learning_rate=check.Hyperparameter(check.STEP_SIZE, search=(1e-4, 1.0, "log")),
    beta=check.Hyperparameter(check.DECAY, search=(0.5, 0.99, "linear")),
    ns_steps=check.COUNT,
    eps=check.Hyperparameter(check.NONNEGATIVE),
    weight_decay=check.Hyperparameter(check.NONNEGATIVE_OR_SCHEDULE, search=(1e-6, 1e-1, "log")),
    adam_b1=ADAM_HYPERPARAMETERS["b1"],
    adam_b2=ADAM_HYPERPARAMETERS["b2"],
    adam_eps_root=check.NONNEGATIVE,
    adam_weight_decay=check.NONNEGATIVE_OR_SCHEDULE,
    nesterov=SWITCH,
    adaptive=SWITCH,
)
def muon(
    learning_rate: LearningRate = 0.02,
    beta: jax.typing.ArrayLike = 0.95,
    ns_steps: jax.typing.ArrayLike = 5,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: LearningRate = 0.0,
    adam_b1: jax.typing.ArrayLike = 0.9,
    adam_b2: jax.typing.ArrayLike = 0.999,
    adam_eps_root: jax.typing.ArrayLike = 0.0,
    adam_weight_decay: LearningRate = 0.0,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
) -> optax.GradientTransformation:
    """Muon on every 2-D leaf, AdamW (same lr, eps and nesterov) on every other leaf.

    A matrix W steps by -lr (sqrt(max(1, cols / rows)) NS(mhat) + weight_decay W),
    NS(.) the Newton-Schulz approximation of the orthogonal polar factor.

    Args:
      learning_rate: step size of both parts, or a schedule.
      beta: momentum decay of the matrices, in [0, 1).
      ns_steps: Newton-Schulz iterations, an integer >= 0.
      eps: added to the Frobenius norm before Newton-Schulz, and Adam's eps.
      weight_decay: decoupled weight decay of the matrices (times lr).
      adam_b1, adam_b2, adam_eps_root, adam_weight_decay: the fallback AdamW's.
      nesterov: Nesterov's look-ahead momentum, in both parts (on by default).
      adaptive: scale each matrix's update by <mhat, NS(mhat)>.

    References:
      Jordan et al., "Muon: an optimizer for hidden layers in neural networks",
      2024, kellerjordan.github.io/posts/muon.
      Bernstein & Newhouse, "Old optimizer, new norm: an anthology", 2024,
      arXiv:2409.20325.
    """
    return optax.partition(
        {
            "muon": optax.chain(
                scale_by_muon(beta, ns_steps, eps, nesterov=nesterov, adaptive=adaptive),
                add_decayed_weights(weight_decay),
                scale_by_learning_rate(learning_rate),
            ),
            "adam": adamw(learning_rate, adam_b1, adam_b2, eps, adam_eps_root, adam_weight_decay, nesterov=nesterov),
        },
        _labels,
    )


def _twin(learning_rate, beta, ns_steps, eps, weight_decay, adam_b1, adam_b2, adam_eps_root, adam_weight_decay,
          nesterov, adaptive):
    return optax.contrib.muon(
        learning_rate, ns_steps=ns_steps, beta=beta, eps=eps, weight_decay=weight_decay, nesterov=nesterov,
        adaptive=adaptive, adam_b1=adam_b1, adam_b2=adam_b2, adam_eps_root=adam_eps_root,
        adam_weight_decay=adam_weight_decay,
    )


register(OptimizerSpec.declared(
    muon,
    name="muon",
    elementwise=False,  # Newton-Schulz mixes a matrix's entries
    twin=_twin,
    twin_call="optax.contrib.muon(lr, ...)",
    rule="matrices: m = beta*m + (1-beta)*g; x -= lr * sqrt(max(1, cols/rows)) * NS(mhat); other leaves: adamw",
    paper="Jordan et al. 2024 (kellerjordan.github.io/posts/muon); Bernstein & Newhouse 2024, arXiv:2409.20325",
    notes="Jordan's coefficients (3.4445, -4.7750, 2.0315), Frobenius pre-scaling, Nesterov on by default, "
          "the fallback is AdamW with nesterov and muon's eps (optax).",
))
