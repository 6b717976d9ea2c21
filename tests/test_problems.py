"""Properties every registered problem must have, checked on the shared table of cases.

Tolerances (float64 unless stated):
  * gradient vs central finite differences along random unit directions u, step
    h = 1e-6: |D_fd - grad.u| <= 1e-7 (1 + |grad.u|) + 1e-10 |f(x)|
    (truncation h^2 f''' / 6 plus rounding eps |f| / h);
  * at x*: per case (Case.optimum_tol, default |f(x*) - f*| <= 1e-12 (1 + |f*|),
    ||grad f(x*)|| <= 1e-12). Stated optima are exact or come from float64
    Newton solves that stop at rounding level whatever the CPU
    (problems/newton.py, tests/test_problems_newton.py), where the gradient is
    ~1e-16 times the data's scale; 1e-12 leaves ~1e3-1e4x for JAX's rounding
    of the same sums differing from NumPy's;
  * Hessian eigenvalues within [mu, L] up to 1e-9 (1 + L); equal to them to
    1e-9 relative where the Hessian is constant;
  * float32 vs float64 loss: 1e-4 relative.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_problems_cases import CASES, Case, all_cases, flat, parametrize_cases, ravel, tree_equal
from test_problems_cases import single_threaded_blas  # noqa: F401 (autouse fixture)

import problems
from problems import datasets


def test_every_registered_problem_has_cases():
    assert set(CASES) <= set(problems.names()), "CASES names a problem that is not registered"
    assert {c.name for c in all_cases()} == set(problems.names())
    assert all(case.problem().name == name for name, cases in CASES.items() for case in cases)


@parametrize_cases
def test_problem_record(case: Case):
    p = case.problem()
    x0 = p.init(jax.random.PRNGKey(0))
    assert p.name == case.name
    assert p.dim == sum(a.size for a in jax.tree.leaves(x0))
    assert isinstance(p.info.get("convex"), bool)
    for key in ("L", "mu"):
        if key in p.info:
            assert isinstance(p.info[key], float) and p.info[key] >= 0
    if "L" in p.info and "mu" in p.info:
        assert p.info["mu"] <= p.info["L"]
    assert (p.f_star is None) == (p.x_star is None)
    if p.x_star is not None:
        assert jax.tree.structure(p.x_star) == jax.tree.structure(x0)
        assert all(np.shape(a) == np.shape(b) for a, b in zip(jax.tree.leaves(p.x_star), jax.tree.leaves(x0)))
    if p.dim == 2 and isinstance(x0, jax.Array):
        (xlo, xhi), (ylo, yhi) = p.bounds
        assert xlo < xhi and ylo < yhi
    # The problem can be rebuilt from its recorded arguments.
    assert tree_equal(problems.get(p.name, **p.args).data, p.data)


@parametrize_cases
def test_gradient_matches_finite_differences(case: Case, x64):
    fl, h = flat(case), 1e-6
    for i, v in enumerate(fl.points(n=2)):
        u = np.random.default_rng(100 + i).standard_normal((4, v.size))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        fx, g = fl.value_and_grad(v)
        fd = (fl.losses(v[None] + h * u) - fl.losses(v[None] - h * u)) / (2 * h)
        ad = u @ np.asarray(g)
        np.testing.assert_array_less(np.abs(fd - ad), 1e-7 * (1 + np.abs(ad)) + 1e-10 * abs(float(fx)))


@parametrize_cases(where=lambda c: c.problem().x_star is not None)
def test_optimum(case: Case, x64):
    fl, p = flat(case), case.problem()
    value_tol, grad_tol = case.optimum_tol
    for x_star in p.info.get("minimizers", [p.x_star]):
        fx, g = fl.value_and_grad(ravel(x_star))
        assert abs(float(fx) - p.f_star) <= value_tol * (1 + abs(p.f_star))
        assert float(np.linalg.norm(g)) <= grad_tol
    # No sampled point beats f*.
    assert all(float(fl.loss(v)) >= p.f_star for v in fl.points())


def _curvature_cases(c: Case) -> bool:
    p = c.problem()
    return p.info["convex"] or "L" in p.info or "mu" in p.info


@parametrize_cases(where=_curvature_cases)
def test_curvature_bounds(case: Case, x64):
    fl, p = flat(case), case.problem()
    L, mu = p.info.get("L"), p.info.get("mu", 0.0 if p.info["convex"] else None)
    points = fl.points() + ([ravel(p.x_star)] if p.x_star is not None else [])
    for v in points:
        eig = np.linalg.eigvalsh(np.asarray(fl.hessian(v)))
        tol = 1e-9 * (1 + (L or abs(eig).max()))
        if mu is not None:
            assert eig[0] >= mu - tol
        if L is not None:
            assert eig[-1] <= L + tol
            assert eig[0] >= -L - tol  # |eigenvalues| <= L also for non-convex problems
        if case.constant_hessian:
            np.testing.assert_allclose([eig[0], eig[-1]], [mu, L], rtol=1e-9, atol=1e-12)


@parametrize_cases
def test_deterministic_instances(case: Case):
    a, b = (problems.get(case.name, **dict(case.kwargs)) for _ in range(2))
    assert tree_equal(a.data, b.data)
    assert a.f_star == b.f_star and tree_equal(a.x_star, b.x_star)
    assert a.info == b.info and a.dim == b.dim
    key = jax.random.PRNGKey(3)
    assert tree_equal(a.init(key), b.init(key))


@parametrize_cases
def test_vmap_over_starting_points(case: Case):
    p = case.problem()
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    x0s = jax.vmap(p.init)(keys)
    for i, key in enumerate(keys):
        assert tree_equal(jax.tree.map(lambda a: a[i], x0s), p.init(key))
    losses = jax.jit(jax.vmap(p.loss))(x0s)
    assert losses.shape == (3,) and losses.dtype == jnp.float32
    expected = np.array([flat(case).loss(ravel(p.init(k))) for k in keys])
    np.testing.assert_allclose(losses, expected, rtol=1e-5)


@parametrize_cases
def test_float32_and_float64(case: Case, x64):
    fl, p = flat(case), case.problem()
    key = jax.random.PRNGKey(0)
    x32, x64_ = p.init(key, jnp.float32), p.init(key, jnp.float64)
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(x32))
    assert all(a.dtype == jnp.float64 for a in jax.tree.leaves(x64_))
    # Both start from the same point (drawn in float32).
    assert np.array_equal(ravel(x32).astype(np.float64), ravel(x64_))
    (f32, g32), (f64, g64) = fl.value_and_grad(ravel(x32)), fl.value_and_grad(ravel(x64_))
    assert f32.shape == () and f32.dtype == g32.dtype == jnp.float32 and f64.dtype == g64.dtype == jnp.float64
    np.testing.assert_allclose(float(f32), float(f64), rtol=1e-4, atol=1e-5)


@parametrize_cases
def test_data_passed_into_jit(case: Case):
    """The harness's contract: jit(fn)(x, data, batch) with the data as an argument."""
    p = case.problem()
    x = p.init(jax.random.PRNGKey(1))
    value, grad = jax.jit(jax.value_and_grad(p.fn), static_argnums=2)(x, p.data, None)
    np.testing.assert_allclose(value, p.loss(x), rtol=1e-5)
    assert jax.tree.structure(grad) == jax.tree.structure(x)
    assert all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree.leaves(grad))


@parametrize_cases
def test_minibatches(case: Case, x64):
    p = case.problem()
    if not p.stochastic:
        with pytest.raises(ValueError, match="deterministic"):
            p.sample_batch(jax.random.PRNGKey(0), 8)
        return
    fl = flat(case)
    v = fl.points(n=1)[0]
    x = fl.unravel(jnp.asarray(v))
    if "n_samples" not in p.info:  # a noise model (noisy_quadratic): its batch is the gradient noise
        noise = p.sample_batch(jax.random.PRNGKey(5), 16)
        assert tree_equal(noise, p.sample_batch(jax.random.PRNGKey(5), 16))
        assert not tree_equal(noise, p.sample_batch(jax.random.PRNGKey(6), 16))
        g_batch = jax.grad(p.fn)(x, p.data, noise)
        g_full = jax.grad(p.fn)(x, p.data, None)
        np.testing.assert_allclose(ravel(g_batch) - ravel(g_full), ravel(noise), rtol=1e-10, atol=1e-12)
        return
    n = p.info["n_samples"]
    minibatch_loss = jax.jit(p.fn)
    everything = jnp.arange(n, dtype=jnp.int32)
    np.testing.assert_allclose(minibatch_loss(x, p.data, everything), fl.loss(v), rtol=1e-12)
    batch = p.sample_batch(jax.random.PRNGKey(5), 16)
    assert batch.shape == (16,) and batch.dtype == jnp.int32
    assert int(batch.min()) >= 0 and int(batch.max()) < n
    assert tree_equal(batch, p.sample_batch(jax.random.PRNGKey(5), 16))

    @jax.jit
    def sgd_step(x, data, key):
        batch = p.sample_batch_fn(key, 16, data)
        value, grad = jax.value_and_grad(p.fn)(x, data, batch)
        return value, jax.tree.map(lambda a, g: a - 1e-3 * g, x, grad)

    value, x_new = sgd_step(x, p.data, jax.random.PRNGKey(5))
    np.testing.assert_allclose(value, minibatch_loss(x, p.data, batch), rtol=1e-12)
    assert jax.tree.structure(x_new) == jax.tree.structure(x)


@pytest.mark.parametrize("dataset", ["synthetic", *datasets.REAL])
def test_features_standardised(dataset):
    kw = {"n_samples": 200, "n_features": 7, "n_classes": 3, "seed": 1} if dataset == "synthetic" else {}
    X, y = datasets.classification(dataset, **kw)
    assert np.allclose(X.mean(axis=0), 0.0, atol=1e-12)
    std = X.std(axis=0)
    assert np.allclose(std[std > 0], 1.0) and np.all(X[:, std == 0] == 0)
    assert not X.flags.writeable and not y.flags.writeable


def test_reference_solves_are_memoised():
    for name in ("logistic", "softmax_regression", "least_squares"):
        a, b = problems.get(name), problems.get(name)
        assert a.x_star is b.x_star and a.f_star == b.f_star
        assert all(u is v for u, v in zip(jax.tree.leaves(a.data), jax.tree.leaves(b.data)) if u.ndim)
        assert not a.x_star.flags.writeable


def test_problems_survive_mixing_float64_and_float32():
    """A loss traced under x64 must not poison a later float32 program given the same data."""
    p = problems.get("logistic", dataset="breast_cancer")
    with jax.enable_x64(True):
        loss64 = jax.jit(p.loss)  # kept alive: it holds the data as a constant
        assert loss64(p.init(jax.random.PRNGKey(0), jnp.float64)).dtype == jnp.float64
    value = jax.jit(p.fn)(p.init(jax.random.PRNGKey(0)), p.data, None)
    assert value.dtype == jnp.float32
    del loss64


def test_two_dimensional_problems_have_plot_bounds():
    for name in problems.names():
        takes_dim = "dim" in inspect.signature(problems.factory(name)).parameters
        try:  # every problem at its defaults, and at dim=2 where it takes a dim
            p = problems.get(name, **({"dim": 2} if takes_dim else {}))
        except ValueError:  # powell_singular: dim must be a multiple of 4
            p = problems.get(name)
        if p.dim == 2:
            (xlo, xhi), (ylo, yhi) = p.bounds
            x_star = np.asarray(p.x_star)
            assert xlo <= x_star[0] <= xhi and ylo <= x_star[1] <= yhi, name


def test_mlp_parameters():
    p = problems.get("mlp", hidden=(16, 8))
    x0 = p.init(jax.random.PRNGKey(0))
    shapes = {k: v.shape for k, v in x0.items()}
    assert shapes == {"w0": (64, 16), "b0": (16,), "w1": (16, 8), "b1": (8,), "w2": (8, 10), "b2": (10,)}
    assert p.dim == 64 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10
    assert p.f_star is None and p.x_star is None and not p.info["convex"]
    limit = np.sqrt(6 / (64 + 16))
    assert 0.9 * limit < float(jnp.abs(x0["w0"]).max()) <= limit and not jnp.any(x0["b0"])
