"""The noisy quadratic model (NQM): a diagonal quadratic whose minibatch gradients are noisy.

f(x) = 0.5 sum_i h_i x_i^2,  h_i = condition_number ** (-i / (dim - 1)),  i = 0 .. dim-1

(h_0 = 1 = L, h_{dim-1} = 1 / condition_number = mu), f* = 0 at x* = 0, and every
seed starts at x_0 = (1, ..., 1): here the seed drives only the gradient noise.
A minibatch of size B gives the gradient h * x + eps, eps ~ N(0, noise * diag(h) / B),
drawn afresh at every step (the noise covariance proportional to the Hessian, as
for a well-specified model near its optimum). The full-batch gradient is exact.

Its expected loss under SGD and heavy-ball momentum has a closed form
(`expected_loss`), so the harness's stochastic mode can be checked against it.

References:
  Zhang, Li, Nado, Martens, Sachdeva, Dahl, Shallue, Grosse, "Which algorithmic
  choices matter at which batch sizes? Insights from a noisy quadratic model",
  NeurIPS 2019.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from problems.problem import Problem, cast_like
from problems.registry import register
from problems.validate import check_float, check_int


def _loss(x, data, batch=None):
    """f(x); with a minibatch (its noise vector eps) f(x) + eps . x, whose gradient is h x + eps."""
    data = cast_like(data, x)
    value = 0.5 * jnp.sum(data["h"] * x * x)
    if batch is not None:
        value = value + jnp.dot(batch, x)
    return value


def _sample(key, batch_size, data):
    """The gradient noise of a minibatch of `batch_size`: N(0, noise * diag(h) / batch_size)."""
    batch_size = check_int("sample_batch", "batch_size", batch_size, minimum=1)
    h = jnp.asarray(data["h"])
    scale = jnp.sqrt(jnp.asarray(data["noise"], h.dtype) * h / batch_size)
    return scale * jax.random.normal(key, h.shape, h.dtype)


def curvatures(dim: int, condition_number: float) -> np.ndarray:
    """h_i = condition_number ** (-i / (dim - 1)), i = 0 .. dim-1 (h = [1] when dim = 1)."""
    if dim == 1:
        return np.ones(1)
    return condition_number ** (-np.arange(dim) / (dim - 1))


def expected_loss(h: np.ndarray, noise: float, batch_size: int, learning_rate: float, steps: int,
                  momentum: float = 0.0, x0: float = 1.0) -> np.ndarray:
    """E[f(x_t)], t = 0 .. steps, for heavy-ball momentum (momentum = 0: SGD), in float64.

    The iteration is that of `optimizers.momentum` (optax's sgd): from v_0 = 0,
      v_{t+1} = g_t + momentum v_t,  x_{t+1} = x_t - lr v_{t+1},  g_t = h x_t + eps_t,
    so per coordinate z = (x, v) follows z_{t+1} = M z_t + c eps_t with
      M = [[1 - lr h, -lr momentum], [h, momentum]],  c = (-lr, 1),
    and its second moment S_t = E[z_t z_t^T] (eps_t is independent of z_t, zero-mean,
    of variance s = noise h / B) follows S_{t+1} = M S_t M^T + s c c^T. Then
    E[f(x_t)] = 0.5 sum_i h_i S_t[i, x, x]. With momentum = 0 the x-entry is the
    familiar E[x^2]_{t+1} = (1 - lr h)^2 E[x^2]_t + lr^2 noise h / B.
    """
    h = np.asarray(h, np.float64)
    lr, beta = float(learning_rate), float(momentum)
    s = noise * h / batch_size
    # S as its three distinct entries per coordinate: xx, xv, vv.
    xx, xv, vv = np.full_like(h, x0 * x0), np.zeros_like(h), np.zeros_like(h)
    a, b, c, d = 1.0 - lr * h, -lr * beta, h, beta  # M = [[a, b], [c, d]]
    out = [0.5 * np.sum(h * xx)]
    for _ in range(steps):
        xx, xv, vv = (
            a * a * xx + 2 * a * b * xv + b * b * vv + lr * lr * s,
            a * c * xx + (a * d + b * c) * xv + b * d * vv - lr * s,
            c * c * xx + 2 * c * d * xv + d * d * vv + s,
        )
        out.append(0.5 * np.sum(h * xx))
    return np.asarray(out)


@register("noisy_quadratic")
def noisy_quadratic(dim: int = 100, condition_number: float = 1e3, noise: float = 1.0) -> Problem:
    """The noisy quadratic model of Zhang et al. (2019).

    Args:
      dim: number of coordinates.
      condition_number: h_0 / h_{dim-1} >= 1 (the curvatures are geometric between them).
      noise: the gradient noise of a single example, >= 0: a minibatch of B has
        covariance noise * diag(h) / B.
    """
    dim = check_int("noisy_quadratic", "dim", dim, minimum=1)
    condition_number = check_float("noisy_quadratic", "condition_number", condition_number, minimum=1.0)
    noise = check_float("noisy_quadratic", "noise", noise, minimum=0.0)
    h = curvatures(dim, condition_number)

    def init(key, dtype=jnp.float32):
        del key  # every seed starts at the same point; the seed drives the noise
        return jnp.ones((dim,), dtype)

    return Problem(
        name="noisy_quadratic",
        dim=dim,
        args={"dim": dim, "condition_number": condition_number, "noise": noise},
        fn=_loss,
        data={"h": h, "noise": np.asarray(noise, np.float64)},
        init_fn=init,
        f_star=0.0,
        x_star=np.zeros(dim),
        info={"convex": True, "L": float(h.max()), "mu": float(h.min()), "noise": noise},
        bounds=((-1.5, 1.5), (-1.5, 1.5)) if dim == 2 else None,
        sample_batch_fn=_sample,
    )
