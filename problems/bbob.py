"""COCO's BBOB suite: the 24 noiseless functions, instance for instance as COCO has them.

    problems.get("bbob", function=F, instance=I, dim=D)

F in 1..24, I >= 1 (COCO's instance ids; 1-15 are the 2009-2010 workshops', later
years add 21-30, ..., 101-110), D in 2..40 (COCO's suite has 2, 3, 5, 10, 20,
40). The instance is derived from (F, I) with COCO's own seeds and generator
(problems/bbob_random.py), so x_star (x_opt), f_star (f_opt) and every value are
COCO's (tested against the `coco-experiment` package, cocoex, in float64).

  * f_star = f_opt, COCO's offset; x_star = x_opt, COCO's reported optimum.
  * The search box is [-5, 5]^D (info["box"]; `bounds` for 2-D plots). Outside
    it most functions add COCO's penalty f_pen; the loss is defined everywhere.
  * Starting points: seed 0 (key PRNGKey(0)) starts at COCO's initial solution,
    the origin (the box's centre). Any other key draws COCO's restart proposal
    distribution: each coordinate 5 (u1 + u2 - 1) with u1, u2 uniform in [0, 1)
    (triangular density on [-5, 5], peaked at 0), drawn in float32 from the key.
  * info: "convex" (f1, f5, f13), "differentiable" (everywhere; False where
    problems/bbob_functions.py lists kinks, steps or roots), "function",
    "instance", "title", "box"; "L" and "mu" (= 2) for the sphere.

References:
  Hansen, Finck, Ros, Auger, "Real-Parameter Black-Box Optimization
  Benchmarking 2009: Noiseless Functions Definitions", INRIA RR-6829, 2009.
  Hansen, Auger, Ros, Mersmann, Tusar, Brockhoff, "COCO: a platform for
  comparing continuous optimizers in a black-box setting", Optimization Methods
  and Software 36(1):114-144, 2021.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from problems.bbob_functions import VALUES, build
from problems.problem import Problem, cast_like
from problems.registry import register
from problems.validate import check_int

TITLES = {
    1: "sphere", 2: "separable ellipsoid", 3: "Rastrigin", 4: "Bueche-Rastrigin", 5: "linear slope",
    6: "attractive sector", 7: "step ellipsoid", 8: "Rosenbrock", 9: "rotated Rosenbrock", 10: "ellipsoid",
    11: "discus", 12: "bent cigar", 13: "sharp ridge", 14: "different powers", 15: "rotated Rastrigin",
    16: "Weierstrass", 17: "Schaffers F7", 18: "ill-conditioned Schaffers F7", 19: "Griewank-Rosenbrock F8F2",
    20: "Schwefel x sin(sqrt|x|)", 21: "Gallagher 101 peaks", 22: "Gallagher 21 peaks", 23: "Katsuura",
    24: "Lunacek bi-Rastrigin",
}
CONVEX = frozenset({1, 5, 13})
#: Differentiable everywhere (T_osz's kink at 0 is harmless where the function is flat there).
DIFFERENTIABLE = frozenset({1, 2, 3, 4, 8, 9, 10, 11, 12, 19, 20})
MAX_DIM = 40  # COCO's bbob suite stops at 40
MAX_INSTANCE = 10**6  # seeds 10^4 I + 3 10^6 stay exact in COCO's 64-bit integer arithmetic
BOX = (-5.0, 5.0)


@functools.lru_cache(maxsize=256)
def _instance(function: int, instance: int, dim: int):
    data, x_star = build(function, instance, dim)
    data = {k: np.array(v, dtype=np.float64) for k, v in data.items()}
    for a in (*data.values(), x_star):
        a.flags.writeable = False
    return data, x_star


def _loss_fn(function: int):
    value = VALUES[function]

    def loss(x, data, batch=None):
        del batch
        return value(x, cast_like(data, x))

    loss.__name__ = loss.__qualname__ = f"bbob_f{function}"
    return loss


_LOSSES = {f: _loss_fn(f) for f in VALUES}


def _init_fn(dim: int):
    def init(key, dtype=jnp.float32):
        raw = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
        u = jax.random.uniform(key, (2, dim), jnp.float32)
        proposal = 5.0 * (u[0] + u[1] - 1.0)
        return jnp.where(jnp.all(raw == 0), jnp.zeros(dim, jnp.float32), proposal).astype(dtype)

    return init


@register("bbob")
def bbob(function: int = 1, instance: int = 1, dim: int = 2) -> Problem:
    """BBOB function `function` (1-24), COCO instance `instance` (>= 1), in `dim` (2-40) dimensions."""
    function = check_int("bbob", "function", function, minimum=1, maximum=24)
    instance = check_int("bbob", "instance", instance, minimum=1, maximum=MAX_INSTANCE)
    dim = check_int("bbob", "dim", dim, minimum=2, maximum=MAX_DIM)
    data, x_star = _instance(function, instance, dim)
    info = {
        "convex": function in CONVEX, "differentiable": function in DIFFERENTIABLE,
        "function": function, "instance": instance, "title": TITLES[function], "box": BOX,
    }
    if function == 1:
        info.update(L=2.0, mu=2.0)
    return Problem(
        name="bbob",
        dim=dim,
        args={"function": function, "instance": instance, "dim": dim},
        fn=_LOSSES[function],
        data=data,
        init_fn=_init_fn(dim),
        f_star=float(data["fopt"]),
        x_star=x_star,
        info=info,
        bounds=(BOX, BOX) if dim == 2 else None,
    )

