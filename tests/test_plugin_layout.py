"""A plain factory marked elementwise runs lanes-last, as the registered elementwise optimizers do;
a wrong mark is refused; the layout is in the runs table and the summary says when it differs."""

from __future__ import annotations

import textwrap
import types

import numpy as np
import optax
import pandas as pd
import pytest
from agreement import assert_first_hits_agree

import bench
import optimizers
from bench import cli
from bench.runs import summary
from optimizers import custom

KW = dict(problem_args={"dim": 2}, grid={"learning_rate": [3e-3, 3e-2]}, seeds=1, steps=120, dtype="float64",
          record_every=1, repeats=1)


def plain_adam(learning_rate=1e-3, b1=0.9, b2=0.999):
    return optax.adam(learning_rate, b1, b2)


@optimizers.elementwise
def marked_adam(learning_rate=1e-3, b1=0.9, b2=0.999):
    return optax.adam(learning_rate, b1, b2)


def attribute_adam(learning_rate=1e-3, b1=0.9, b2=0.999):
    return optax.adam(learning_rate, b1, b2)


attribute_adam.elementwise = True


def test_the_mark_a_decorator_or_an_attribute_that_is_true():
    def sgd(learning_rate=1e-3):
        return optax.sgd(learning_rate)

    assert not custom.spec_of(sgd).elementwise
    assert optimizers.elementwise(sgd) is sgd and sgd.elementwise is True and custom.spec_of(sgd).elementwise
    assert custom.spec_of(marked_adam).elementwise and custom.spec_of(attribute_adam).elementwise

    def truthy(learning_rate=1e-3):
        return optax.sgd(learning_rate)

    truthy.elementwise = "yes"  # only True marks it
    assert not custom.spec_of(truthy).elementwise
    with pytest.raises(ValueError, match="OptimizerSpec says it in its own `elementwise` field"):
        optimizers.elementwise(optimizers.get("adam"))


def test_a_marked_factory_runs_lanes_last_along_the_same_trajectories():
    by_lane = bench.run_sweep(bench.SweepSpec("rosenbrock", plain_adam, impl="gdbench", **KW))
    runs = {f.__name__: bench.sweep("rosenbrock", f, impl="gdbench", **KW) for f in (marked_adam, attribute_adam)}
    assert set(by_lane.runs.layout) == {"vmap"}
    for r in runs.values():
        assert set(r.layout) == {"lanes_last"}
        # Two compiled programs of the same float64 arithmetic per coordinate, laid out differently: their
        # losses differ in the last bits (XLA may vectorise or fuse a multiply-add differently); 120 Adam
        # steps down Rosenbrock's valley keep that far under 1e-10 relative.
        np.testing.assert_allclose(r.final_loss, by_lane.runs.final_loss, rtol=1e-10)
        ladder = [bench.core.cells.target_column(t) for t in bench.TARGETS]
        for (_, row), (_, ref) in zip(r.iterrows(), by_lane.runs.iterrows()):
            values = by_lane.curves[by_lane.curves.run_id == ref.run_id].loss.to_numpy()
            assert_first_hits_agree(row[ladder].to_numpy(float), values, bench.TARGETS, ref.f_ref, rtol=1e-10)
    assert set(bench.sweep("rosenbrock", "adam", impl="gdbench", **KW).layout) == {"lanes_last"}


@optimizers.elementwise
def clipped_adam(learning_rate=1e-3):  # the global norm: every lane's gradient at once, lanes-last
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(learning_rate))


@optimizers.elementwise
def plain_lamb(learning_rate=1e-3):  # the trust ratio: a norm of each leaf
    return optax.lamb(learning_rate)


@pytest.mark.parametrize("factory", [clipped_adam, plain_lamb], ids=lambda f: f.__name__)
def test_a_wrong_mark_is_one_line_naming_the_optimizer(factory):
    with pytest.raises(bench.ConfigError, match=rf"optimizer: {factory.__name__} is marked elementwise, but its "
                                                 r"updates .* differ from those lane by lane .* remove the mark"):
        bench.sweep("rosenbrock", factory, problem_args={"dim": 2}, steps=5, seeds=1, repeats=1)


def test_a_wrong_mark_stops_a_suite_before_it_writes_anything(tmp_path, capsys):
    (tmp_path / "opts.py").write_text(textwrap.dedent("""
        import optax
        import optimizers

        @optimizers.elementwise
        def clipped(learning_rate=1e-3):
            return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(learning_rate))
    """))
    out = tmp_path / "runs"
    code = cli.main(["run", "--suite", "quick", "--problems", "rosenbrock:dim=2", "--optimizers",
                     f"{tmp_path / 'opts.py'}:clipped", "--steps", "5", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "is marked elementwise" in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_the_summary_says_when_the_compared_optimizers_ran_in_different_layouts():
    base = dict(instance="P", impl="gdbench", config_id=0, seed=0, steps_to_target=100.0, steps=200,
                program_step_s=1e-3, lanes=1, final_subopt=1e-7, best_loss=1e-7, initial_loss=1.0, f_ref=0.0,
                diverged=False, time_ratio_vs_optax=np.nan, learning_rate=1e-2, target=1e-6,
                hyperparams='{"learning_rate": 0.01}', lane_step_s=1e-3, lane_time_to_target_s=0.1, run_id=0,
                problem="p", dim=2)
    runs = pd.DataFrame([{**base, "optimizer": "opts.py:plain_adam", "layout": "vmap"},
                         {**base, "optimizer": "adam", "layout": "lanes_last"}])
    suite = types.SimpleNamespace(name="s", steps=200, dtype="float32", target=1e-6, seeds=(0,))
    note = "opts.py:plain_adam ran lane by lane (vmap), adam lanes-last: their times include the layout"
    assert note in " ".join(summary.text(runs, suite, "complete").split())
    registered = runs.assign(optimizer=["polyak", "adam"])  # polyak reduces over x: vmap is its own layout
    for same in (runs.assign(layout="lanes_last"), runs.drop(columns="layout"), registered):
        assert "lane by lane" not in summary.text(same, suite, "complete")  # one layout, an older folder
