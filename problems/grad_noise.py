"""Gradient noise for deterministic problems: `with_grad_noise(p, scale, relative=False)`.

The wrapped problem is stochastic: its minibatch of size B at x has the gradient

  absolute:  grad f(x) + (scale / sqrt(B)) z
  relative:  grad f(x) + (scale ||grad f(x)||_2 / sqrt(dim B)) z

with z ~ N(0, I) drawn afresh at every step, so `scale` is the noise of a single
example (batch_size = 1): absolute, its per-coordinate standard deviation;
relative, E||noise||^2 = scale^2 ||grad f||^2 / B. Its full batch is the exact
problem (same loss, f*, x*). Run it with a `batch_size` (e.g. 1) to get noise.

The noise enters as a linear term whose gradient is the noise: a minibatch's
loss is f(x) + c(x) <z, x>, with c(x) held constant (stop_gradient), so every
optimizer, whatever it asks for (value, gradient, line-search values), sees one
consistent noisy function per step.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from problems.problem import Problem
from problems.validate import check_float, check_int


def with_grad_noise(p: Problem, scale: float, relative: bool = False) -> Problem:
    """`p` with additive Gaussian gradient noise (see the module docstring).

    Args:
      p: a deterministic problem (one without minibatches of its own).
      scale: the noise of one example, >= 0.
      relative: scale relative to the gradient's norm, instead of absolute.
    """
    scale = check_float(p.name, "grad_noise scale", scale, minimum=0.0)
    if not isinstance(relative, bool):
        raise ValueError(f"{p.name}: grad_noise relative must be true or false, got {relative!r}")
    if p.stochastic:
        raise ValueError(f"{p.name}: has minibatches of its own; grad_noise is for deterministic problems")
    shapes = jax.eval_shape(lambda key: p.init_fn(key, jnp.float32), jax.random.PRNGKey(0))
    fn = p.fn

    def sample(key, batch_size, data):
        """z scaled for a minibatch of `batch_size` (a pytree like x, float32)."""
        del data
        batch_size = check_int("sample_batch", "batch_size", batch_size, minimum=1)
        leaves, treedef = jax.tree.flatten(shapes)
        keys = jax.random.split(key, len(leaves))
        factor = scale / math.sqrt(batch_size * (p.dim if relative else 1))
        z = [factor * jax.random.normal(k, s.shape, jnp.float32) for k, s in zip(keys, leaves)]
        return jax.tree.unflatten(treedef, z)

    def loss(x, data, batch=None):
        value = fn(x, data, None)
        if batch is None:
            return value
        c = 1.0
        if relative:
            g = jax.grad(fn)(x, data, None)
            c = jax.lax.stop_gradient(jnp.sqrt(sum(jnp.sum(jnp.square(a)) for a in jax.tree.leaves(g))))
        linear = sum(jnp.sum(z.astype(a.dtype) * a) for z, a in zip(jax.tree.leaves(batch), jax.tree.leaves(x)))
        return value + c * linear

    return dataclasses.replace(
        p,
        args={**p.args, "grad_noise": scale, "relative": relative},
        fn=loss,
        info={**p.info, "grad_noise": scale, "grad_noise_relative": relative},
        sample_batch_fn=sample,
    )
