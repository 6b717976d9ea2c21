"""The engine against a plain per-step loop, and its batching, divergence and storage.

The reference is a Python loop taking one jax.grad and one optimizer update per
step in float64; losses must agree with it to 1e-12, and each first-hit step
must be the reference's up to that tolerance (`agreement`: a hit may move only
where the reference's loss is that close to the threshold). Bit-exact checks
are kept for what one compiled program computes twice.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import optax
import pandas as pd
import pytest

from agreement import assert_first_hits_agree

import bench
import optimizers
import problems
from bench.core import cells, compiled, engine, schedule
from bench.runs import results

TARGETS = np.asarray(bench.TARGETS)


def reference(problem, tx_factory, needs, hp, seed, steps, f_ref=None, eval_params=None):
    """A plain loop: losses, points, first hits and divergence step of one trajectory
    (losses and points at `eval_params(state, x)` when given: schedule-free methods)."""
    x = problem.init(jax.random.PRNGKey(seed), np.float64)
    tx = tx_factory(**hp)
    state = tx.init(x)
    value_and_grad = jax.jit(jax.value_and_grad(problem.loss))
    measured = jax.jit(lambda state, x: x if eval_params is None else eval_params(state, x))
    extra_names = [n for n in needs if n != "f_min"]

    @jax.jit
    def update(g, state, x, value):
        extra = {"value": value, "grad": g, "value_fn": problem.loss, "obj_fn": problem.loss}
        u, state = tx.update(g, state, x, **{n: extra[n] for n in extra_names})
        return optax.apply_updates(x, u), state

    values, points = [], []
    for t in range(steps + 1):
        v, g = value_and_grad(x)
        at = measured(state, x)
        values.append(float(v) if eval_params is None else float(problem.loss(at)))
        points.append(np.asarray(at))
        if t == steps:
            break
        x, state = update(g, state, x, v)
    values = np.asarray(values)
    hits, div = hits_and_divergence(values, problem.f_star if f_ref is None else f_ref)
    return values, np.asarray(points), hits, div


def hits_and_divergence(values: np.ndarray, f_ref: float) -> tuple[np.ndarray, int]:
    """From every step's loss: the first hit of each target (inf if none) and the divergence step (-1)."""
    f0 = values[0]
    bad = ~np.isfinite(values) | (np.abs(values) > engine.DIVERGENCE_FACTOR * abs(f0))
    div = int(np.argmax(bad)) if bad.any() else -1
    valid = values if div < 0 else values[:div]
    hits = []
    for tau in TARGETS:
        hit = np.flatnonzero(valid <= f_ref + tau * (f0 - f_ref))
        hits.append(float(hit[0]) if hit.size else float("inf"))
    return np.asarray(hits), div


CASES = [
    ("gd", "quadratic", {"dim": 10, "condition_number": 100.0}, [0.005, 0.01], 1500),
    ("adam", "quadratic", {"dim": 10, "condition_number": 100.0}, [0.01, 0.1], 1500),
    ("gd", "rosenbrock", {"dim": 2}, [1e-3, 2e-3], 3000),
    ("adam", "rosenbrock", {"dim": 2}, [0.02, 0.1], 3000),
]


@pytest.mark.parametrize("opt,prob,args,lrs,steps", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_first_hits_equal_plain_loop(x64, opt, prob, args, lrs, steps):
    p = problems.get(prob, **args)
    spec = optimizers.get(opt)
    res = bench.run_sweep(bench.SweepSpec(p, spec, grid={"learning_rate": lrs}, seeds=[0, 1], steps=steps,
                                          dtype="float64", record_path=True), repeats=1)
    runs = res.runs
    assert len(runs) == 2 * (1 if runs.fixed_start.all() else 2)  # Rosenbrock's start ignores the seed: one ran
    assert runs.fixed_start.all() == (prob == "rosenbrock")
    hit_cols = [cells.target_column(t) for t in TARGETS]
    some_hit = False
    for row in runs.itertuples():
        values, points, hits, div = reference(p, spec.make, spec.needs, {"learning_rate": row.learning_rate},
                                              row.seed, steps)
        assert_first_hits_agree(runs.loc[row.Index, hit_cols].to_numpy(float), values, TARGETS, p.f_star,
                                rtol=1e-12, atol=1e-12 * abs(values[0]))
        assert row.diverged_step == div
        some_hit |= np.isfinite(hits).sum() >= 3
        curve = res.curves[res.curves.run_id == row.run_id]
        np.testing.assert_array_equal(curve.step.to_numpy(), schedule.make(steps).points())
        # Below the last target (relative 1e-8) the batched matrix products' rounding, which
        # differs from one lane's by an ulp, can grow (Adam near its optimum is chaotic); above
        # it the trajectories agree to 1e-12, with a floor at 1e-12 of the initial loss.
        below = np.flatnonzero(values <= 1e-9 * values[0])
        horizon = below[0] if below.size else steps + 1
        early = curve.step.to_numpy() < horizon
        np.testing.assert_allclose(curve.loss.to_numpy()[early], values[curve.step.to_numpy()[early]],
                                   rtol=1e-12, atol=1e-12 * abs(values[0]))
        path = res.paths[res.paths.run_id == row.run_id].pivot(index="step", columns="coord", values="value")
        early = path.index.to_numpy() < horizon
        np.testing.assert_allclose(path.to_numpy()[early], points[path.index.to_numpy()[early]], rtol=1e-12,
                                   atol=1e-12)
        assert row.final_loss == curve.loss.iloc[-1]
        assert row.best_loss <= curve.loss.min() and row.best_loss >= 0
    assert some_hit, "the case must hit several targets to test anything"


@pytest.mark.parametrize("opt", ["polyak", "gd_armijo"])
def test_extra_argument_optimizers_equal_plain_loop(x64, opt):
    # Rosenbrock-2D: no sums over many terms, so one lane's arithmetic is the batch's exactly
    # (Polyak's (f - f*) / |g|^2 amplifies any rounding difference near the optimum).
    p = problems.get("rosenbrock", dim=2)
    spec = optimizers.get(opt)
    lrs = [0.01, 1.0] if opt == "polyak" else [0.05, 1.0]
    res = bench.run_sweep(bench.SweepSpec(p, spec, grid={"learning_rate": lrs}, seeds=[0], steps=1000,
                                          dtype="float64"), repeats=1)
    hit_cols = [cells.target_column(t) for t in TARGETS]
    n_hits = []
    for row in res.runs.itertuples():
        hp = {"learning_rate": row.learning_rate}
        if "f_min" in spec.needs:
            hp["f_min"] = p.f_star
        values, _, hits, _ = reference(p, spec.make, spec.needs, hp, row.seed, 1000)
        assert_first_hits_agree(res.runs.loc[row.Index, hit_cols].to_numpy(float), values, TARGETS, p.f_star,
                                rtol=1e-12, atol=1e-12 * abs(values[0]))
        n_hits.append(np.isfinite(hits).sum())
        curve = res.curves[res.curves.run_id == row.run_id]
        np.testing.assert_allclose(curve.loss.to_numpy(), values[curve.step.to_numpy()], rtol=1e-12,
                                   atol=1e-12 * abs(values[0]))
    assert max(n_hits) >= 3, n_hits


def test_numpy_gd_loop_agrees():
    """Gradient descent on Rosenbrock against NumPy and scipy's derivative, float64."""
    from scipy.optimize import rosen, rosen_der

    lr, steps = 1.5e-3, 3000
    with jax.enable_x64(True):
        runs = bench.sweep("rosenbrock", "gd", problem_args={"dim": 2}, grid={"learning_rate": [lr]},
                           seeds=[0], steps=steps, dtype="float64", repeats=1)
    x = np.array([-1.2, 1.0])
    values = []
    for _ in range(steps + 1):
        values.append(rosen(x))
        x = x - lr * rosen_der(x)
    values = np.asarray(values)
    got = runs[[cells.target_column(t) for t in TARGETS]].to_numpy(float)[0]
    # Rounding (fused multiply-adds, operation order) differs between NumPy and XLA: 3,000 steps
    # on a curved valley drift apart by ~1e-9 relative; the first hits agree up to that.
    assert_first_hits_agree(got, values, TARGETS, 0.0, rtol=1e-8)
    assert np.isfinite(got).sum() >= 3
    assert runs.final_loss[0] == pytest.approx(values[-1], rel=1e-8)


def test_batched_sweep_equals_one_by_one(x64):
    """A lane of a batch is the trajectory run alone: no lane reads another's numbers.

    The batch and the lone lane are two compiled programs (other shapes, other
    vectorisation), so they agree to rounding, not bit for bit: 1e-12 relative in
    float64, every step stored, while the loss is above 1e-9 of its start (below
    it Adam near the optimum is chaotic, and any rounding difference grows).
    """
    grid = [3e-3, 3e-2, 0.3]
    seeds = [0, 1]
    p = problems.get("rosenbrock", dim=3, perturb=0.1)
    kw = dict(steps=1200, dtype="float64", record_every=1)
    together = bench.run_sweep(bench.SweepSpec(p, "adam", grid={"learning_rate": grid}, seeds=seeds, **kw),
                               repeats=1)
    hit_cols = [cells.target_column(t) for t in TARGETS]
    for lr in grid:
        for seed in seeds:
            alone = bench.run_sweep(bench.SweepSpec(p, "adam", grid={"learning_rate": [lr]}, seeds=[seed], **kw),
                                    repeats=1)
            row = together.runs[(together.runs.learning_rate == lr) & (together.runs.seed == seed)].iloc[0]
            a = together.curves[together.curves.run_id == row.run_id].loss.to_numpy()
            b = alone.curves.loss.to_numpy()
            below = np.flatnonzero(b <= 1e-9 * b[0])
            horizon = below[0] if below.size else len(b)
            np.testing.assert_allclose(a[:horizon], b[:horizon], rtol=1e-12, atol=1e-12 * abs(b[0]))
            assert_first_hits_agree(row[hit_cols].to_numpy(float), b, TARGETS, p.f_star, rtol=1e-12,
                                    atol=1e-12 * abs(b[0]))
            assert row.diverged_step == alone.runs.diverged_step[0] == -1
            if horizon == len(b):
                np.testing.assert_allclose(row.final_loss, alone.runs.final_loss[0], rtol=1e-12)


def test_divergent_lane_is_frozen_and_the_others_go_on(x64):
    p = problems.get("quadratic", dim=10, condition_number=100.0)
    big = 3.0 / p.info["L"]  # |1 - lr L| = 2: the top eigendirection doubles every step
    small = 0.5 / p.info["L"]
    res = bench.run_sweep(bench.SweepSpec(p, "gd", grid={"learning_rate": [small, big]}, seeds=[0], steps=400,
                                          dtype="float64"), repeats=1)
    ok, bad = res.runs.iloc[0], res.runs.iloc[1]
    _, _, _, div = reference(p, optimizers.gd, (), {"learning_rate": big}, 0, 60)
    assert div > 0
    assert bad.diverged and bad.diverged_step == div
    assert not ok.diverged and ok.diverged_step == -1 and np.isfinite(ok.final_loss)
    curve = res.curves[res.curves.run_id == bad.run_id]
    assert not (curve.loss.iloc[div] <= engine.DIVERGENCE_FACTOR * curve.loss.iloc[0])  # NaN, inf or huge
    # frozen from the end of the block in which it diverged
    frozen = curve[curve.step >= (div // schedule.BLOCK_STEPS + 1) * schedule.BLOCK_STEPS].loss.to_numpy()
    assert len(frozen) > 100 and np.array_equal(frozen, np.full_like(frozen, frozen[0]), equal_nan=True)
    assert np.array_equal(bad.final_loss, frozen[0], equal_nan=True)
    assert np.isfinite(bad.best_loss) and bad.best_loss <= curve.loss.iloc[0]
    alone = bench.run_sweep(bench.SweepSpec(p, "gd", grid={"learning_rate": [small]}, seeds=[0], steps=400,
                                            dtype="float64"), repeats=1)
    # two programs (one lane, two): gd on a quadratic contracts, its rounding stays near 1e-16
    assert alone.runs.final_loss[0] == pytest.approx(ok.final_loss, rel=1e-12)


def test_paths_at_stored_steps_equal_plain_loop(x64, monkeypatch):
    """The recorded path is the plain loop's point at every stored step, in a dense
    run (every step stored) and sparse runs alike; a lane that diverges stores its
    point from the end of that block on (frozen) and goes on storing it."""
    p = problems.get("quadratic", dim=2, condition_number=10.0, rotate=False)  # elementwise: exact per lane
    lrs = [0.5 / p.info["L"], 1.5 / p.info["L"], 2.05 / p.info["L"]]  # the last: |1 - lr L| = 1.05, diverges
    steps = 450
    # Every step up to 120, then 20 more: block 0 is a dense run, blocks 1-4 sparse ones.
    monkeypatch.setattr(schedule, "make", lambda steps, every=None: schedule.Schedule(
        steps, tuple(int(s) for s in np.unique(np.r_[np.arange(121), np.linspace(121, steps, 20).astype(int)]))))
    res = bench.run_sweep(bench.SweepSpec(p, "gd", grid={"learning_rate": lrs}, seeds=[0], steps=steps,
                                          dtype="float64", record_path=True), repeats=1)
    stored = schedule.make(steps).points()
    widths = [r.slots.shape[1] for r in schedule.plan(schedule.make(steps))]
    assert widths[0] == schedule.BLOCK_STEPS and max(widths[1:]) < schedule.BLOCK_STEPS / 2  # dense, then sparse
    for row in res.runs.itertuples():
        _, points, _, div = reference(p, optimizers.gd, (), {"learning_rate": row.learning_rate}, 0, steps)
        assert row.diverged_step == div
        frozen_from = steps if div < 0 else min(steps, (div // schedule.BLOCK_STEPS + 1) * schedule.BLOCK_STEPS)
        expected = points[np.minimum(stored, frozen_from)]
        path = res.paths[res.paths.run_id == row.run_id].pivot(index="step", columns="coord", values="value")
        np.testing.assert_array_equal(path.index.to_numpy(), stored)
        np.testing.assert_array_equal(path.to_numpy(), expected)
    bad = res.runs.iloc[-1]
    assert schedule.BLOCK_STEPS < bad.diverged_step < 300, "the lane must diverge in a sparse run, then freeze"
    assert np.isfinite(res.paths[res.paths.run_id == bad.run_id].value).all(), "a finite frozen point tests more"


def test_nan_loss_is_divergence_not_a_crash():
    p = problems.get("rosenbrock", dim=2)
    runs = bench.sweep(p, "gd", grid={"learning_rate": [1e-3, 10.0]}, seeds=[0], steps=200, repeats=1)
    assert list(runs.diverged) == [False, True]
    assert 0 < runs.diverged_step[1] < 10
    assert np.isinf(runs.steps_to_target[1]) and np.isinf(runs.lane_time_to_target_s[1])


def test_unknown_optimum_is_relative_to_best_reached():
    p = problems.get("mlp")
    assert p.f_star is None
    runs = bench.sweep(p, "adam", grid={"learning_rate": [1e-3, 1e-2]}, seeds=[0], steps=200, repeats=1)
    assert (runs.f_ref_source == "best_reached").all()
    assert runs.f_ref.iloc[0] == pytest.approx(runs.best_loss.min())
    best = runs.best_loss.idxmin()
    assert np.isfinite(runs.loc[best, "steps_to_1e-8"])


def test_columns_and_parquet_round_trip(tmp_path):
    res = bench.run_sweep(bench.SweepSpec("quadratic", "adam", problem_args={"dim": 2, "condition_number": 10.0},
                          grid={"learning_rate": [0.01, 0.1], "b1": [0.8, 0.9]}, seeds=[0, 1], steps=100,
                          impl="both"), repeats=2)
    runs = res.runs
    required = ["problem", "optimizer", "impl", "seed", "learning_rate", "b1", "steps", "final_loss", "best_loss",
                "target", "steps_to_target", "lane_time_to_target_s", "program_time_to_target_s",
                *[cells.target_column(t) for t in TARGETS], "diverged", "diverged_step", "lane_step_s",
                "program_step_s", "program_step_times_s", "exec_s", "lanes", "compile_s", "dtype", "device"]
    assert not set(required) - set(runs.columns)
    assert len(runs) == 2 * 2 * 2 * 2 and set(runs.impl) == {"gdbench", "optax"}
    assert (runs.program_step_s > 0).all() and (runs.compile_s > 0).all()
    assert np.isfinite(runs.time_ratio_vs_optax).all()
    ours = runs[runs.impl == "gdbench"].reset_index(drop=True)
    twin = runs[runs.impl == "optax"].reset_index(drop=True)
    # Ours and optax's Adam are the same arithmetic, run by two branches of one program:
    # float32 rounding (eps 1.2e-7) over 100 contracting steps stays far below 1e-5.
    np.testing.assert_allclose(ours.final_loss, twin.final_loss, rtol=1e-5)
    for name, df in [("runs", runs), ("curves", res.curves), ("paths", res.paths)]:
        results.write_table(tmp_path / f"{name}.parquet", df)
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{name}.parquet"), df)
    assert len(res.paths) == len(runs) * len(schedule.make(100).points()) * 2
    assert bench.curves(res) is res.curves
    with pytest.raises(TypeError, match="curves: expected a SweepResult .* got DataFrame"):
        bench.curves(runs)


def test_bad_input_is_a_config_error():
    with pytest.raises(bench.ConfigError, match="grid.learning_rat.*did you mean 'learning_rate'"):
        bench.sweep("rosenbrock", "adam", grid={"learning_rat": [0.1]})
    with pytest.raises(bench.ConfigError, match="grid.learning_rate: must list at least one value"):
        bench.sweep("rosenbrock", "adam", grid={"learning_rate": []})
    with pytest.raises(bench.ConfigError, match="steps"):
        bench.sweep("rosenbrock", "adam", steps=0)
    with pytest.raises(bench.ConfigError, match="learning_rate"):
        bench.sweep("rosenbrock", "adam", grid={"learning_rate": [-1.0]})
    with pytest.raises(bench.ConfigError, match="dtype"):
        bench.sweep("rosenbrock", "adam", dtype="float16")
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'"):
        bench.sweep("rosenbrock", "adamm")
    with pytest.raises(bench.ConfigError, match="repeats: must be an integer >= 1"):
        bench.sweep("rosenbrock", "adam", repeats=0)
    with pytest.raises(bench.ConfigError, match="seeds: a count of seeds must be >= 1"):
        bench.sweep("rosenbrock", "adam", seeds=0)
    with pytest.raises(bench.ConfigError, match="seeds: must be a count or a list"):
        bench.sweep("rosenbrock", "adam", seeds=2.5)


def test_seeds_as_a_count_as_in_the_cli_and_suites():
    kw = dict(problem_args={"dim": 2, "perturb": 0.1}, grid={"learning_rate": [1e-2]}, steps=20, repeats=1)
    counted = bench.sweep("rosenbrock", "adam", seeds=3, **kw)
    listed = bench.sweep("rosenbrock", "adam", seeds=[0, 1, 2], **kw)
    assert list(counted.seed) == [0, 1, 2]
    pd.testing.assert_series_equal(counted.final_loss, listed.final_loss)


@pytest.mark.no_gpu
def test_an_absent_gpu_is_a_config_error():
    with pytest.raises(bench.ConfigError, match="device.*'gpu' is not available"):
        bench.sweep("rosenbrock", "adam", device="gpu")


def test_results_come_from_the_timed_runs():
    """No run of its own for the results: the first of the interleaved timed runs
    gives them, and they equal a fresh run's."""
    cell = cells.prepare(cells.SweepSpec("quadratic", "adam", problem_args={"dim": 4, "condition_number": 10.0},
                         grid={"learning_rate": [0.01, 0.1]}, seeds=[0, 1], steps=150, impl="both"))
    ours, twin = cell.groups
    assert ours.program.compiled is twin.program.compiled  # one program, run as either
    cells.run_cell(cell, repeats=3)
    rounds = len(cell.groups[0].times)
    assert rounds >= 3 and (rounds == cells.MAX_ROUNDS or sum(cell.groups[0].times) >= cells.MIN_TIME_S)
    for g in cell.groups:
        assert len(g.times) == rounds and all(t > 0 for t in g.times)
        again = g.program()
        assert set(again) == set(g.outputs)
        for key in again:
            np.testing.assert_array_equal(again[key], g.outputs[key])


def test_time_ratio_pairs_rounds_and_ignores_one_fast_run():
    from types import SimpleNamespace as G

    base = np.array([10.0, 10.4, 9.9, 10.6, 10.1, 10.3, 10.0])
    ours = G(impl="gdbench", times=list(1.2 * base))
    twin = G(impl="optax", times=list(base))
    assert cells.time_ratio([ours, twin]) == pytest.approx(1.2, rel=0.02)
    lucky = G(impl="optax", times=[0.5 * base[0], *base[1:]])  # one unusually fast run
    assert cells.time_ratio([ours, lucky]) == pytest.approx(1.2, rel=0.03)
    # several programs of one implementation add up per round; no twin: NaN
    halves = [G(impl="gdbench", times=list(0.6 * base)), G(impl="gdbench", times=list(0.6 * base))]
    assert cells.time_ratio([*halves, twin]) == pytest.approx(1.2, rel=0.02)
    assert np.isnan(cells.time_ratio([ours]))


@pytest.mark.parametrize("name", optimizers.names())
def test_every_optimizer_through_the_engine(x64, name):
    """Each optimizer, ours and optax's, as the engine runs it (broadcast or vmapped
    lanes, extra arguments), against the plain loop on Rosenbrock-2D."""
    p = problems.get("rosenbrock", dim=2)
    spec = optimizers.get(name)
    low, high, _ = spec.search_space["learning_rate"]
    lrs = [float(np.sqrt(low * high)), float(high) / 10]
    impl = "both" if spec.twin is not None else "gdbench"
    res = bench.run_sweep(bench.SweepSpec(p, spec, grid={"learning_rate": lrs}, seeds=[0], steps=200,
                                          dtype="float64", impl=impl), repeats=1)
    # How far a last-bit difference carries: the same loop from a start 1e-15 away. Some methods
    # amplify it on the valley's floor (normalised or distance-based steps: dowg), and the engine's
    # batched arithmetic differs from the plain loop's in the last bits, so the losses may differ
    # by what this sensitivity allows (10x), and by 1e-12 of the start where it is nil.
    nudged = dataclasses.replace(p, init_fn=lambda key, dtype: jax.tree.map(lambda a: a * (1 + 1e-15),
                                                                              p.init_fn(key, dtype)))
    for row in res.runs.itertuples():
        # the learning rate as the engine has it: a float64 array, not a (weakly typed) Python float
        hp = {"learning_rate": np.float64(row.learning_rate), **({"f_min": 0.0} if "f_min" in spec.needs else {})}
        factory, evaluate = (spec.make, spec.eval_params) if row.impl == "gdbench" else (spec.baseline,
                                                                                          spec.twin_eval_params)
        values, _, hits, div = reference(p, factory, spec.needs, hp, 0, 200, eval_params=evaluate)
        other = reference(nudged, factory, spec.needs, hp, 0, 200, eval_params=evaluate)[0]
        curve = res.curves[res.curves.run_id == row.run_id]
        assert row.diverged_step == div
        end = div if div >= 0 else 201
        valid = curve.step.to_numpy() < end
        at = curve.step.to_numpy()[valid]
        with np.errstate(invalid="ignore", over="ignore"):  # the nudged start may diverge a step earlier
            diff = np.abs(values[:end] - other[:end])
        spread = np.maximum.accumulate(np.where(np.isfinite(diff), diff, np.inf))  # never shrinks
        tol = 1e-12 * abs(values[0]) + 1e-12 * np.abs(values[at]) + 10 * spread[at]
        gap = np.abs(curve.loss.to_numpy()[valid] - values[at])
        assert (gap <= tol).all(), f"step {at[np.argmax(gap - tol)]}: {gap.max()!r} over {tol[np.argmax(gap - tol)]!r}"
        assert_first_hits_agree(res.runs.loc[row.Index, [cells.target_column(t) for t in TARGETS]].to_numpy(float),
                                values[:end], TARGETS, p.f_star, rtol=1e-12,
                                atol=1e-12 * abs(values[0]) + 10 * spread[-1])


def test_step_times_are_every_timed_run_and_time_is_per_trajectory():
    """program_step_times_s: each timed run's seconds per step, their median the
    program's step time; a trajectory's share is that over the program's lanes."""
    grid = {"learning_rate": [1e-2, 0.1, 0.3]}
    runs = bench.sweep("quadratic", "adam", problem_args={"dim": 2, "condition_number": 10.0}, grid=grid,
                       seeds=[0, 1], steps=300, target=0.1, repeats=3)
    assert (runs.lanes == 6).all()
    for row in runs.itertuples():
        times = np.asarray(row.program_step_times_s)
        assert len(times) >= 3 and (times > 0).all()
        # Equal up to the rounding of a division or two (median of t/300 vs median(t)/300): 1e-12.
        assert row.program_step_s == pytest.approx(np.median(times), rel=1e-12)
        assert row.program_step_s == pytest.approx(row.exec_s / 300, rel=1e-12)
        assert row.lane_step_s == pytest.approx(row.program_step_s / 6, rel=1e-12)
        assert row.lane_time_to_target_s == pytest.approx(row.steps_to_target * row.lane_step_s, rel=1e-12)
        assert row.program_time_to_target_s == pytest.approx(row.steps_to_target * row.program_step_s, rel=1e-12)
    assert np.isfinite(runs.lane_time_to_target_s).any()


class _Clock:
    """Stands in for Program.launch: scripted run times, counted."""

    def __init__(self, first: float, then: float):
        self.first, self.then, self.calls = first, then, 0

    def __call__(self):
        self.calls += 1
        return (self.first if self.calls == 1 else self.then), None


@pytest.mark.parametrize("first,then,warmups,timed", [
    (0.5, 0.01, 1, 3),  # a slow first run (under LONG_RUN_S) is warm-up only; 3 runs of 10 ms pass MIN_TIME_S
    (0.001, 0.001, 25, 25),  # a millisecond program: 25 ms of warm-up, then 25 ms timed
])
def test_warm_up_runs_are_not_timed(monkeypatch, first, then, warmups, timed):
    cell = cells.prepare(cells.SweepSpec("rosenbrock", "gd", problem_args={"dim": 2},
                                         grid={"learning_rate": [1e-3]}, steps=10))
    clock = _Clock(first, then)
    monkeypatch.setattr(compiled.Program, "launch", lambda program, f_ref=None: clock())
    monkeypatch.setattr(compiled.Program, "recycle", lambda program, out: None)
    cell.time(repeats=3)
    (group,) = cell.groups
    assert group.times == [then] * timed
    assert clock.calls == warmups + timed


def test_every_swept_hyperparameter_is_a_column_to_group_by():
    runs = bench.sweep("rosenbrock", "rmsprop", problem_args={"dim": 2}, steps=20, repeats=1,
                       grid={"learning_rate": [1e-3, 1e-2], "decay": [0.8, 0.9], "centered": [False, True]})
    assert runs.groupby(["decay", "centered"]).size().to_dict() == {
        (0.8, False): 2, (0.8, True): 2, (0.9, False): 2, (0.9, True): 2}
    assert runs["centered"].dtype == bool and runs["decay"].dtype == float


def test_each_round_runs_every_program_once_in_a_varying_order(monkeypatch):
    """Interleaving without a fixed order: a disturbance in step with the rounds must not fall on one program."""
    cell = cells.prepare(cells.SweepSpec("rosenbrock", "gd", problem_args={"dim": 2}, grid={"learning_rate": [1e-3]},
                                         steps=10, impl="both"))
    calls = []
    monkeypatch.setattr(compiled.Program, "launch", lambda program, f_ref=None: (calls.append(program) or 0.01, None))
    monkeypatch.setattr(compiled.Program, "recycle", lambda program, out: None)
    cell.time(repeats=20, min_time=0.0, warmup=0.0)
    ours, theirs = (g.program for g in cell.groups)
    rounds = [calls[i:i + 2] for i in range(2, len(calls), 2)]  # after the one warm-up round
    assert len(rounds) == 20 and all({id(p) for p in r} == {id(ours), id(theirs)} for r in rounds)
    firsts = sum(r[0] is ours for r in rounds)
    assert 0 < firsts < 20  # both orders occur (a fixed sequence: the same every run)
    assert len(cell.groups[0].times) == len(cell.groups[1].times) == 20


@pytest.mark.parametrize("seconds", [{"gdbench": 2.0, "optax": 1.5}, {"gdbench": 2.0, "optax": 0.5}])
def test_long_programs_are_timed_by_their_first_run_alone(monkeypatch, seconds):
    """Programs whose first runs all took LONG_RUN_S or more run once: that run gives the
    results and the time. One short program keeps the whole protocol for all."""
    cell = cells.prepare(cells.SweepSpec("rosenbrock", "gd", problem_args={"dim": 2}, grid={"learning_rate": [1e-3]},
                                         steps=10, impl="both"))
    impl_of = {id(g.program): g.impl for g in cell.groups}
    calls = []

    def launch(program, f_ref=None):
        calls.append(impl_of[id(program)])
        return seconds[impl_of[id(program)]], {"run": len(calls)}

    monkeypatch.setattr(compiled.Program, "launch", launch)
    monkeypatch.setattr(compiled.Program, "recycle", lambda program, out: None)
    monkeypatch.setattr(compiled.Program, "fetch", lambda program, out: out)
    cell.time(repeats=5, keep_outputs=True)
    long = min(seconds.values()) >= cells.LONG_RUN_S
    assert sorted(calls[:2]) == ["gdbench", "optax"]  # every program's first run comes first
    for g in cell.groups:
        assert g.outputs == {"run": calls.index(g.impl) + 1}  # the results are its first run's
        assert g.times == ([seconds[g.impl]] if long else [seconds[g.impl]] * 5)
    assert len(calls) == (2 if long else 2 + 5 * 2)  # short: no more warm-up (0.5 s > WARMUP_S), 5 rounds


def test_the_path_buffer_is_donated_and_any_buffer_gives_the_same_path():
    """Every row of the path is written by a run, so a recycled buffer (here: NaN-filled) changes nothing."""
    cell = cells.prepare(cells.SweepSpec("rosenbrock", "adam", problem_args={"dim": 2},
                                         grid={"learning_rate": [1e-3, 1e-2]}, seeds=[0, 1], steps=1500))
    program = cell.groups[0].program
    fresh = program()
    _, out = program.launch()
    buffer = out["path"]
    program.recycle(out)
    program.time()
    assert buffer.is_deleted()  # donated: the run wrote into it
    program.spare = jax.tree.map(lambda s: jax.device_put(np.full(s.shape, np.nan, s.dtype), s.sharding), program.path)
    again = program()
    assert np.isfinite(again["path"]).all()
    np.testing.assert_array_equal(again["path"], fresh["path"])
    np.testing.assert_array_equal(again["losses"], fresh["losses"])
    cell.time(repeats=3, keep_outputs=True)  # recycles while timing, then frees the spare buffers
    assert all(g.program.spare is None for g in cell.groups)
    np.testing.assert_array_equal(cell.groups[0].outputs["path"], fresh["path"])
