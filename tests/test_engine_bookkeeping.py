"""The engine's per-block bookkeeping (divergence, best loss, first hits) on made-up blocks.

The one-pass path (`books._bookkeeping`) must give exactly what the exact path
gives and what NumPy computes from the block's losses, including the cases it
hands over to the exact path: a lane passing several targets in one block, a
loss above the divergence level or not finite (also after a hit in the same
block), a spike that comes back, frozen lanes, a short last block, and stale
entries past the block's length.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.core import books, engine

K = 8  # targets 1e-1 ... 1e-8
ROWS = 100  # a full block buffer, as the engine allocates it (shorter runs get shorter ones)


def numpy_block(values, length, t0, alive, div_level, thresholds, div_step, best, n_hit, hits):
    """The bookkeeping of one block, lane by lane, from its losses."""
    div_step, best, n_hit, hits = div_step.copy(), best.copy(), n_hit.copy(), hits.copy()
    diverged = np.zeros_like(alive)
    for j in np.flatnonzero(alive):
        v = values[:length, j]
        bad = ~(np.abs(v) <= div_level[j])
        end = int(np.argmax(bad)) if bad.any() else length
        if bad.any():
            diverged[j], div_step[j] = True, t0 + end
        if end:
            best[j] = min(best[j], v[:end].min())
        for k in range(n_hit[j], K):
            below = np.flatnonzero(v[:end] <= thresholds[k, j])
            if not below.size:
                break
            hits[k, j], n_hit[j] = t0 + below[0], k + 1
    return div_step, diverged, best, n_hit, hits


def random_block(rng, n_lanes, dtype, trouble, rows=ROWS):
    """A block of falling losses, each lane just above its next target.

    Without trouble every lane passes at most one target and stays finite: the
    one pass answers alone. With it, lanes fall fast enough to pass several
    targets, or have a NaN, an inf, a -inf, or a spike above the divergence
    level that comes back.
    """
    f0 = rng.uniform(1.0, 10.0, n_lanes)
    thresholds = (f0[None, :] * 10.0 ** -np.arange(1, K + 1)[:, None]).astype(dtype)
    div_level = (engine.DIVERGENCE_FACTOR * f0).astype(dtype)
    n_hit = rng.integers(0, K + 1, n_lanes).astype(np.int32)
    next_target = thresholds[np.minimum(n_hit, K - 1), np.arange(n_lanes)]
    start = np.where(n_hit < K, next_target * rng.uniform(1.001, 1.5, n_lanes), next_target * 0.5)
    rate = rng.choice([0.9999, 0.999, 0.99, 0.98] + ([0.9, 0.5] if trouble else []), n_lanes)
    values = (start[None, :] * rate[None, :] ** np.arange(1, rows + 1)[:, None]).astype(dtype)
    best = start.astype(dtype)
    for j in range(n_lanes):
        at, kind = rng.integers(0, rows), rng.integers(0, 6) if trouble else 0
        if kind == 1:
            values[at, j] = np.nan
        elif kind == 2:
            values[at:, j] = np.inf
        elif kind == 3:
            values[at, j] = 2 * div_level[j]  # a spike above the level that comes back
        elif kind == 4:
            values[at, j] = -np.inf
    alive = rng.random(n_lanes) > 0.1
    div_step = np.where(alive, -1, rng.integers(0, 1000, n_lanes)).astype(np.int32)
    hits = np.where(np.arange(K)[:, None] < n_hit[None, :], 7, -1).astype(np.int32)
    return values, thresholds, div_level, alive, div_step, best, n_hit, hits


EXACT = books._exact_bookkeeping


def no_exact_path(*args):
    """Stands in for the exact path: results no block can have."""
    div_step, diverged, best, n_hit, hits = EXACT(*args)
    return div_step - 999, diverged, best, n_hit, hits - 999


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trouble", [False, True], ids=["one-pass", "exact-path"])
def test_one_pass_equals_exact_path_and_numpy(x64, dtype, trouble, monkeypatch):
    rng = np.random.default_rng(0)
    if not trouble:  # then the one pass must answer alone
        monkeypatch.setattr(books, "_exact_bookkeeping", no_exact_path)
    one_pass = jax.jit(lambda *args: books._bookkeeping(*args))  # traced anew: with or without the patch
    new_hits = several = diverged = 0
    for trial in range(40):
        n_lanes, rows = int(rng.choice([1, 5, 64])), int(rng.choice([ROWS, ROWS, 40, books.SUB_STEPS]))
        values, thresholds, div_level, alive, div_step, best, n_hit, hits = random_block(rng, n_lanes, dtype,
                                                                                         trouble, rows)
        length = int(rng.choice([rows, rng.integers(1, rows + 1)]))
        buffer = values.copy()
        buffer[length:] = rng.uniform(-1, 1, (rows - length, n_lanes))  # stale entries: never read
        t0 = int(rng.integers(0, 10_000))
        args = (jnp.asarray(buffer), jnp.int32(length), jnp.int32(t0), jnp.asarray(alive),
                jnp.asarray(div_level), jnp.asarray(thresholds), jnp.asarray(div_step), jnp.asarray(best),
                jnp.asarray(n_hit), jnp.asarray(hits))
        expected = numpy_block(values, length, t0, alive, div_level, thresholds, div_step, best, n_hit, hits)
        for name, a, b in zip(["div_step", "diverged", "best", "n_hit", "hits"], one_pass(*args), expected):
            np.testing.assert_array_equal(np.asarray(a), b, err_msg=f"trial {trial}: {name}")
        new_hits += int((expected[3] > n_hit).sum())
        several += int((expected[3] > n_hit + 1).any())
        diverged += int(expected[1].any())
    assert new_hits >= 20, "the blocks must hit targets to test anything"
    if trouble:
        assert several >= 5 and diverged >= 20, (several, diverged)


@pytest.mark.parametrize("opt,factors", [("gd", [0.5, 1.0, 3.0]), ("adam", [0.01, 0.1, 30.0])])
def test_engine_results_are_the_same_with_and_without_the_one_pass(x64, monkeypatch, opt, factors):
    """Whole programs, dense and sparse runs, a lane passing several targets per
    block and one diverging: the same numbers from either bookkeeping."""
    import pandas as pd

    import bench
    import problems
    from bench.core import cells

    p = problems.get("quadratic", dim=10, condition_number=100.0)
    grid = {"learning_rate": [f / p.info["L"] for f in factors]}
    out = {}
    for one_pass, threshold in [(True, 0), (False, 10**12)]:
        monkeypatch.setattr(cells, "ONE_PASS_MIN_LANE_STEPS", threshold)
        res = bench.run_sweep(bench.SweepSpec(p, opt, grid=grid, seeds=[0, 1], steps=3000, dtype="float64",
                              record_path=True), repeats=1)
        assert (res.runs["steps_to_1e-8"] < 3000).any() and (opt != "gd" or res.runs.diverged.any())
        out[one_pass] = res
    timing = ["lane_step_s", "program_step_s", "program_step_times_s", "exec_s", "compile_s",
              "lane_time_to_target_s", "program_time_to_target_s", "time_ratio_vs_optax"]
    cols = [c for c in out[True].runs.columns if c not in timing]
    pd.testing.assert_frame_equal(out[True].runs[cols], out[False].runs[cols])
    pd.testing.assert_frame_equal(out[True].curves, out[False].curves)
    pd.testing.assert_frame_equal(out[True].paths, out[False].paths)
