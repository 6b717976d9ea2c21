"""The stochastic regime against theory: the noisy quadratic model's expected loss.

The engine's mean full loss over many seeds must match the closed form of
`problems.noisy_quadratic.expected_loss` for SGD and heavy-ball momentum at
several batch sizes; and minibatch runs must be reproducible: different seeds
differ, a rerun repeats, and the lanes' draws do not depend on the devices.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

import bench  # noqa: F401  (XLA settings before JAX starts)
import problems
from bench.core import cells
from problems.noisy_quadratic import curvatures, expected_loss

NQM = {"dim": 10, "condition_number": 100.0, "noise": 1.0}
STEPS = 100
CHECKED = (10, 30, 60, 100)


def _sweep(batch_size, seeds, grid, steps=STEPS, device_count=None, monkeypatch=None):
    if device_count is not None:
        monkeypatch.setattr(cells, "devices_for", lambda device: jax.devices()[:device_count])
    return cells.run_sweep(cells.SweepSpec("noisy_quadratic", "momentum", grid=grid, seeds=seeds, steps=steps,
                           problem_args=NQM, batch_size=batch_size, record_every=10), repeats=1)


def _check_against_theory(batch_sizes, grid, seeds=256):
    """|mean - E f| <= 4 standard errors at every checked step, for every cell and configuration.

    Lanes are independent (one seed each), so the mean of `seeds` of them has the
    standard error std / sqrt(seeds); under the engine's noise draws 4 standard
    errors is a 6e-5 two-sided tail per comparison. The check has power: the
    closed form of 4x the batch size is rejected in most comparisons (a wrong
    1/B noise scale, momentum convention, or noise shared across steps or lanes
    would be too).
    """
    result = _sweep(batch_sizes, range(seeds), grid)
    h = curvatures(NQM["dim"], NQM["condition_number"])
    curves = result.curves.merge(result.runs[["run_id", "batch_size", "learning_rate", "momentum"]], on="run_id")
    checked = far = 0
    for (b, lr, beta), group in curves.groupby(["batch_size", "learning_rate", "momentum"]):
        theory = expected_loss(h, NQM["noise"], int(b), lr, STEPS, momentum=beta)
        wrong = expected_loss(h, NQM["noise"], 4 * int(b), lr, STEPS, momentum=beta)
        for t in CHECKED:
            losses = group.loc[group.step == t, "loss"].to_numpy(np.float64)
            assert len(losses) == seeds
            mean, se = losses.mean(), losses.std(ddof=1) / np.sqrt(seeds)
            assert abs(mean - theory[t]) <= 4 * se, (b, lr, beta, t, mean, theory[t], se)
            far += abs(mean - wrong[t]) > 4 * se
            checked += 1
    assert checked == len(batch_sizes) * len(list(itertools.product(*grid.values()))) * len(CHECKED)
    assert far >= checked / 2, (far, checked)


def test_mean_loss_matches_the_closed_form():
    """SGD (momentum 0) and heavy-ball momentum at batch size 4."""
    _check_against_theory([4], {"learning_rate": [0.3], "momentum": [0.0, 0.9]})


@pytest.mark.slow
def test_mean_loss_matches_the_closed_form_at_three_batch_sizes():
    _check_against_theory([1, 8, 64], {"learning_rate": [0.05, 0.3], "momentum": [0.0, 0.9]})


def test_full_batch_is_the_exact_gradient():
    """Without a batch size the gradient is exact: GD's loss is the noiseless recursion (noise 0)."""
    result = cells.run_sweep(cells.SweepSpec("noisy_quadratic", "gd", grid={"learning_rate": [0.3]}, seeds=[0, 1],
                                             steps=50,
                             problem_args=NQM), repeats=1)
    h = curvatures(NQM["dim"], NQM["condition_number"])
    exact = expected_loss(h, 0.0, 1, 0.3, 50)
    for _, curve in result.curves.groupby("run_id"):
        np.testing.assert_allclose(curve.loss.to_numpy(), exact[curve.step.to_numpy()], rtol=1e-5)


def test_minibatch_runs_are_reproducible_and_seeded():
    """Seeds differ; running again repeats every number (another compilation of the
    same lanes repeats them too: test_draws_do_not_depend_on_lane_layout_or_devices)."""
    cell = cells.prepare(cells.SweepSpec("noisy_quadratic", "momentum",
                                         grid={"learning_rate": [0.1], "momentum": [0.9]},
                         seeds=[0, 1, 2], steps=40, problem_args=NQM, batch_size=8))
    cells.run_cell(cell, repeats=1)
    first = cell.groups[0].outputs
    cell.execute()
    again = cell.groups[0].outputs
    for name in first:
        np.testing.assert_array_equal(first[name], again[name], err_msg=name)
    losses = first["losses"][1:]  # step 0 is x_0 = 1 for every seed
    assert not np.array_equal(losses[:, 0], losses[:, 1]) and not np.array_equal(losses[:, 1], losses[:, 2])


def _per_seed(result):
    runs = result.runs.set_index("run_id")
    return {(runs.seed[i], runs.learning_rate[i], runs.momentum[i]): c.loss.to_numpy()
            for i, c in result.curves.groupby("run_id")}


@pytest.mark.slow
def test_draws_do_not_depend_on_lane_layout_or_devices(monkeypatch):
    """A lane's minibatches depend on its seed and the step only.

    Seeds 0-4 on one device against seeds 4-0 split over two: each seed's
    curve is the same draw for draw. (Equal to rounding, not bit for bit: a
    program with fewer lanes per device may vectorise the same arithmetic
    differently; another draw would differ by O(1), the noise here.)
    """
    if len(jax.devices()) < 2:
        pytest.skip("needs 2 devices")
    grid = {"learning_rate": [0.05, 0.3], "momentum": [0.0, 0.9]}
    one = _per_seed(_sweep(4, [0, 1, 2, 3, 4], grid, steps=40, device_count=1, monkeypatch=monkeypatch))
    two = _per_seed(_sweep(4, [4, 3, 2, 1, 0], grid, steps=40, device_count=2, monkeypatch=monkeypatch))
    assert one.keys() == two.keys() and len(one) == 20
    for key in one:
        np.testing.assert_allclose(one[key], two[key], rtol=1e-5, err_msg=str(key))


def test_noise_needs_a_minibatch_and_scales_with_it():
    """The sample's covariance is noise * h / B (1000 draws: 4 standard errors of a variance)."""
    p = problems.get("noisy_quadratic", **NQM)
    keys = jax.random.split(jax.random.PRNGKey(0), 1000)
    for b in (1, 16):
        eps = np.asarray(jax.vmap(lambda k: p.sample_batch(k, b))(keys), np.float64)
        var = eps.var(axis=0) / (p.data["h"] * NQM["noise"] / b)
        assert np.all(np.abs(var - 1.0) <= 4 * np.sqrt(2 / 1000)), var
