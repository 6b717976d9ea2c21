"""Seeds that change nothing: a deterministic cell whose problem starts at one point for every seed runs
one seed, and its tables say so; any seeded start or minibatch keeps every seed."""

from __future__ import annotations

import types

import jax
import numpy as np

import bench
import problems
from bench.runs import summary

KW = dict(grid={"learning_rate": [1e-2, 1e-1]}, steps=60, repeats=1)


def test_a_start_that_ignores_the_seed_runs_one_seed_and_says_so():
    p = problems.get("rosenbrock", dim=2)  # perturb 0: every seed starts at (-1.2, 1)
    keys = [jax.random.PRNGKey(s) for s in (0, 1, 2)]
    assert all(np.array_equal(p.init(keys[0]), p.init(k)) for k in keys[1:])
    runs = bench.sweep(p, "adam", seeds=3, **KW)
    assert list(runs.seed) == [0, 0] and runs.fixed_start.all() and set(runs.lanes) == {2}
    alone = bench.sweep(p, "adam", seeds=[0], **KW)  # what seed 0 alone runs (the flag: one seed asked)
    assert not alone.fixed_start.any()
    # the same program (two lanes, seed 0's start) compiled twice: float32 rounding at most
    np.testing.assert_allclose(runs.final_loss, alone.final_loss, rtol=1e-6)
    single = bench.sweep("powell_singular", "gd", seeds=[3, 4], grid={"learning_rate": [1e-3]}, steps=10, repeats=1)
    assert list(single.seed) == [3] and single.fixed_start.all()  # the first seed asked


def test_a_seeded_start_or_minibatches_keep_every_seed():
    seeded = bench.sweep("rosenbrock", "adam", problem_args={"perturb": 0.1}, seeds=2, **KW)
    assert sorted(seeded.seed) == [0, 0, 1, 1] and not seeded.fixed_start.any()
    noisy = problems.with_grad_noise(problems.get("rosenbrock", dim=2), 0.1)  # its start ignores the seed too
    drawn = bench.sweep(noisy, "adam", seeds=2, batch_size=1, **KW)  # but each seed draws its own noise
    assert sorted(drawn.seed) == [0, 0, 1, 1] and not drawn.fixed_start.any()
    assert not drawn[drawn.seed == 0].final_loss.reset_index(drop=True).equals(
        drawn[drawn.seed == 1].final_loss.reset_index(drop=True))


def test_the_summary_says_one_seed_ran():
    runs = bench.sweep("rosenbrock", "adam", seeds=3, **KW)
    suite = types.SimpleNamespace(name="s", steps=60, dtype="float32", target=1e-6, seeds=(0, 1, 2))
    out = " ".join(summary.text(runs, suite, "complete").split())  # the title may wrap
    assert "1 seed: the start does not depend on the seed" in out and "median over" not in out


def test_the_plan_and_the_estimate_count_the_seeds_that_run(capsys):
    from bench import cli
    from bench.runs import estimate, runner
    from bench.runs import suite as suites

    assert cli.main(["run", "--problems", "rosenbrock:dim=2,rosenbrock:dim=2:perturb=0.1", "--optimizers", "adam",
                     "--seeds", "3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "perturb=0.0) / adam (both): 8 trajectories" in out  # 8 learning rates x the one seed that runs
    assert "perturb=0.1) / adam (both): 24 trajectories" in out
    suite = suites.override(suites.builtin("quick"), problems=[("rosenbrock", {"dim": 2})], optimizers=["adam"])
    (c,) = runner.plan(suite)
    assert estimate._cell_lanes(suite, c) == 8
