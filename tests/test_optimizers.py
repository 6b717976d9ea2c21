"""Every registered optimizer against its optax twin, and under jit, vmap and dtypes.

Tolerances: in float64 both implementations step from the same iterate at every
one of 500 steps, and the iterates they produce agree to a relative 1e-12
(max-norm over the pytree); float32 trajectories, each running on its own, agree
to 4 ulps of the largest coordinate at every 10th of 100 steps.
"""

from __future__ import annotations

import zlib
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
import problems

NAMES = optimizers.names()
PROBLEMS = {
    "rosenbrock": problems.get("rosenbrock", dim=2),
    "quadratic": problems.get("quadratic", dim=10, condition_number=1e3, seed=0),
}
DRAWS = (0, 1, 2)  # 0: the defaults; k > 0: drawn with seed (name, k)
STEPS64 = 500
RTOL64 = 1e-12
ULPS32 = 4


class MatrixLeastSquares:
    """0.5 mean((A W + b - Y)^2) over {"W": (6, 4), "b": (4,)}: a pytree with a matrix, as a network layer has."""

    f_star = 0.0  # Y = A W* + b* exactly (A has full column rank)

    def __init__(self):
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((12, 6)) * np.geomspace(1.0, 5.0, 6)  # columns scaled: condition ~ 10
        self.y = self.a @ rng.standard_normal((6, 4)) + rng.standard_normal((1, 4))

    def loss(self, p):
        a, y = jnp.asarray(self.a, p["W"].dtype), jnp.asarray(self.y, p["W"].dtype)
        return 0.5 * jnp.mean((a @ p["W"] + p["b"][None, :] - y) ** 2)

    def init(self, key, dtype):
        return {"W": jax.random.normal(key, (6, 4), dtype), "b": jnp.zeros(4, dtype)}


TWIN_PROBLEMS = {**PROBLEMS, "matrix": MatrixLeastSquares()}


def hyperparams(spec: optimizers.OptimizerSpec, k: int, problem: problems.Problem) -> dict:
    """The defaults (k = 0) or a reproducible random draw of every tunable and discrete one.

    Numbers come from the spec's search space, except the learning rate, drawn
    within a factor 10 below the default, where both problems here are stable.
    An optional feature whose default is None (rmsprop's momentum) is on for
    odd k. Switches and variants cycle through `spec.choices`, shifted per key,
    so that draws 1 and 2 between them take every value of a two-way switch.
    """
    hp = {"f_min": problem.f_star} if "f_min" in spec.needs else {}
    if k == 0:
        return hp
    rng = np.random.default_rng([zlib.crc32(spec.name.encode()), k])
    for key, (low, high, scale) in spec.search_space.items():
        if key == "learning_rate":
            low, high, scale = spec.defaults[key] / 10, spec.defaults[key], "log"
        u = rng.random()
        value = low * (high / low) ** u if scale == "log" else low + (high - low) * u
        hp[key] = None if spec.defaults[key] is None and k % 2 == 0 else float(value)
    for j, (key, options) in enumerate(spec.choices.items()):
        hp[key] = options[(k + j) % len(options)]
    return hp


def trajectory(tx, loss, x0, steps: int, every: int, needs) -> jax.Array:
    """The iterates after every `every` of `steps` steps, as one scan (call under jit)."""

    def step(carry, _):
        x, state = carry
        value, grad = jax.value_and_grad(loss)(x)
        extra = {"value": value, "grad": grad, "value_fn": loss, "obj_fn": loss}
        updates, state = tx.update(grad, state, x, **{k: extra[k] for k in needs if k in extra})
        return (optax.apply_updates(x, updates), state), None

    def chunk(carry, _):
        carry, _ = jax.lax.scan(step, carry, None, length=every)
        return carry, carry[0]

    _, xs = jax.lax.scan(chunk, (x0, tx.init(x0)), None, length=steps // every)
    return xs


def rel_err(ours, ref) -> float:
    """Largest over recorded steps of |ours - ref|_inf / |ref|_inf."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    ref2, diff = ref.reshape(len(ref), -1), (ours - ref).reshape(len(ref), -1)
    return float(np.max(np.max(np.abs(diff), axis=1) / np.max(np.abs(ref2), axis=1)))


def assert_moves(xs, x0):
    """`xs`: the trajectory (its last entry is compared with x0), or one final pytree of iterates."""
    leaves = [np.asarray(leaf, np.float64) for leaf in jax.tree.leaves(xs)]
    starts = [np.asarray(leaf, np.float64) for leaf in jax.tree.leaves(x0)]
    assert all(np.all(np.isfinite(leaf)) for leaf in leaves), "trajectory is not finite"
    if leaves[0].ndim > starts[0].ndim:
        leaves = [leaf[-1] for leaf in leaves]
    assert max(np.max(np.abs(a - b)) for a, b in zip(leaves, starts)) > 1e-3, "trajectory does not move"


def _inf_norm(tree) -> jax.Array:
    return jnp.max(jnp.stack([jnp.max(jnp.abs(leaf)) for leaf in jax.tree.leaves(tree)]))


def lockstep(pairs, loss, x0, steps: int, needs):
    """Each (ours, twin) pair steps from the twin's iterate, `steps` times, in one scan (call under jit).

    Returns, per pair, the largest relative difference |x_ours - x_twin|_inf /
    |x_twin|_inf of the iterates the two make from the same iterate, state and
    gradient history, and the twin's last iterate.
    """

    def step(carry, _):
        out = []
        for (ours, twin), (x, s_ours, s_twin, worst) in zip(pairs, carry):
            value, grad = jax.value_and_grad(loss)(x)
            extra = {"value": value, "grad": grad, "value_fn": loss, "obj_fn": loss}
            kw = {k: extra[k] for k in needs if k in extra}
            u_ours, s_ours = ours.update(grad, s_ours, x, **kw)
            u_twin, s_twin = twin.update(grad, s_twin, x, **kw)
            x_ours, x_twin = optax.apply_updates(x, u_ours), optax.apply_updates(x, u_twin)
            diff = _inf_norm(jax.tree.map(jnp.subtract, x_ours, x_twin))
            worst = jnp.maximum(worst, jnp.where(diff == 0, 0.0, diff / _inf_norm(x_twin)))
            out.append((x_twin, s_ours, s_twin, worst))
        return tuple(out), None

    start = tuple((x, ours.init(x), twin.init(x), jnp.zeros([], jax.tree.leaves(x)[0].dtype))
                  for (ours, twin), x in zip(pairs, x0))
    final, _ = jax.lax.scan(step, start, None, length=steps)
    return [worst for *_, worst in final], [x for x, *_ in final]


@pytest.mark.parametrize("problem", TWIN_PROBLEMS)
@pytest.mark.parametrize("name", NAMES)
def test_follows_optax_step_by_step_float64(name, problem, x64):
    """The defaults and two draws, side by side with the twin in one scan of 500 steps.

    Both take each step from the twin's iterate, so a difference is made by
    that step's arithmetic alone and the dynamics cannot amplify it (on
    Rosenbrock a rounding difference grows 1.4x a step for a while). The same
    operations differ only where XLA fuses a*b + c into one multiply-add in one
    program and not in the other (without FMA instructions the two agree bit
    for bit): a few roundings of 1e-16 a step, in states that average or sum
    them over 500 steps, well under the 1e-12 bound; a wrong constant or a
    misplaced operation moves an iterate by far more (test below).
    """
    spec, prob = optimizers.get(name), TWIN_PROBLEMS[problem]
    draws = [hyperparams(spec, k, prob) for k in DRAWS]
    x0 = [prob.init(jax.random.PRNGKey(k), jnp.float64) for k in DRAWS]
    pairs = [(spec.make(**hp), spec.baseline(**hp)) for hp in draws]
    worst, last = jax.jit(lambda x0: lockstep(pairs, prob.loss, x0, STEPS64, spec.needs))(x0)
    for hp, err, x, start in zip(draws, worst, last, x0):
        assert jax.tree.leaves(x)[0].dtype == jnp.float64
        assert_moves(x, start)
        assert float(err) <= RTOL64, hp


def test_lockstep_check_catches_a_small_change(x64):
    """The check fails for an Adam whose b1 is off by 1e-7 (its twin's) on the matrix problem."""
    prob = TWIN_PROBLEMS["matrix"]
    x0 = prob.init(jax.random.PRNGKey(0), jnp.float64)
    pairs = [(optimizers.adam(), optax.adam(1e-3, b1=0.9 + 1e-7))]
    worst, _ = jax.jit(lambda x0: lockstep(pairs, prob.loss, [x0], STEPS64, ()))(x0)
    assert float(worst[0]) > 100 * RTOL64


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("name", NAMES)
def test_follows_optax_step_by_step_float32(name, problem):
    """As in float64, 100 steps: 4 float32 epsilons (2^-23) relative to the largest coordinate."""
    spec, prob = optimizers.get(name), PROBLEMS[problem]
    draws = [hyperparams(spec, k, prob) for k in DRAWS]
    x0 = [prob.init(jax.random.PRNGKey(k), jnp.float32) for k in DRAWS]
    pairs = [(spec.make(**hp), spec.baseline(**hp)) for hp in draws]
    worst, last = jax.jit(lambda x0: lockstep(pairs, prob.loss, x0, 100, spec.needs))(x0)
    for hp, err, x in zip(draws, worst, last):
        assert x.dtype == jnp.float32 and np.all(np.isfinite(x))
        assert float(err) <= ULPS32 * 2.0**-23, hp


def _split(spec, hp):
    """The floats (traced by a harness) and the rest (integers, bools, None, strings: static, as in the harness)."""
    merged = {**spec.defaults, **hp}
    numeric = {k: v for k, v in merged.items() if isinstance(v, float)}
    return numeric, {k: v for k, v in merged.items() if k not in numeric}


@pytest.mark.parametrize("name", NAMES)
def test_vmap_over_learning_rate(name, x64):
    """The harness's way: make() inside jit and vmap, every number a tracer.

    The batched lanes equal separate runs, and optax's twin built the same way.
    (100 steps on Rosenbrock-2D: the batched and unbatched programs are compiled
    differently, and chaotic dynamics such as Polyak's steps amplify a rounding
    difference to 1e-2 within a few hundred steps.)
    """
    spec, prob = optimizers.get(name), PROBLEMS["rosenbrock"]
    numeric, static = _split(spec, hyperparams(spec, 0, prob))
    lr = numeric.pop("learning_rate")
    x0 = prob.init(jax.random.PRNGKey(0), jnp.float64)

    def run(learning_rate, numeric, make=spec.make):
        tx = make(learning_rate=learning_rate, **numeric, **static)
        return trajectory(tx, prob.loss, x0, 100, 10, spec.needs)

    rates = lr * np.array([0.25, 0.5, 1.0])
    single = jax.jit(run)
    separate = np.stack([single(r, numeric) for r in rates])
    assert single._cache_size() == 1  # the rate is traced, not baked in
    batched, ref = jax.jit(lambda r, n: (jax.vmap(run, (0, None))(r, n),
                                          jax.vmap(partial(run, make=spec.baseline), (0, None))(r, n)))(rates, numeric)
    assert batched.shape == (3, 10, prob.dim)
    assert np.all(np.isfinite(separate))
    for i in range(len(rates)):
        assert rel_err(batched[i], separate[i]) <= RTOL64
        assert rel_err(batched[i], ref[i]) <= RTOL64


@pytest.mark.parametrize("name", [n for n in NAMES if optimizers.get(n).elementwise])
def test_elementwise_runs_lanes_last(name, x64):
    """`spec.elementwise`: lanes on the last axis, hyperparameters of shape (B,), no vmap (the harness's grid)."""
    spec, prob = optimizers.get(name), PROBLEMS["rosenbrock"]
    numeric, static = _split(spec, hyperparams(spec, 1, prob))
    scales = np.array([0.25, 0.5, 1.0])
    lanes = {k: (v * scales if k == "learning_rate" else np.full(3, v)) for k, v in numeric.items()}
    x0 = prob.init(jax.random.PRNGKey(0), jnp.float64)

    def lanes_loss(x):
        return jnp.sum(jax.vmap(prob.loss, in_axes=1)(x))

    def run(lanes):
        with jax.numpy_rank_promotion("allow"):
            x = jnp.broadcast_to(x0[:, None], (prob.dim, 3))
            return trajectory(spec.make(**lanes, **static), lanes_loss, x, 100, 10, spec.needs)

    together = jax.jit(run)(lanes)
    assert together.shape == (10, prob.dim, 3)
    for i, scale in enumerate(scales):
        alone = {**numeric, **static, "learning_rate": numeric["learning_rate"] * scale}
        ref = jax.jit(lambda alone=alone: trajectory(spec.make(**alone), prob.loss, x0, 100, 10, spec.needs))()
        assert np.all(np.isfinite(ref)) and np.any(ref[-1] != x0)
        assert rel_err(together[..., i], ref) <= RTOL64


@pytest.mark.parametrize("name", [n for n in NAMES if optimizers.get(n).factory.rules["learning_rate"].schedule])
def test_schedule_as_learning_rate_matches_optax(name, x64):
    spec, prob = optimizers.get(name), PROBLEMS["rosenbrock"]
    hp = hyperparams(spec, 0, prob)
    peak = spec.defaults["learning_rate"]
    ours_lr = optimizers.warmup_cosine_decay_schedule(peak / 10, peak, 20, 300, peak / 100)
    ref_lr = optax.warmup_cosine_decay_schedule(peak / 10, peak, 20, 300, peak / 100)
    x0 = prob.init(jax.random.PRNGKey(0), jnp.float64)
    run = lambda tx: trajectory(tx, prob.loss, x0, 300, 10, spec.needs)  # noqa: E731
    ours, ref = jax.jit(lambda: (run(spec.make(**hp, learning_rate=ours_lr)),
                                 run(spec.baseline(**hp, learning_rate=ref_lr))))()
    assert_moves(ref, x0)
    assert rel_err(ours, ref) <= RTOL64


@pytest.mark.parametrize("name", NAMES)
def test_inject_hyperparams(name, x64):
    spec, prob = optimizers.get(name), PROBLEMS["quadratic"]
    hp = hyperparams(spec, 0, prob)
    # Integers stay static, as in the harness (`_split`): L-BFGS's memory_size shapes its state.
    static = [k for k, v in spec.defaults.items() if isinstance(v, int) and not isinstance(v, bool)]
    injected = optax.inject_hyperparams(spec.factory, static_args=static)(**{**spec.defaults, **hp})
    x0 = prob.init(jax.random.PRNGKey(0), jnp.float64)
    assert float(injected.init(x0).hyperparams["learning_rate"]) == spec.defaults["learning_rate"]
    # inject_hyperparams hands the factory its floats as arrays of the parameters' dtype, so the plain run gets
    # them so too: from a Python float, optax's adafactor and madgrad round some scalars to float32 (weak types)
    arrays = {k: jnp.asarray(v, x0.dtype) if isinstance(v, float) else v for k, v in {**spec.defaults, **hp}.items()}
    run = lambda tx: trajectory(tx, prob.loss, x0, 100, 10, spec.needs)  # noqa: E731
    ours, plain = jax.jit(lambda: (run(injected), run(spec.make(**arrays))))()
    assert_moves(plain, x0)
    assert rel_err(ours, plain) <= RTOL64


def _tree_problem(dtype):
    """A separable quadratic over a dict of arrays, minimum 0 at 0.25."""
    params = {"w": jnp.full((3, 2), 1.5, dtype), "b": jnp.array([1.0, -2.0], dtype)}
    scale = {"w": jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype), "b": jnp.array([0.5, 8.0], dtype)}

    def loss(p):
        terms = jax.tree.map(lambda x, c: jnp.sum(c * (x - 0.25) ** 2), p, scale)
        return sum(jax.tree.leaves(terms))

    return params, loss


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("name", NAMES)
def test_state_follows_dtype_and_step_compiles_once(name, dtype):
    """Dict parameters; every number a traced float32 array, as in a harness's sweep."""
    spec = optimizers.get(name)
    params, loss = _tree_problem(dtype)
    numeric, static = _split(spec, {"f_min": 0.0} if "f_min" in spec.needs else {})
    traced = {k: jnp.asarray(v, jnp.float32 if isinstance(v, float) else None) for k, v in numeric.items()}

    def one_step(tx, p, s):
        value, grad = jax.value_and_grad(loss)(p)
        extra = {"value": value, "grad": grad, "value_fn": loss, "obj_fn": loss}
        updates, s = tx.update(grad, s, p, **{k: extra[k] for k in spec.needs if k in extra})
        return optax.apply_updates(p, updates), s, updates

    step = jax.jit(lambda hp, p, s: one_step(spec.make(**hp, **static), p, s))
    state = spec.make(**numeric, **static).init(params)
    p1, s1, _ = step(traced, params, state)
    p2, s2, updates = step(traced, p1, s1)
    assert step._cache_size() == 1
    assert jax.tree.structure(s2) == jax.tree.structure(state)
    for leaf, first in zip(jax.tree.leaves(s2), jax.tree.leaves(state)):
        assert leaf.dtype == first.dtype
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            assert leaf.dtype == dtype
    assert all(x.dtype == dtype for x in jax.tree.leaves(p2))
    assert all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates))
    assert any(bool(jnp.any(u != 0)) for u in jax.tree.leaves(updates))


@pytest.mark.parametrize("name", NAMES)
def test_pytree_params_match_optax(name):
    spec = optimizers.get(name)
    params, loss = _tree_problem(jnp.float32)
    hp = {"f_min": 0.0} if "f_min" in spec.needs else {}
    run = lambda tx: trajectory(tx, loss, params, 100, 10, spec.needs)  # noqa: E731
    ours, ref = jax.jit(lambda: (run(spec.make(**hp)), run(spec.baseline(**hp))))()
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
        assert np.all(np.isfinite(b))
        assert np.all(np.abs(np.asarray(a) - np.asarray(b)) <= ULPS32 * np.spacing(np.max(np.abs(np.asarray(b)))))


@pytest.mark.parametrize("name", NAMES)
def test_no_more_work_per_step_than_optax(name):
    """XLA's cost model of one compiled step: ours does no more flops, transcendentals or memory traffic."""
    spec, prob = optimizers.get(name), PROBLEMS["quadratic"]
    hp = hyperparams(spec, 0, prob)
    x = prob.init(jax.random.PRNGKey(0), jnp.float32)
    costs = []
    for tx in (spec.make(**hp), spec.baseline(**hp)):
        def step(x, s, tx=tx):
            value, grad = jax.value_and_grad(prob.loss)(x)
            extra = {"value": value, "grad": grad, "value_fn": prob.loss, "obj_fn": prob.loss}
            updates, s = tx.update(grad, s, x, **{k: extra[k] for k in spec.needs if k in extra})
            return optax.apply_updates(x, updates), s

        cost = jax.jit(step).lower(x, tx.init(x)).compile().cost_analysis()
        costs.append([cost.get(k) or 0.0 for k in ("flops", "transcendentals", "bytes accessed")])
    ours, ref = costs
    assert all(a <= b for a, b in zip(ours, ref)), (ours, ref)


@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_bias_correction_matches_optax(centered, x64):
    """The one switch outside `choices` (degenerate with `centered`: 1/sqrt(eps) first step)."""
    spec, prob = optimizers.get("rmsprop"), PROBLEMS["quadratic"]
    hp = dict(learning_rate=1e-4 if centered else 1e-3, eps=1e-6, momentum=0.5, bias_correction=True,
              centered=centered)
    x0 = prob.init(jax.random.PRNGKey(0), jnp.float64)
    run = lambda tx: trajectory(tx, prob.loss, x0, 1000, 10, spec.needs)  # noqa: E731
    ours, ref = jax.jit(lambda: (run(spec.make(**hp)), run(spec.baseline(**hp))))()
    assert_moves(ref, x0)
    assert rel_err(ours, ref) <= RTOL64
