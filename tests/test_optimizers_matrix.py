"""The optimizers that treat parameters as a whole, against their optax twins on a matrix-shaped problem.

A small two-layer network fitted by least squares: parameters {"w1": (6, 8),
"w2": (8, 3), "b": (3,)} (a wide matrix, a tall one and a vector), so that
Muon orthogonalises both orientations and hands the vector to Adam, SM3 keeps
row and column accumulators, and the norms and inner products of Prodigy,
D-Adaptation, DoG, Fromage, MoMo, L-BFGS, ... run over a tree (f* >= 0: MoMo's bound 0 holds).

Tolerance: 1e-12 relative (max-norm, each leaf, every step of 500, float64).
Ours and the twin do the same operations in the same order in one compiled
program, so they agree bit for bit here; the margin is for XLA fusing the two
sides differently on another CPU (a contracted multiply-add). Muon needs the
bit agreement itself: its steps have a fixed size, so an ulp at step 1 grows to
O(1) by step 500 on this problem (which is why it orthogonalises a batch of one
matrix, as optax does).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
from optimizers.muon import orthogonalize

STEPS = 500
RTOL64 = 1e-12
#: Each optimizer with its defaults, and with its switches flipped where it has some (numeric
#: hyperparameters are drawn at random by tests/test_optimizers.py; each case here costs a compile).
CASES = {
    "muon": [{}, {"nesterov": False, "adaptive": True, "weight_decay": 1e-2, "adam_weight_decay": 1e-2}],
    "prodigy": [{}, {"safeguard_warmup": True, "beta3": 0.99, "weight_decay": 1e-2, "d_coef": 0.5}],
    "dadapt_adamw": [{"weight_decay": 1e-2}],
    "cocob": [{"weight_decay": 1e-3}],
    "dog": [{}, {"init_step": "learning_rate", "init_value": 1e-4, "weight_decay": 1e-3}],
    "dowg": [{"weight_decay": 1e-3}],
    "sm3": [{}],
    "fromage": [{"min_norm": 0.0}],
    "momo": [{}, {"adapt_lower_bound": True, "weight_decay": 1e-3, "learning_rate": 0.3}],
    "lbfgs": [{}, {"memory_size": 3, "scale_init_precond": False, "curv_rtol": 0.5}],
}


def _problem(dtype):
    k = jax.random.split(jax.random.PRNGKey(0), 5)
    inputs = jax.random.normal(k[0], (32, 6), dtype)
    targets = jnp.sin(inputs[:, :3]) + 0.1 * jax.random.normal(k[1], (32, 3), dtype)
    params = {"w1": 0.5 * jax.random.normal(k[2], (6, 8), dtype), "w2": 0.5 * jax.random.normal(k[3], (8, 3), dtype),
              "b": jnp.zeros(3, dtype)}

    def loss(p):
        return jnp.mean((jnp.tanh(inputs @ p["w1"]) @ p["w2"] + p["b"][None, :] - targets) ** 2)

    return params, loss


def _run(tx, loss, params, steps=STEPS, needs=frozenset()):
    """Every step's parameters and loss (one scan); the extra update arguments an update needs (`needs`)."""

    def step(carry, _):
        x, state = carry
        value, grad = jax.value_and_grad(loss)(x)
        extra = {"value": value, "grad": grad, "value_fn": loss}
        updates, state = tx.update(grad, state, x, **{k: extra[k] for k in needs if k in extra})
        x = optax.apply_updates(x, updates)
        return (x, state), (x, value)

    return jax.lax.scan(step, (params, tx.init(params)), None, length=steps)[1]


def _rel_err(ours, ref) -> float:
    """Largest over leaves and steps of |ours - ref|_inf / |ref|_inf."""
    worst = 0.0
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
        a, b = np.asarray(a).reshape(len(a), -1), np.asarray(b).reshape(len(b), -1)
        worst = max(worst, float(np.max(np.max(np.abs(a - b), axis=1) / np.max(np.abs(b), axis=1))))
    return worst


@pytest.mark.parametrize("name", CASES)
def test_matches_twin_every_step_float64(name, x64):
    spec = optimizers.get(name)
    params, loss = _problem(jnp.float64)
    cases = CASES[name]
    run = lambda tx, p: _run(tx, loss, p, needs=spec.needs)  # noqa: E731
    runs = jax.jit(lambda p: [(run(spec.make(**hp), p), run(spec.baseline(**hp), p)) for hp in cases])
    for hp, ((ours, ours_loss), (ref, ref_loss)) in zip(cases, runs(params)):
        assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(ours))
        assert np.all(np.isfinite(ref_loss)) and ref_loss[-1] < 0.5 * ref_loss[0], (hp, ref_loss[[0, -1]])
        assert _rel_err(ours, ref) <= RTOL64, hp


def test_muon_orthogonalises_matrices_and_adams_the_rest(x64):
    """Step 1 (no momentum yet): each matrix moves by -lr sqrt(max(1, cols/rows)) NS(g), NS(g) ~ U V^T of g.

    And the vector follows AdamW exactly: its updates over 50 steps equal
    those of our adamw (and optax's) fed the same gradients.
    """
    params, loss = _problem(jnp.float64)
    lr, steps = 0.02, 50
    tx = optimizers.muon(learning_rate=lr, nesterov=False)
    adam_ours, adam_ref = optimizers.adamw(lr, weight_decay=0.0), optax.adamw(lr, weight_decay=0.0)

    def step(carry, _):
        x, state, ours_state, ref_state = carry
        grad = jax.grad(loss)(x)
        updates, state = tx.update(grad, state, x)
        b_ours, ours_state = adam_ours.update(grad["b"], ours_state, x["b"])
        b_ref, ref_state = adam_ref.update(grad["b"], ref_state, x["b"])
        return (optax.apply_updates(x, updates), state, ours_state, ref_state), (grad, updates, b_ours, b_ref)

    init = (params, tx.init(params), adam_ours.init(params["b"]), adam_ref.init(params["b"]))
    grads, updates, b_ours, b_ref = jax.jit(lambda: jax.lax.scan(step, init, None, length=steps)[1])()
    np.testing.assert_array_equal(updates["b"], b_ours)  # the same operations: exactly equal
    assert _rel_err(updates["b"], b_ref) <= RTOL64
    assert np.ptp(np.asarray(updates["b"][-1] / lr)) > 0  # not a constant: Adam's steps differ per coordinate
    for key in ("w1", "w2"):
        g, u = np.asarray(grads[key][0]), np.asarray(updates[key][0])
        rows, cols = g.shape
        ns = -u / (lr * np.sqrt(max(1.0, cols / rows)))
        # another compiled program: the quintic's slope (up to 3.4) may grow a last-bit difference ~500-fold in 5 steps
        np.testing.assert_allclose(ns, np.asarray(jax.jit(orthogonalize)(jnp.asarray(g))), rtol=1e-12, atol=1e-14)
        left, _, right = np.linalg.svd(g, full_matrices=False)
        # Jordan's 5 quintic steps map g's singular values (1 down to 0.01 of its largest here) to about [0.7, 1.2].
        ns_sv = np.linalg.svd(ns, compute_uv=False)
        assert np.all((ns_sv > 0.6) & (ns_sv < 1.3)), ns_sv
        polar = left @ right
        assert np.linalg.norm(ns - polar, 2) < 0.35  # its singular vectors are g's: the polar factor U V^T
        assert np.linalg.norm(g / np.linalg.norm(g, 2) - polar, 2) > 0.5  # which g itself is not
