"""bench.dev.perf's baselines compute what they claim: (b*) gives (b)'s numbers bit for bit.

`python -m bench.dev.perf sweep` compares the engine with (b), a plain
`jit(vmap(scan(optax.adam)))`, and with (b*), the same loop given the engine's
settings (sharded lanes, compile options); a speed ratio only means something if
the two loops compute the same thing. Tiny sizes: 4 learning rates, 250 steps
(not a multiple of (b*)'s recording interval, so its last partial block runs too).
"""

import numpy as np
import pytest

from bench.dev import perf

CONFIGS, STEPS = 4, 250


@pytest.fixture(scope="module")
def b_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("perf") / "b.npz"
    perf.worker_b(CONFIGS, STEPS, 1, str(out))
    return np.load(out)


def test_bstar_every_loss_equals_b(b_run, tmp_path):
    result = perf.worker_bstar(CONFIGS, STEPS, 1, str(tmp_path / "bs.npz"), "every")
    bs = np.load(tmp_path / "bs.npz")
    assert bs["losses"].shape == (CONFIGS, STEPS + 1)
    np.testing.assert_array_equal(bs["losses"], b_run["losses"])
    np.testing.assert_array_equal(bs["x"], b_run["x"])
    assert result["steps_per_s"] > 0


def test_bstar_with_hits_in_carry_equals_b(b_run, tmp_path):
    perf.worker_bstar(CONFIGS, STEPS, 1, str(tmp_path / "bs.npz"), "hits")
    bs = np.load(tmp_path / "bs.npz")
    np.testing.assert_array_equal(perf.recorded_every(STEPS), [0, 100, 200, STEPS])
    np.testing.assert_array_equal(bs["losses"], b_run["losses"][:, perf.recorded_every(STEPS)])
    hits = perf.first_hits(b_run["losses"])
    assert (hits >= 0).any() and (hits < 0).any()  # some targets hit, some not: both cases checked
    np.testing.assert_array_equal(bs["hits"], hits)
