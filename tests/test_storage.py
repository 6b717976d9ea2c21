"""What a results folder keeps: thinned float32 curves that keep every first hit, the tuned
configurations' paths, and its size (bench/runs/storage.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench import SweepSpec, run_sweep
from bench.runs import results, storage
from bench.stats import analysis, profiles, tuning

STEPS = 1000


@pytest.fixture(scope="module")
def sweep():
    """Adam on the 2-D Rosenbrock, seeded starts (perturb): 3 learning rates x 3 seeds, every step recorded."""
    r = run_sweep(SweepSpec("rosenbrock", "adam", problem_args={"dim": 2, "perturb": 0.1}, grid={"learning_rate": [3e-3, 3e-2, 3e-1]},
                  seeds=[0, 1, 2], steps=STEPS), repeats=1)
    assert (r.curves.groupby("run_id").size() == STEPS + 1).all()  # the full curve, before thinning
    return r


@pytest.fixture(scope="module")
def stored(sweep):
    return storage.compact({"runs": sweep.runs, "curves": sweep.curves, "paths": sweep.paths})


def test_stored_curves_keep_first_hits_and_ends_in_float32(sweep, stored):
    curves, runs = stored["curves"], sweep.runs
    assert curves["loss"].dtype == np.float32 and list(curves.columns) == ["run_id", "step", "loss"]
    assert len(curves) < len(sweep.curves) / 5
    full = sweep.curves.set_index(["run_id", "step"])["loss"]
    kept = curves.set_index(["run_id", "step"])["loss"]
    np.testing.assert_array_equal(kept.to_numpy(), full.loc[kept.index].to_numpy())  # stored losses unchanged
    hit_columns = [c for c in runs.columns if c.startswith("steps_to_")]
    hits_checked = 0
    for row in runs.itertuples(index=False):
        steps = set(curves.loc[curves["run_id"] == row.run_id, "step"])
        assert {0, STEPS} <= steps
        for col in hit_columns:
            hit = runs.loc[runs["run_id"] == row.run_id, col].iloc[0]
            if np.isfinite(hit):
                assert {int(hit), max(int(hit) - 1, 0)} <= steps, (row.run_id, col)
                hits_checked += 1
    assert hits_checked >= 9  # at least one target hit per lane somewhere: the check is not vacuous


def test_data_profile_first_hits_read_from_stored_curves_are_exact(sweep, stored):
    runs = sweep.runs
    full = profiles.convergence_costs(runs, sweep.curves)
    thin = profiles.convergence_costs(runs, stored["curves"])
    pd.testing.assert_frame_equal(thin, full)
    assert (thin["resolution"] == 1).all() and np.isfinite(thin["cost"]).any()
    assert not (runs["best_loss"].min() == runs["f_ref"]).any()  # f_L != f*: read from the curve, not runs


def test_convergence_band_uses_the_steps_every_seed_stored(sweep, stored):
    bands = analysis.convergence_bands(sweep.runs, stored["curves"])
    assert np.isfinite(bands["median"]).all() and bands["step"].is_monotonic_increasing
    assert {0, STEPS} <= set(bands["step"])


def test_paths_only_of_the_tuned_configuration_unless_all(sweep, stored):
    keys = ["instance", "optimizer", "impl", "config_id"]
    tuned = sweep.runs.merge(tuning.best_configs(sweep.runs)[keys], on=keys)
    assert len(tuned) == 3 and set(stored["paths"]["run_id"]) == set(tuned["run_id"])
    assert stored["paths"]["value"].dtype == np.float32
    every = storage.compact({"runs": sweep.runs, "curves": sweep.curves, "paths": sweep.paths}, all_paths=True)
    assert set(every["paths"]["run_id"]) == set(sweep.runs["run_id"])


def test_curves_file_is_small_per_recorded_point(sweep, stored, tmp_path):
    """Bytes of curves.parquet per recorded (trajectory, step): the full float32 curve written
    as pandas does by default takes about 4 bytes per point; the stored file well under 1."""
    points = len(sweep.curves)
    results.write_table(tmp_path / "curves.parquet", stored["curves"])
    new = (tmp_path / "curves.parquet").stat().st_size / points
    sweep.curves.to_parquet(tmp_path / "old.parquet", index=False)
    old = (tmp_path / "old.parquet").stat().st_size / points
    assert new < 1.0 < old, (new, old)
    assert pd.read_parquet(tmp_path / "curves.parquet").equals(stored["curves"])  # read back as written


def test_base_steps_cover_the_schedule_ends_and_spacing():
    stored = np.arange(0, 2001)
    idx = storage.base_steps(stored, even=11, log=4)
    steps = stored[idx]
    assert steps[0] == 0 and steps[-1] == 2000
    assert set(range(0, 2001, 200)) <= set(steps) and {1, 2000} <= set(steps)
    sparse = np.array([0, 5, 50, 500, 5000])  # a sparse schedule: only recorded steps are picked
    assert set(sparse[storage.base_steps(sparse, even=3, log=3)]) <= set(sparse)


def test_a_spike_between_even_steps_is_kept_for_every_seed():
    from test_analysis_cases import make_runs

    runs = make_runs([{"seed": 0}, {"seed": 1}])
    steps = np.arange(2001)
    losses = [10.0 * np.exp(-steps / 300.0) for _ in range(2)]
    losses[0][1234] = 50.0  # one seed's spike, far from every evenly spaced step
    curves = pd.DataFrame({"run_id": np.repeat([0, 1], len(steps)), "step": np.tile(steps, 2),
                           "loss": np.concatenate(losses)})
    kept = storage.thin_curves(runs, curves)
    for run_id in (0, 1):
        assert 1234 in set(kept.loc[kept["run_id"] == run_id, "step"])
    assert len(kept) < len(curves) / 5
