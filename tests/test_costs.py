"""The compiled cost of one step (bench/tracking/costs.py), the costs table of a results folder, and the ci suite."""

from __future__ import annotations

import pandas as pd
from test_analysis_cases import FIXTURE_RUN

import optimizers
import problems
from bench.runs import results, runner
from bench.runs import suite as suites
from bench.tracking import costs


def test_a_step_costs_what_its_arithmetic_says():
    p = problems.get("quadratic", dim=8, condition_number=10.0)
    gd, adam = (costs.step_costs(p, o, "gdbench", "float64") for o in ("gd", "adam"))
    assert set(gd) == set(costs.METRICS)
    assert gd["fusions"] >= 1 and gd["transcendentals"] == 0  # x -= lr * g: no sqrt
    assert adam["transcendentals"] >= p.dim  # a square root per coordinate
    assert adam["flops"] > gd["flops"] and adam["bytes_accessed"] > gd["bytes_accessed"]  # moments: more work
    assert costs.step_costs(p, "gd", "gdbench", "float64") == gd  # deterministic


def test_count_fusions_counts_fused_computations_only():
    hlo = """HloModule m
%fused_computation (p: f32[2]) -> f32[2] {
}
%fused_computation.1 (p: f32[2]) -> f32[2] {
}
%region_0.2 (a: f32[], b: f32[]) -> f32[] {
}
ENTRY %main (x: f32[2]) -> f32[2] {
  %fusion = f32[2] fusion(x), kind=kLoop, calls=%fused_computation
  %fusion.1 = f32[2] fusion(x), kind=kLoop, calls=%fused_computation.1
}
"""
    assert costs.count_fusions(hlo) == 2


def test_folders_without_costs_still_read():
    tables, _ = results.read_run(FIXTURE_RUN)  # written before costs.parquet existed
    assert tables["costs"].empty and len(tables["runs"])


def test_the_ci_suite_covers_every_optimizer_and_problem_family():
    s = suites.builtin("ci")
    plans = runner.plan(s)
    assert {c.optimizer for c in plans} == set(optimizers.names())
    assert {c.problem.name for c in plans} == set(problems.names())
    # seconds, not minutes: compiling is most of it (61 cells: about a minute cold on 2 cores)
    assert s.dtype == "float64" and len(plans) <= 70


def test_a_problem_may_name_its_optimizers():
    data = {"name": "t", "optimizers": ["gd", "adam", "lion"], "problems": [
        {"name": "booth"}, {"name": "beale", "optimizers": ["lion", "gd"]}]}
    s = suites.parse(data, "t.toml")
    assert [(c.problem.name, c.optimizer) for c in runner.plan(s)] == [
        ("booth", "gd"), ("booth", "adam"), ("booth", "lion"), ("beale", "gd"), ("beale", "lion")]
    again = suites.override(s, steps=10)  # round trip through to_dict keeps the lists
    assert again.problems[1].optimizers == ("lion", "gd") and again.problems[0].optimizers is None


def test_a_bad_optimizer_list_names_the_field():
    import pytest

    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"problems\[0\]\.optimizers: unknown optimizer 'adamm'"):
        suites.parse({"name": "t", "problems": [{"name": "booth", "optimizers": ["adamm"]}]}, "t.toml")


def test_costs_table_columns():
    p = problems.get("booth")
    t = costs.table(p, "gd", ("gdbench",), "float32", "booth()")
    assert list(t.columns) == list(costs.COLUMNS) and len(t) == 1 and isinstance(t, pd.DataFrame)
