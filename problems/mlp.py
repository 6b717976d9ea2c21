"""A small multilayer-perceptron classifier: non-convex, optimum unknown.

f(theta) = (1/n) sum_i CE(softmax(net(x_i)), y_i) + (l2 / 2) sum_l ||W_l||_F^2,
net = dense -> tanh -> ... -> dense (logits). The parameters are a dict
{"w0": (d, h1), "b0": (h1,), "w1": (h1, h2), ..., "wK": (hK, c), "bK": (c,)};
dim = the total number of scalars; biases are not regularised. tanh keeps the
loss smooth, so finite-difference gradient checks are meaningful. The starting
point is Glorot-uniform weights and zero biases, drawn from the key. f* and x*
are unknown (None).

Data sets: "digits" (default; 1797 x 64, 10 classes), "breast_cancer", or
"synthetic" (as for softmax_regression); features standardised.

References:
  Glorot & Bengio, "Understanding the difficulty of training deep feedforward
  neural networks", AISTATS 2010 (the initialisation).
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from problems import datasets
from problems.problem import Problem, cast_like
from problems.registry import register
from problems.softmax_regression import cross_entropy
from problems.validate import MAX_SIZE, check_elements, check_float

SYNTHETIC_DEFAULTS = {"n_samples": 1000, "n_features": 20, "n_classes": 5, "seed": 0}


def _loss(params, data, batch=None):
    data = cast_like(data, params)
    h, y = data["X"], data["y"]
    if batch is not None:
        h, y = h[batch], y[batch]
    n_layers = len(params) // 2
    penalty = 0.0
    for i in range(n_layers):
        w = params[f"w{i}"]
        h = h @ w + params[f"b{i}"][None, :]
        if i < n_layers - 1:
            h = jnp.tanh(h)
        penalty = penalty + jnp.sum(w * w)
    return cross_entropy(h, y) + 0.5 * data["l2"] * penalty


def _check_hidden(hidden) -> tuple[int, ...]:
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
        hidden = (hidden,)
    ok = isinstance(hidden, (tuple, list)) and len(hidden) > 0 and all(
        isinstance(h, numbers.Integral) and not isinstance(h, bool) and 1 <= h <= MAX_SIZE for h in hidden
    )
    if not ok:
        raise ValueError(
            f"mlp: hidden must be a layer width in [1, {MAX_SIZE}] or a non-empty tuple of them, got {hidden!r}"
        )
    return tuple(int(h) for h in hidden)


@register("mlp")
def mlp(
    dataset: str = "digits",
    hidden: tuple[int, ...] = (32,),
    l2: float = 0.0,
    n_samples: int | None = None,
    n_features: int | None = None,
    n_classes: int | None = None,
    seed: int | None = None,
) -> Problem:
    """A tanh MLP classifier with softmax cross-entropy.

    Args:
      dataset: "digits", "breast_cancer" or "synthetic".
      hidden: widths of the hidden layers (an int for one layer).
      l2: weight decay >= 0 on the weight matrices.
      n_samples, n_features, n_classes, seed: size and data seed of
        dataset="synthetic" (defaults 1000, 20, 5, 0); leave unset for a real set.
    """
    dataset = datasets.check_dataset("mlp", dataset)
    hidden = _check_hidden(hidden)
    l2 = check_float("mlp", "l2", l2, minimum=0.0)
    synth = datasets.synthetic_args(
        "mlp",
        dataset,
        {"n_samples": n_samples, "n_features": n_features, "n_classes": n_classes, "seed": seed},
        SYNTHETIC_DEFAULTS,
    )
    X, y = datasets.classification(
        dataset, synth.get("n_samples"), synth.get("n_features"), synth.get("n_classes"), synth.get("seed")
    )
    n_classes = synth["n_classes"] if dataset == datasets.SYNTHETIC else datasets.REAL[dataset][2]
    widths = (X.shape[1], *hidden, n_classes)
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        check_elements("mlp", "hidden", fan_in, fan_out)
    shapes = {}
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        shapes[f"w{i}"] = (fan_in, fan_out)
        shapes[f"b{i}"] = (fan_out,)

    def init(key, dtype=jnp.float32):
        # One uniform draw for all weights (one random-number program per instance),
        # scaled per layer to Glorot's U(-limit, limit).
        sizes = [fan_in * fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:])]
        u = jax.random.uniform(key, (sum(sizes),), jnp.float32, -1.0, 1.0)
        params, start = {}, 0
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            w = limit * u[start:start + sizes[i]].reshape(fan_in, fan_out)
            params[f"w{i}"] = w.astype(dtype)
            params[f"b{i}"] = jnp.zeros((fan_out,), dtype)
            start += sizes[i]
        return params

    return Problem(
        name="mlp",
        dim=sum(int(np.prod(s)) for s in shapes.values()),
        args={"dataset": dataset, "hidden": hidden, "l2": l2, **synth},
        fn=_loss,
        data={"X": X, "y": y, "l2": np.asarray(l2, dtype=np.float64)},
        init_fn=init,
        f_star=None,
        x_star=None,
        info={"convex": False, "n_samples": X.shape[0]},
        sample_batch_fn=datasets.sample_rows,
    )
