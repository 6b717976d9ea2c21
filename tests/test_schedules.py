"""Our learning-rate schedules against optax's, traced, and their argument checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers

# (ours, optax's, arguments): each pair called with the same arguments.
CASES = [
    (optimizers.constant_schedule, optax.constant_schedule, dict(value=0.3)),
    (optimizers.exponential_decay, optax.exponential_decay,
     dict(init_value=0.1, transition_steps=7, decay_rate=0.9)),
    (optimizers.exponential_decay, optax.exponential_decay,
     dict(init_value=0.1, transition_steps=10, decay_rate=0.5, transition_begin=15, staircase=True, end_value=0.01)),
    (optimizers.exponential_decay, optax.exponential_decay,
     dict(init_value=0.01, transition_steps=20, decay_rate=1.5, end_value=0.05)),
    (optimizers.cosine_decay_schedule, optax.cosine_decay_schedule, dict(init_value=0.2, decay_steps=150)),
    (optimizers.cosine_decay_schedule, optax.cosine_decay_schedule,
     dict(init_value=0.2, decay_steps=100, alpha=0.1, exponent=2.0)),
    (optimizers.warmup_cosine_decay_schedule, optax.warmup_cosine_decay_schedule,
     dict(init_value=0.0, peak_value=0.1, warmup_steps=20, decay_steps=180, end_value=1e-3)),
    (optimizers.warmup_cosine_decay_schedule, optax.warmup_cosine_decay_schedule,
     dict(init_value=0.01, peak_value=0.1, warmup_steps=0, decay_steps=50, exponent=1.5)),
]
IDS = [f"{ours.__name__}-{i}" for i, (ours, _, _) in enumerate(CASES)]
COUNTS = np.arange(0, 250, dtype=np.int32)


@pytest.mark.parametrize("ours, ref, args", CASES, ids=IDS)
def test_matches_optax_float32(ours, ref, args):
    a = jax.jit(jax.vmap(ours(**args)))(COUNTS)
    b = jax.jit(jax.vmap(lambda c: jnp.asarray(ref(**args)(c), jnp.float32)))(COUNTS)
    assert a.dtype == jnp.float32
    np.testing.assert_allclose(a, b, rtol=0, atol=4 * 2**-24 * np.max(np.abs(b)))


@pytest.mark.parametrize("ours, ref, args", CASES, ids=IDS)
def test_matches_optax_float64_and_python_counts(ours, ref, args, x64):
    a = np.array([ours(**args)(int(c)) for c in COUNTS[::25]], np.float64)
    b = np.array([ref(**args)(int(c)) for c in COUNTS[::25]], np.float64)
    np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-18)


@pytest.mark.parametrize("ours, ref, args", CASES, ids=IDS)
def test_values_may_be_traced(ours, ref, args):
    """A sweep over the schedule's first value is a vmap; it matches concrete values."""
    key = next(iter(args))  # value, init_value: the scale of the schedule
    scales = np.array([0.5, 1.0, 2.0], np.float32)

    def at(scale):
        return ours(**{**args, key: scale * args[key]})(COUNTS)

    swept = jax.jit(jax.vmap(at))(scales)
    for i, s in enumerate(scales):
        concrete = np.broadcast_to(ours(**{**args, key: float(s) * args[key]})(COUNTS), COUNTS.shape)
        # float32 rounding relative to the schedule's scale (cos near -1 cancels)
        np.testing.assert_allclose(swept[i], concrete, rtol=0, atol=4 * 2**-24 * np.max(np.abs(concrete)))


def test_warmup_cosine_endpoints():
    lr = optimizers.warmup_cosine_decay_schedule(0.0, 1.0, 10, 110, end_value=0.1)
    assert float(lr(0)) == 0.0
    assert float(lr(5)) == pytest.approx(0.5)
    assert float(lr(10)) == pytest.approx(1.0)
    assert float(lr(110)) == pytest.approx(0.1)
    assert float(lr(1000)) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "factory, args, name",
    [
        (optimizers.constant_schedule, dict(value=float("nan")), "value"),
        (optimizers.exponential_decay, dict(init_value=0.1, transition_steps=0, decay_rate=0.9), "transition_steps"),
        (optimizers.exponential_decay, dict(init_value=0.1, transition_steps=2.5, decay_rate=0.9), "transition_steps"),
        (optimizers.exponential_decay, dict(init_value=0.1, transition_steps=10, decay_rate=0.0), "decay_rate"),
        (optimizers.exponential_decay, dict(init_value=0.1, transition_steps=10, decay_rate=0.9,
                                            transition_begin=-1), "transition_begin"),
        (optimizers.exponential_decay, dict(init_value=0.1, transition_steps=10, decay_rate=0.9,
                                            staircase=1), "staircase"),
        (optimizers.cosine_decay_schedule, dict(init_value=0.1, decay_steps=0), "decay_steps"),
        (optimizers.cosine_decay_schedule, dict(init_value=float("inf"), decay_steps=10), "init_value"),
        (optimizers.warmup_cosine_decay_schedule, dict(init_value=0.0, peak_value=0.1, warmup_steps=-1,
                                                       decay_steps=10), "warmup_steps"),
        (optimizers.warmup_cosine_decay_schedule, dict(init_value=0.0, peak_value=0.1, warmup_steps=10,
                                                       decay_steps=10), "decay_steps"),
    ],
)
def test_bad_arguments_raise(factory, args, name):
    with pytest.raises(ValueError, match=f"^{factory.__name__}: {name} must"):
        factory(**args)


def test_schedule_drives_an_optimizer_like_optax():
    lr = dict(init_value=0.0, peak_value=0.05, warmup_steps=5, decay_steps=40)
    ours = optimizers.sign_sgd(optimizers.warmup_cosine_decay_schedule(**lr))
    ref = optax.sign_sgd(optax.warmup_cosine_decay_schedule(**lr))

    def run(tx):
        def step(carry, _):
            x, s = carry
            u, s = tx.update(2 * x, s, x)
            return (x + u, s), x

        x0 = jnp.array([1.0, -2.0])
        return jax.lax.scan(step, (x0, tx.init(x0)), None, length=40)[1]

    a, b = jax.jit(lambda: (run(ours), run(ref)))()
    np.testing.assert_array_equal(a, b)
