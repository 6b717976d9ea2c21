"""`gdbench run --dry-run`'s run-time estimate: printed, positive, growing with the steps; earlier runs used."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from test_analysis_cases import FIXTURE_RUN

from bench import cli
from bench.runs import estimate, runner
from bench.runs import suite as suites

MACHINE = {"backend": "cpu", "device_kind": "cpu", "host_cpu_id": "TestVendor family 1 model 2"}


def _seconds(text: str) -> tuple[float, float]:
    m = re.search(r"estimated run time: ~([\d.]+)-([\d.]+) (s|min|h) \(an estimate: ", text)
    assert m, text
    size = {"s": 1, "min": 60, "h": 3600}[m.group(3)]
    return float(m.group(1)) * size, float(m.group(2)) * size


def test_the_dry_run_prints_an_estimate_that_grows_with_the_steps(tmp_path, capsys):
    got = []
    for steps in ("200", "20000"):
        argv = ["run", "--dry-run", "--problems", "rosenbrock:dim=2,quadratic", "--optimizers", "adam,gd",
                "--steps", steps, "--out", str(tmp_path / "runs")]
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        assert "cost model" in out and len([ln for ln in out.splitlines() if "estimated run time" in ln]) == 1
        got.append(_seconds(out))
    (lo_short, hi_short), (lo_long, hi_long) = got
    assert 0 < lo_short < hi_short and lo_short < lo_long and hi_short < hi_long
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing


def _fixture_suite():
    return suites.load(Path(FIXTURE_RUN).parent / "fixture.toml")


def _earlier(root: Path, machine: dict) -> Path:
    folder = root / "20260101T000000Z-fixture"
    shutil.copytree(FIXTURE_RUN, folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["device"].update(machine)
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_earlier_runs_of_the_same_cells_on_this_machine_give_the_estimate(tmp_path):
    suite = _fixture_suite()
    todo = runner.plan(suite)
    _earlier(tmp_path, MACHINE)
    e = estimate.estimate(suite, todo, tmp_path, MACHINE)
    assert (e.from_history, e.from_model, e.runs) == (len(todo), 0, ("20260101T000000Z-fixture",))
    assert "earlier run(s)" in e.text() and "20260101T000000Z-fixture" in e.text()
    # the fixture's cells compiled in 8-17 s each (a loaded machine): the estimate carries that figure
    assert e.seconds > 6 * 7 and e.low < e.seconds < e.high
    longer = estimate.estimate(suites.override(suite, steps=suite.steps * 1000), todo, tmp_path, MACHINE)
    assert longer.seconds > e.seconds
    other = {**MACHINE, "host_cpu_id": "AnotherVendor family 9 model 9"}  # another machine's times do not count
    assert estimate.estimate(suite, todo, tmp_path, other).from_history == 0


def test_a_program_runs_at_least_its_first_run_warm_up_and_repeats():
    assert estimate.program_seconds(2.0, 5) == 2.0  # a long program: its first run is its timed run
    assert estimate.program_seconds(0.1, 5) == pytest.approx(0.1 * (1 + 5))
    assert estimate.program_seconds(0.001, 5) >= 0.025 + 0.025  # warm-up and timing of a short one
    assert estimate.span(30, 100) == "30-100 s" and estimate.span(90, 300) == "1.5-5 min"


def test_latest_is_the_last_finished_folder_or_one_line_naming_the_folder(tmp_path):
    from bench.runs.results import ResultsError, latest

    with pytest.raises(ResultsError, match=f"^{re.escape(str(tmp_path / 'none'))}: no finished results folder"):
        latest(tmp_path / "none")
    for name in ("20260101T000000Z-quick", "20260102T000000Z-quick", "20260103T000000Z-ci",
                 "20260104T000000Z-quick.partial"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "meta.json").write_text("{}")
    assert latest(tmp_path) == tmp_path / "20260103T000000Z-ci"
    assert latest(tmp_path, suite="quick") == tmp_path / "20260102T000000Z-quick"  # the partial one is unfinished
    with pytest.raises(ResultsError, match="no finished results folder of suite 'bbob'"):
        latest(tmp_path, suite="bbob")
