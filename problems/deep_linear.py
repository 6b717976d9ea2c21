"""A deep linear network fitted by least squares: non-convex, f* known.

f(W_1, ..., W_L) = (1 / (2 N)) ||X W_1 W_2 ... W_L - Y||_F^2,

W_1 of shape (d, h), W_2 .. W_{L-1} (h, h), W_L (h, k), L = depth >= 2;
X ~ N(0, 1)^{N x d}, Y = X T + noise * N(0, 1)^{N x k}, T ~ N(0, 1 / d) entries,
all from `seed`. The parameters are the dict {"w0", ..., "w{L-1}"}. With
h >= min(d, k) (required) the product ranges over every d x k matrix, so f* is
the linear least-squares value ||X W_ls - Y||_F^2 / (2 N), W_ls from
`numpy.linalg.lstsq`, and the minimisers are all factorizations of W_ls (Baldi
& Hornik 1989; Kawaguchi 2016: every local minimum is global). x* is the
balanced one from W_ls's thin SVD P S Q^T (s = min(d, k) singular values):
W_1 = [P S^(1/L), 0], the middle W_i = diag(S^(1/L), 0), W_L = [S^(1/L) Q^T; 0].
The loss is a polynomial of degree 2L with no global L, and not convex: x = 0
is a stationary point (each term of the gradient has a zero factor) with
f(0) = ||Y||_F^2 / (2 N) > f*; so no L or mu is stated. The rows of (X, Y) are the samples
minibatches draw. The starting point is W_i ~ N(0, 1 / fan_in), drawn from the key.

References:
  Baldi & Hornik, "Neural networks and principal component analysis: learning
    from examples without local minima", Neural Networks 2(1), 1989.
  Saxe, McClelland & Ganguli, "Exact solutions to the nonlinear dynamics of
    learning in deep linear neural networks", ICLR 2014.
  Kawaguchi, "Deep learning without poor local minima", NeurIPS 2016.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from problems import datasets
from problems.problem import Problem, cast_like
from problems.registry import register
from problems.validate import MAX_NOISE, MAX_SEED, check_elements, check_float, check_int


def _loss(x, data, batch=None):
    data = cast_like(data, x)
    out, Y = data["X"], data["y"]
    if batch is not None:
        out, Y = out[batch], Y[batch]
    for i in range(len(x)):
        out = out @ x[f"w{i}"]
    r = out - Y
    return 0.5 * jnp.sum(r * r) / Y.shape[0]


def balanced_factors(W: np.ndarray, depth: int, width: int) -> list[np.ndarray]:
    """depth factors of W (d x k), of shapes (d, width), (width, width), ..., (width, k), in float64."""
    P, s, Qt = np.linalg.svd(W, full_matrices=False)
    root = s ** (1.0 / depth)
    k = s.size
    first = np.zeros((W.shape[0], width))
    first[:, :k] = P * root
    middle = np.zeros((width, width))
    middle[:k, :k] = np.diag(root)
    last = np.zeros((width, W.shape[1]))
    last[:k] = root[:, None] * Qt
    return [first, *(middle.copy() for _ in range(depth - 2)), last]


@functools.lru_cache(maxsize=16)
def _instance(depth, width, n_samples, n_inputs, n_outputs, noise, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_inputs))
    T = rng.standard_normal((n_inputs, n_outputs)) / math.sqrt(n_inputs)
    Y = X @ T + noise * rng.standard_normal((n_samples, n_outputs))
    W_ls = np.linalg.lstsq(X, Y, rcond=None)[0]
    r = X @ W_ls - Y
    f_star = 0.5 * float(np.sum(r * r)) / n_samples
    factors = balanced_factors(W_ls, depth, width)
    datasets.readonly(X, Y, *factors)
    return X, Y, tuple(factors), f_star


@register("deep_linear")
def deep_linear(depth: int = 3, width: int = 8, n_samples: int = 200, n_inputs: int = 10, n_outputs: int = 5,
                noise: float = 0.1, seed: int = 0) -> Problem:
    """A depth-layer linear network X W_1 ... W_L regressed on seeded Gaussian data (width >= min(d, k))."""
    name = "deep_linear"
    depth = check_int(name, "depth", depth, minimum=2)
    n_inputs = check_int(name, "n_inputs", n_inputs, minimum=1)
    n_outputs = check_int(name, "n_outputs", n_outputs, minimum=1)
    width = check_int(name, "width", width, minimum=min(n_inputs, n_outputs))
    n_samples = check_int(name, "n_samples", n_samples, minimum=1)
    noise = check_float(name, "noise", noise, minimum=0.0, maximum=MAX_NOISE)
    seed = check_int(name, "seed", seed, minimum=0, maximum=MAX_SEED)
    check_elements(name, "n_samples and n_inputs", n_samples, n_inputs)
    check_elements(name, "n_samples and n_outputs", n_samples, n_outputs)
    check_elements(name, "width and n_inputs", width, n_inputs)
    check_elements(name, "width and n_outputs", width, n_outputs)
    check_elements(name, "depth and width", depth, width, width)
    X, Y, factors, f_star = _instance(depth, width, n_samples, n_inputs, n_outputs, noise, seed)
    shapes = [f.shape for f in factors]

    def init(key, dtype=jnp.float32):
        # One normal draw for every layer, scaled by 1 / sqrt(fan_in).
        z = jax.random.normal(key, (sum(a * b for a, b in shapes),), jnp.float32)
        params, start = {}, 0
        for i, (fan_in, fan_out) in enumerate(shapes):
            w = z[start:start + fan_in * fan_out].reshape(fan_in, fan_out) / math.sqrt(fan_in)
            params[f"w{i}"] = w.astype(dtype)
            start += fan_in * fan_out
        return params

    return Problem(
        name=name,
        dim=sum(a * b for a, b in shapes),
        args={"depth": depth, "width": width, "n_samples": n_samples, "n_inputs": n_inputs,
              "n_outputs": n_outputs, "noise": noise, "seed": seed},
        fn=_loss,
        data={"X": X, "y": Y},
        init_fn=init,
        f_star=f_star,
        x_star={f"w{i}": f for i, f in enumerate(factors)},
        info={"convex": False, "n_samples": n_samples,
              "minimizer_set": "every (W_1, ..., W_L) whose product is the least-squares solution; "
                               "x* is the balanced one"},
        sample_batch_fn=datasets.sample_rows,
    )
