"""The `Problem` record: a loss function with what is known about it.

A problem is pure data plus a pure function. Its instance data (matrices, data
sets) lives in `data`, a pytree of NumPy arrays built once from the problem's
own seed, and is passed to `fn` as an argument. The harness passes `data` into
its compiled program as an argument rather than closing over it, so large
instances are not baked into the program as constants.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any


def cast_like(data: PyTree, x: PyTree) -> PyTree:
    """Casts the floating leaves of `data` to the floating dtype of `x`.

    Losses compute in the dtype of their parameters, so float32 and float64 runs
    of the same instance differ only by rounding.
    """
    dtype = jnp.result_type(*jax.tree.leaves(x))

    def cast(a):
        if isinstance(a, (np.ndarray, np.generic)):
            # Hand JAX a fresh copy, never the instance array itself: JAX 0.10 caches
            # its conversion of a NumPy array per object, without keying on
            # jax_enable_x64. An array first traced under x64 (e.g. `jit(p.loss)` in a
            # float64 run) would later reach a float32 program as float64 and fail
            # there (RuntimeProgramInputMismatch). Checked by tests/test_problems.py
            # (test_problems_survive_mixing_float64_and_float32).
            a = np.array(a, dtype=dtype if a.dtype.kind == "f" else a.dtype)
        a = jnp.asarray(a) if not isinstance(a, jax.Array) else a
        return a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree.map(cast, data)


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """A test loss function, its instance data and its known properties.

    Attributes:
      name: registry name, e.g. "rosenbrock".
      dim: number of scalar parameters.
      args: the keyword arguments it was built with (enough to rebuild it).
      fn: pure loss `fn(x, data, batch=None) -> scalar`, in x's dtype.
      data: instance data, a pytree of arrays (empty dict when none).
      init_fn: `init_fn(key, dtype) -> x0`, the starting point for a seed.
      f_star: the optimal value, or None where unknown.
      x_star: a minimiser (pytree like x0), or None where unknown.
      info: known properties: "convex" (bool), "L" and "mu" (float) where known.
      bounds: ((xmin, xmax), (ymin, ymax)) for contour plots of 2-D problems.
      sample_batch_fn: `sample_batch_fn(key, batch_size, data) -> batch` for
        stochastic problems; None for deterministic ones.
    """

    name: str
    dim: int
    args: Mapping[str, Any]
    fn: Callable[..., jax.Array]
    data: PyTree
    init_fn: Callable[..., PyTree]
    f_star: float | None = None
    x_star: PyTree | None = None
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None
    sample_batch_fn: Callable[..., PyTree] | None = None

    def init(self, key: jax.Array, dtype: Any = jnp.float32) -> PyTree:
        """The starting point for seed `key`, in `dtype`."""
        return self.init_fn(key, dtype)

    def loss(self, x: PyTree, batch: PyTree | None = None) -> jax.Array:
        """The loss at `x` (full batch unless a minibatch is given)."""
        return self.fn(x, self.data, batch)

    @property
    def stochastic(self) -> bool:
        return self.sample_batch_fn is not None

    def sample_batch(self, key: jax.Array, batch_size: int) -> PyTree:
        """A minibatch of `batch_size` examples drawn with `key`."""
        if self.sample_batch_fn is None:
            raise ValueError(f"problem {self.name!r} is deterministic: it has no minibatches")
        return self.sample_batch_fn(key, batch_size, self.data)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"Problem({self.name}({args}), dim={self.dim})"


def as_numpy(tree: PyTree) -> PyTree:
    """Instance data kept host-side in float64 so every run starts from the same numbers."""
    return jax.tree.map(lambda a: np.asarray(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a), tree)
