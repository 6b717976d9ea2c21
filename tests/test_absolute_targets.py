"""Absolute targets (`target_kind = "absolute"`, COCO's Delta f = f - f*): the engine's first hits
against a plain loop, the runs table's columns, bad input; the relative default as it was."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

import bench
import problems
from bench.core import cells, sweepspec
from bench.runs import suite as suites
from tests.agreement import assert_first_hit_agrees, assert_first_hits_agree

LRS = [0.01, 0.1, 0.3]
SEEDS = [0, 1]
STEPS = 300


def sphere_loop(p: problems.Problem, lr: float, seed: int, steps: int) -> np.ndarray:
    """Gradient descent on BBOB f1, f = |x - x_opt|^2 + f_opt, in NumPy float64: the loss at steps 0..T."""
    with jax.enable_x64(True):
        x = np.asarray(p.init(jax.random.PRNGKey(seed), np.float64), np.float64)
    x_opt, f_opt = np.asarray(p.data["xopt"]), float(p.data["fopt"])
    values = []
    for _ in range(steps + 1):
        values.append(np.sum((x - x_opt) ** 2) + f_opt)
        x = x - lr * 2.0 * (x - x_opt)
    return np.asarray(values)


@pytest.mark.parametrize("one_pass", [False, True])
def test_first_hits_of_cocos_ladder_equal_a_plain_loops(monkeypatch, one_pass):
    """BBOB f1 (f_opt 79.48 here, so an absolute target is not a relative one), COCO's 51 levels."""
    if one_pass:  # the block bookkeeping's one-pass path too (used from 1e6 lane-steps)
        monkeypatch.setattr(cells, "ONE_PASS_MIN_LANE_STEPS", 0)
    p = problems.get("bbob", function=1, instance=1, dim=2)
    assert p.f_star != 0
    runs = bench.sweep(p, "gd", grid={"learning_rate": LRS}, seeds=SEEDS, steps=STEPS, dtype="float64",
                       repeats=1, target_kind="absolute", targets="coco")
    columns = [cells.target_column(t, "absolute") for t in sweepspec.COCO_TARGETS]
    assert all(c in runs.columns for c in columns) and not any(c in runs.columns for c in
                                                               [cells.target_column(t) for t in sweepspec.TARGETS])
    reached = 0
    for row in runs.itertuples():
        values = sphere_loop(p, row.learning_rate, row.seed, STEPS)
        hits = runs.loc[row.Index, columns].to_numpy(float)
        for hit, t in zip(hits, sweepspec.COCO_TARGETS):
            threshold = p.f_star + t
            # Both compute |x - x_opt|^2 + f_opt in float64, the rounding apart (operation order, fused
            # multiply-adds): a few ulps of the loss (~80 here, 1 ulp 1.4e-14), and GD on the sphere
            # shrinks earlier errors. 1e-12 of the loss bounds that, far under the ladder's 1e-8.
            assert_first_hit_agrees(hit, values, threshold, 1e-12 * abs(threshold), what=f"first hit of {t:g}")
        reached += np.isfinite(hits).sum()
        assert row.final_df == pytest.approx(values[-1] - p.f_star, abs=1e-12 * abs(p.f_star))
        assert row.target_kind == "absolute" and row.f_ref == p.f_star and row.f_ref_source == "f_star"
        assert row.steps_to_target == runs.loc[row.Index, cells.target_column(1e-6, "absolute")]
    assert 0 < reached < len(runs) * len(columns)  # some hits and some misses: the check has teeth


def test_the_relative_default_is_unchanged():
    """No target_kind: relative targets, their columns as before, hits by f_ref + t (f0 - f_ref)."""
    p = problems.get("bbob", function=1, instance=1, dim=2)
    kw = dict(grid={"learning_rate": [0.01]}, seeds=[0], steps=STEPS, dtype="float64", repeats=1)
    default = bench.sweep(p, "gd", **kw)
    explicit = bench.sweep(p, "gd", target_kind="relative", **kw)
    columns = [f"steps_to_1e-{k}" for k in range(1, 9)]
    assert [cells.target_column(t) for t in sweepspec.TARGETS] == columns
    assert [c for c in default.columns if c.startswith("steps_to_")] == ["steps_to_target", *columns]
    np.testing.assert_array_equal(default[columns].to_numpy(float), explicit[columns].to_numpy(float))
    values = sphere_loop(p, 0.01, 0, STEPS)
    hits = default[columns].to_numpy(float)[0]
    assert_first_hits_agree(hits, values, sweepspec.TARGETS, p.f_star, rtol=1e-12)
    absolute = bench.sweep(p, "gd", target_kind="absolute", **kw)
    assert not np.array_equal(hits, absolute[[cells.target_column(t, "absolute") for t in sweepspec.TARGETS]]
                              .to_numpy(float)[0])  # the two rules differ here (f0 - f* = 49.6, not 1)
    assert default.target_kind[0] == "relative"
    assert default.final_df[0] == pytest.approx(values[-1] - p.f_star, abs=1e-12 * abs(p.f_star))


def test_absolute_columns_are_unambiguous():
    names = [cells.target_column(t, "absolute") for t in sweepspec.COCO_TARGETS]
    assert len(set(names)) == 51
    assert names[:6] == ["steps_to_df_1e+2", "steps_to_df_6.31e+1", "steps_to_df_3.98e+1", "steps_to_df_2.51e+1",
                         "steps_to_df_1.58e+1", "steps_to_df_1e+1"]
    assert names[-1] == "steps_to_df_1e-8" and "steps_to_df_1e+0" in names
    assert cells.target_column(1e-6) == "steps_to_1e-6"  # relative: as before
    assert sweepspec.COCO_TARGETS[40] == 1e-6 and sweepspec.COCO_TARGETS[-1] == 1e-8


def test_a_problem_without_f_star_has_no_final_df():
    runs = bench.sweep("mlp", "adam", grid={"learning_rate": [1e-3]}, steps=5, repeats=1)
    assert np.isnan(runs.final_df[0]) and runs.f_ref_source[0] == "best_reached"


@pytest.mark.parametrize("changes, message", [
    ({"target_kind": "abs"}, "target_kind: must be 'relative' or 'absolute', got 'abs'"),
    ({"problem": "mlp", "problem_args": None, "target_kind": "absolute"},
     "target_kind: 'absolute' needs a known optimum f*, and mlp has none"),
    ({"targets": "coco"}, "targets: must be a list of numbers in (0, 1) with target_kind 'relative', got COCO's "
                          "absolute ladder ('coco'); target_kind 'absolute' takes any positive Delta f"),
    ({"targets": [10.0, 1e-6]}, "targets: must be a list of numbers in (0, 1) with target_kind 'relative'"),
    ({"target_kind": "absolute", "targets": [10.0, -1.0]}, "targets: must be a list of positive numbers or 'coco'"),
    ({"target_kind": "absolute", "targets": "COCO"}, "targets: must be a list of positive numbers or 'coco'"),
    ({"target_kind": "absolute", "targets": [1.001e-6, 1.002e-6]},
     "targets: 1.002e-06 and 1.001e-06 are too close: both would be steps_to_df_1e-6"),
    ({"target_kind": "absolute", "targets": [100.0, 1.0], "target": 1e-6}, "target: must be one of the targets"),
    ({"target_kind": "absolute", "target": float("inf")}, "target: must be one of the targets, a positive number"),
])
def test_bad_input_is_one_line_naming_the_field(changes, message):
    spec = bench.SweepSpec("rosenbrock", "gd", problem_args={"dim": 2}, grid={"learning_rate": [0.1]}, steps=5)
    with pytest.raises(bench.ConfigError) as info:
        dataclasses.replace(spec, **changes).validated()
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_a_suite_refuses_absolute_targets_for_a_problem_without_f_star():
    with pytest.raises(bench.ConfigError, match=r"^t.toml: target_kind: 'absolute' needs a known optimum f\*"):
        suites.parse({"problems": [{"name": "rosenbrock"}, {"name": "mlp"}], "optimizers": ["gd"],
                      "target_kind": "absolute", "targets": "coco"}, "t.toml")
    s = suites.parse({"problems": [{"name": "rosenbrock"}], "optimizers": ["gd"], "target_kind": "absolute",
                      "targets": "coco"}, "t.toml")
    assert s.target_kind == "absolute" and s.targets == sweepspec.COCO_TARGETS and s.target == 1e-6
    recorded = json.loads(json.dumps(s.to_dict()))  # what meta.json records reads back as the same suite
    assert suites.parse({k: v for k, v in recorded.items() if k != "source"}, "t.toml") == s
    with pytest.raises(bench.ConfigError, match="^--problems: 'absolute' needs a known optimum"):
        suites.override(s, problems=["mlp"])
    with pytest.raises(bench.ConfigError, match=r"^--target-kind: must be .* got COCO's absolute ladder \('coco'\)"
                                                r".* \(the suite's targets\)$"):
        suites.override(suites.builtin("bbob"), target_kind="relative")
    with pytest.raises(bench.ConfigError, match="^--target-kind: 'absolute' needs"):
        suites.override(suites.parse({"problems": [{"name": "mlp"}], "optimizers": ["gd"]}, "t.toml"),
                        target_kind="absolute")


def test_a_run_of_absolute_targets_reports_cocos_art_and_ecdf(tmp_path):
    """A tiny suite on COCO's ladder, through the runner and the report: its COCO section holds the
    aRT of the tuned configurations (recomputed here from the runs table) and the ECDF figure."""
    from bench.reporting import report, sections
    from bench.runs import results, runner
    from bench.stats import coco, tuning

    data = {"name": "tinybbob", "steps": 40, "seeds": 2, "dtype": "float64", "repeats": 1, "optimizers": ["gd", "adam"],
            "impls": ["gdbench"],
            "target_kind": "absolute", "targets": "coco", "grid": {"learning_rate": [0.05, 0.3]},
            "problems": [{"name": "bbob", "args": {"function": 1, "instance": i, "dim": d}}
                         for i, d in ((1, 2), (2, 2), (1, 3))]}
    folder = runner.run_suite(suites.parse(data, "tinybbob.toml"), tmp_path, show_progress=False)
    report.write(folder)  # the report stage, after the run stage
    tables, meta = results.read_run(folder)
    runs = tables["runs"]
    assert coco.is_absolute(runs) and runs["final_df"].notna().all()
    assert meta["suite"]["target_kind"] == "absolute" and len(meta["suite"]["targets"]) == 51
    html, md = (folder / "report.html").read_text(), (folder / "report.md").read_text()
    assert 'id="coco"' in html and "## COCO: runtimes to absolute targets" in md
    assert (folder / "figures" / "coco-ecdf.png").exists()
    assert html.count('class="gd-figure"') == len(list((folder / "figures").glob("*.png")))  # each interactive
    keys = ["instance", "optimizer", "impl", "config_id"]
    chosen = runs.merge(tuning.best_configs(runs)[keys], on=keys)
    assert len(chosen) == 3 * 2 * 2  # problems x optimizers x seeds
    sphere2 = chosen[(chosen["dim"] == 2) & (chosen["optimizer"] == "adam")]
    hits = sphere2["steps_to_df_1e+1"].to_numpy(float)  # four trials: two instances x two seeds
    art = (hits[np.isfinite(hits)].sum() + 40 * np.isinf(hits).sum()) / np.isfinite(hits).sum()
    row = next(line for line in md.splitlines() if line.startswith("| bbob(function=1, dim=2) | 2 | adam |"))
    assert row.split(" | ")[3].lstrip("*").startswith(f"{art:,.1f}" if art < 100 else f"{art:,.0f}")
    assert f"({np.isfinite(hits).sum()}/4)" in row.split(" | ")[3]
    relative = dict(data, name="tinyrel", target_kind="relative", targets=[0.1, 1e-6], problems=data["problems"][:1],
                    optimizers=["gd"])
    plain = runner.run_suite(suites.parse(relative, "tinyrel.toml"), tmp_path, show_progress=False)
    report.write(plain)  # the report stage, after the run stage
    assert 'id="coco"' not in (plain / "report.html").read_text()
    assert isinstance(sections.COCO_TABLE_TARGETS, tuple)
