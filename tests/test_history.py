"""`gdbench history` over copies of the committed results folder at made-up commits, in a browser too."""

from __future__ import annotations

import json
import re

import browser
import numpy as np
import pandas as pd
import pytest
from test_analysis_cases import copy_run
from test_report import FIGURE_STATE, _center, _figure

from bench import cli
from bench.tracking import history

COMMITS = ["a" * 40, "b" * 40, "c" * 40, "d" * 40]


def make_runs(root, slow_from: int = 2, n: int = 4, suite: str = "fixture"):
    """`n` copies of the fixture run at commits a, b, c, d..., a day apart; from run `slow_from`
    on, gdbench's adam runs 1.5x slower per step (optax's does not)."""
    root.mkdir(parents=True, exist_ok=True)
    folders = []
    for i in range(n):
        folder = copy_run(root / f"2026120{i + 1}T000000Z-{suite}")
        meta = json.loads((folder / "meta.json").read_text())
        meta["git"] = {"commit": COMMITS[i], "dirty": False}
        meta["started_utc"] = f"2026-12-0{i + 1}T00:00:00+00:00"
        meta["suite"]["name"] = suite
        meta["device"]["host_cpu"] = "Test CPU 9000"
        (folder / "meta.json").write_text(json.dumps(meta))
        runs = pd.read_parquet(folder / "runs.parquet")
        noise = 1.0 + 0.002 * np.sin(np.arange(len(runs)) + i)  # small, deterministic
        runs["program_step_s"] = runs["program_step_s"] * noise
        if i >= slow_from:
            slow = (runs["optimizer"] == "adam") & (runs["impl"] == "gdbench")
            runs.loc[slow, "program_step_s"] *= 1.5
        runs.to_parquet(folder / "runs.parquet", index=False)
        folders.append(folder)
    return folders


def test_history_finds_the_slowdown_and_links_each_run(tmp_path, capsys):
    make_runs(tmp_path / "runs")
    (tmp_path / "runs" / "20261209T000000Z-fixture.partial").mkdir()  # a run being written: passed over
    assert cli.main(["history", str(tmp_path / "runs")]) == 0
    out, err = capsys.readouterr()
    assert "history.html (4 runs)" in out and "still being written" in err
    t = pd.read_csv(tmp_path / "runs" / "history.csv")
    assert set(t["metric"]) == {"steps", "program_step_s"} and t["point"].nunique() == 4
    cps = t[t["change_point"]].drop_duplicates(["instance", "optimizer", "impl", "metric", "point"])
    # Exactly the made-up step: adam's (ours) time per step, at the third commit, on both problems.
    assert sorted(cps["instance"].str.split("(").str[0]) == ["quadratic", "rosenbrock"]
    assert set(cps["optimizer"]) == {"adam"} and set(cps["impl"]) == {"gdbench"}
    assert set(cps["metric"]) == {"program_step_s"} and set(cps["commit"]) == {COMMITS[2][:10]}
    page = (tmp_path / "runs" / "history.html").read_text()
    assert "default-src 'none'" in page and not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    for i in range(4):  # each run linked (its folder: the copies have no report.html)
        assert f'href="2026120{i + 1}T000000Z-fixture"' in page


def test_runs_of_several_suites_get_a_section_each(tmp_path):
    make_runs(tmp_path / "runs", n=3)
    make_runs(tmp_path / "runs", n=3, suite="other")
    written = history.write(tmp_path / "runs", tmp_path / "page")
    t = pd.read_csv(written["csv"])
    assert sorted(t["suite"].unique()) == ["fixture", "other"]
    assert t.groupby("suite")["run"].nunique().tolist() == [3, 3]
    page = written["html"].read_text()
    assert page.count("<h2>suite ") == 2 and 'href="../runs/20261201T000000Z-fixture"' in page


@pytest.mark.parametrize("setup, message", [
    (lambda d: d.mkdir(), "holds no complete results folder"),
    (lambda d: None, "is not a folder"),
    (lambda d: copy_run(d), "is one results folder"),
])
def test_bad_runs_dir_is_one_line_and_exit_2(tmp_path, capsys, setup, message):
    folder = tmp_path / "runs"
    setup(folder)
    assert cli.main(["history", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gdbench: error: RUNS_DIR: ") and message in err, err
    assert not (tmp_path / "runs" / "history.html").exists()


def test_interrupted_and_corrupt_runs_are_passed_over_with_a_note(tmp_path):
    a, b, c = make_runs(tmp_path / "runs", n=3)
    meta = json.loads((b / "meta.json").read_text())
    (b / "meta.json").write_text(json.dumps({**meta, "status": "interrupted"}))
    (c / "runs.parquet").write_bytes(b"not parquet")
    written = history.write(tmp_path / "runs")
    assert written["runs"] == 1 and len(written["notes"]) == 2
    assert "interrupted" in written["notes"][0] and "runs.parquet: unreadable" in written["notes"][1]


def test_runs_kept_by_branch_below_runs_dir_are_found(tmp_path, capsys):
    make_runs(tmp_path / "runs" / "main", n=2)
    make_runs(tmp_path / "runs" / "feature" / "x", n=1)
    (tmp_path / "runs" / "empty").mkdir()
    assert cli.main(["history", str(tmp_path / "runs")]) == 0
    assert "(3 runs)" in capsys.readouterr().out
    t = pd.read_csv(tmp_path / "runs" / "history.csv")
    assert set(t["run"]) == {"main/20261201T000000Z-fixture", "main/20261202T000000Z-fixture",
                             "feature/x/20261201T000000Z-fixture"}
    # nothing at any depth: the message says where it looked
    (tmp_path / "none" / "a" / "b").mkdir(parents=True)
    assert cli.main(["history", str(tmp_path / "none")]) == 2
    assert "looked in " + str(tmp_path / "none") + " and the 2 folder(s) below it" in capsys.readouterr().err


def test_runs_compare_refuses_are_kept_in_separate_series(tmp_path, capsys):
    """One suite name, 500 and 1000 steps: `compare` refuses the pair, `history` keeps two series."""
    short = make_runs(tmp_path / "runs", n=2, suite="quick-custom")
    long = make_runs(tmp_path / "runs" / "long", n=2, suite="quick-custom")
    for folder, steps in [*((f, 500) for f in short), *((f, 1000) for f in long)]:
        meta = json.loads((folder / "meta.json").read_text())
        meta["suite"]["steps"] = steps
        (folder / "meta.json").write_text(json.dumps(meta))
    assert cli.main(["compare", str(short[0]), str(long[0])]) == 2
    assert "suite.steps is 500" in capsys.readouterr().err
    t = pd.read_csv(history.write(tmp_path / "runs")["csv"])
    assert sorted(t["suite"].unique()) == ["quick-custom (steps 1000)", "quick-custom (steps 500)"]
    assert t.groupby("suite")["run"].nunique().tolist() == [2, 2]
    # comparable runs of one name keep the plain name
    assert set(pd.read_csv(history.write(tmp_path / "runs" / "long", tmp_path / "page")["csv"])["suite"]) == {
        "quick-custom"}


@pytest.mark.skipif(browser.SKIP is not None, reason=str(browser.SKIP))
def test_history_page_in_headless_chromium(tmp_path):
    folders = make_runs(tmp_path / "runs", n=3)
    written = history.write(tmp_path / "runs")
    with browser.open_page(written["html"], tmp_path) as page:
        page.evaluate("gdbench.drawAll()")
        figures = page.evaluate(FIGURE_STATE)
        assert len(figures) == 2 and all(f["ready"] and f["svg"] and f["width"] > 600 for f in figures), figures
        plot = _figure(page, "rosenbrock")
        # Every point of ours links to its run folder, and each folder is linked.
        links = page.evaluate(f"{plot}.data.flatMap(t => (t.meta && t.meta.links) || [])")
        assert set(links) == {f.name for f in folders}, links
        # A legend click hides an optimizer in both panels; a click on a point opens its run.
        page.click_at(*_center(page, f"{plot}.querySelector('.legend .traces .legendtoggle')"))
        first = page.evaluate(f"{plot}.data[0].legendgroup")
        page.wait_for(f"{plot}.data.filter(t => t.legendgroup === {first!r}).every(t => t.visible === 'legendonly')")
        x, y = page.evaluate(f"""(() => {{ const gd = {plot}, t = gd.data.find(t => t.meta && t.meta.links &&
            t.visible !== 'legendonly'), r = gd.getBoundingClientRect();
            const xa = gd._fullLayout[(t.xaxis || 'x').replace('x', 'xaxis')];
            const ya = gd._fullLayout[(t.yaxis || 'y').replace('y', 'yaxis')];
            return [r.x + xa._offset + xa.c2p(t.x[0]), r.y + ya._offset + ya.c2p(t.y[0])]; }})()""")
        page.mouse("mouseMoved", x, y)
        page.wait_for(f"!!{plot}.querySelector('.hoverlayer .hovertext')")
        page.click_at(x, y)
        page.wait_for(f"location.href.replace(/\\/$/, '').endsWith({folders[0].name!r})")
        page.screenshot(tmp_path / "history.png")
        assert page.errors == []


def test_moving_between_hit_and_miss_is_a_change_point():
    values = np.array([100.0, 100.0, np.inf, np.inf, np.nan, 100.0])  # NaN: not measured at that commit
    levels, flags = history._change_points(values, sigma=0.0)
    assert list(np.flatnonzero(flags)) == [2, 5]
    assert levels[0] == 100.0 and levels[2] == np.inf and np.isnan(levels[4])
