"""The report of the committed results folder, in a real browser too, and bad folders."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil

import browser
import pandas as pd
import pytest
from test_analysis_cases import copy_run, fixture_report  # noqa: F401 (session fixture)

from bench import cli
from bench.reporting import document, interactive, plots, report


def test_report_files(fixture_report):  # noqa: F811
    html = (fixture_report / "report.html").read_text()
    md = (fixture_report / "report.md").read_text()
    pngs = sorted(p.name for p in (fixture_report / "figures").glob("*.png"))
    # profiles, data profiles, and per problem convergence + learning rates; paths for the 2-D one.
    assert len(pngs) == 2 + 2 * 2 + 1
    assert sorted(p.name for p in (fixture_report / "figures").iterdir()) == pngs  # one format by default
    assert any(p.startswith("paths-rosenbrock") for p in pngs)
    # Self-contained: every figure interactive, plotly.js embedded once, nothing fetched.
    assert html.count('class="gd-figure"') == len(pngs) and "data:image/" not in html
    assert html.count('id="gd-plotly"') == 1 and html.count("<script>") == 1
    assert not re.search(r"""(src|href)=["']?(https?:|//|figures/)""", html)
    assert "default-src 'none'" in html and "script-src 'sha256-" in html
    # Summary first: winner per problem, then profiles, parity; problems; metadata.
    order = [html.index(s) for s in ('id="summary-table"', "Performance profiles", 'id="parity"', 'id="problems"',
                                     'id="metadata"')]
    assert order == sorted(order)
    meta = json.loads((fixture_report / "meta.json").read_text())
    for fact in (meta["git"]["commit"], meta["versions"]["jax"], "float32", "condition_number"):
        assert fact in html and fact in md
    assert "not in grid" not in html  # the fixture's grid holds the default learning rate 1e-3
    for png in pngs:
        assert f"](figures/{png})" in md


def test_figures_in_svg_and_png_the_first_embedded_once(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from bench.reporting import plots

    fig = Figure(figsize=(2, 1.5))
    fig.subplots().plot([1, 2, 3], [3, 1, 2])
    files = plots.save(fig, tmp_path, "f", ("svg", "png"))
    assert list(files) == ["svg", "png"] and sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "f.svg"]
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in files["svg"].read_bytes()[:400]
    sections = [document.Section("S", blocks=[document.Figure(files, "alt", "caption")])]
    html = document.render_html(sections, "t")
    assert html.count('src="data:image/svg+xml;base64,') == 1 and html.count("data:image/") == 1
    md = document.render_markdown(sections, "t")
    assert "![alt](figures/f.svg)" in md and "([PNG](figures/f.png))" in md
    with pytest.raises(ValueError, match="formats"):
        plots.save(fig, tmp_path, "g", ("gif",))
    # the command passes its --formats through
    seen = {}
    monkeypatch.setattr(report, "write", lambda folder, out=None, formats=None: seen.update(formats=formats) or
                        {"html": "h", "md": "m"})
    assert cli.main(["report", str(tmp_path), "--formats", "svg,png"]) == 0
    assert seen["formats"] == ("svg", "png")


def test_summary_names_the_winner_and_the_problem_nobody_solved(fixture_report):  # noqa: F811
    md = (fixture_report / "report.md").read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert "none reached the target" in rows["rosenbrock(dim=2, perturb=0.1)"]
    assert "| gd |" in rows["quadratic(dim=5, condition_number=10.0, rotate=True, seed=0, mu=1.0)"]


FIGURE_STATE = """[...document.querySelectorAll('.gd-figure')].map(f => {
  const gd = f.querySelector('.gd-plot');
  return {label: f.getAttribute('aria-label'), ready: f.dataset.ready === '1', svg: !!gd.querySelector('.main-svg'),
          width: gd.getBoundingClientRect().width, traces: gd.querySelectorAll('.scatterlayer .trace').length,
          legend: gd.querySelectorAll('.legend .traces').length};
})"""


def _figure(page, label: str) -> str:
    """A JavaScript expression for the plot of the figure whose label starts with `label`, scrolled into view."""
    js = f"[...document.querySelectorAll('.gd-figure')].find(f => f.getAttribute('aria-label').startsWith({label!r}))"
    page.evaluate(f"{js}.scrollIntoView({{block: 'center'}})")
    return f"{js}.querySelector('.gd-plot')"


def _center(page, expression: str) -> tuple[float, float]:
    r = page.evaluate(f"(() => {{ const r = ({expression}).getBoundingClientRect(); return [r.x, r.y, r.width, "
                      "r.height]; })()")
    return r[0] + r[2] / 2, r[1] + r[3] / 2


@pytest.mark.skipif(browser.SKIP is not None, reason=str(browser.SKIP))
def test_report_in_headless_chromium(fixture_report, tmp_path):  # noqa: F811
    with browser.open_page(fixture_report / "report.html", tmp_path) as page:
        page.evaluate("gdbench.drawAll()")
        figures = page.evaluate(FIGURE_STATE)
        assert len(figures) == 7 and all(f["ready"] and f["svg"] and f["width"] > 600 for f in figures), figures
        conv = _figure(page, "Convergence on rosenbrock")
        names = page.evaluate(f"{conv}.data.filter(t => t.showlegend !== false && t.legendgroup).map(t => [t.name, "
                              "t.visible])")
        assert [v for _, v in names] == [True] * 3, names  # no more than interactive.TOP: all shown
        # A click on a legend entry hides that optimizer: its line and its band leave the plot.
        before = page.evaluate(f"{conv}.querySelectorAll('.scatterlayer .trace').length")
        first = names[0][0]
        page.click_at(*_center(page, f"{conv}.querySelector('.legend .traces .legendtoggle')"))
        page.wait_for(f"{conv}.data.filter(t => t.legendgroup === {first!r}).every(t => t.visible === 'legendonly')")
        assert page.evaluate(f"{conv}.querySelectorAll('.scatterlayer .trace').length") == before - 2
        page.click_at(*_center(page, f"{conv}.querySelector('.legend .traces .legendtoggle')"))
        page.wait_for(f"{conv}.data.every(t => t.visible === true)")
        # Hovering a point of a median names the optimizer, its configuration, the seeds and the value.
        x, y = page.evaluate(f"""(() => {{ const gd = {conv}, t = gd.data[1], i = Math.floor(t.y.length / 3);
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
            return [r.x + xa._offset + xa.c2p(t.x[i]), r.y + ya._offset + ya.c2p(t.y[i])]; }})()""")
        page.mouse("mouseMoved", x, y)
        hover = page.wait_for(f"{conv}.querySelector('.hoverlayer .hovertext') && "
                              f"{conv}.querySelector('.hoverlayer .hovertext').textContent")
        assert any(hover.startswith(n) for n, _ in names) and "learning_rate=" in hover, hover
        assert "median of seeds 0, 1, 2" in hover, hover
        assert "rel. suboptimality" in hover and "step:" in hover, hover
        # The x axis switches to time per trajectory (no evaluations column in this run: no third button).
        assert page.evaluate(f"{conv}.parentElement.querySelectorAll('button[data-x]').length") == 2
        steps = page.evaluate(f"{conv}.data[1].x.slice(-1)[0]")
        page.click_at(*_center(page, f"{conv}.parentElement.querySelector('button[data-x=time]')"))
        page.wait_for(f"{conv}.layout.xaxis.title.text.startsWith('time per trajectory')")
        assert page.evaluate(f"{conv}.data[1].x.slice(-1)[0]") != steps
        assert page.evaluate(f"{conv}.layout.yaxis.type") == "log"
        # The paths over the contours zoom: a drag over the plot narrows the x axis.
        paths = _figure(page, "Optimizer paths")
        span = page.evaluate(f"{paths}._fullLayout.xaxis.range")
        (cx, cy) = _center(page, f"{paths}.querySelector('.nsewdrag')")
        page.drag((cx - 80, cy - 60), (cx + 40, cy + 50))
        zoomed = page.wait_for(f"(() => {{ const r = {paths}._fullLayout.xaxis.range; "
                               f"return r[1] - r[0] < {(span[1] - span[0]) / 2} && r; }})()")
        assert span[0] < zoomed[0] < zoomed[1] < span[1]
        shot = page.screenshot(tmp_path / "report.png")
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000
        table = page.evaluate("document.querySelector('#summary-table').querySelectorAll('tr').length")
        assert table == 1 + 2  # header + two problems
        assert page.errors == []
        # Of many optimizers, the first TOP are shown and the rest are one click away.
        page.goto(_many_optimizers_page(tmp_path / "many.html"))
        page.evaluate("gdbench.drawAll()")
        figures = page.evaluate(FIGURE_STATE)
        assert len(figures) == 3 and all(f["ready"] and f["svg"] and f["traces"] > 0 for f in figures), figures
        plot = _figure(page, "many")
        shown = (f"{plot}.data.filter(t => t.visible === true && t.showlegend !== false && t.legendgroup)"
                 ".map(t => t.name)")
        assert page.evaluate(shown) == [f"opt{i}" for i in range(interactive.TOP)]
        page.click_at(*_center(page, f"{plot}.parentElement.querySelector('button[data-view=all]')"))
        page.wait_for(f"{shown}.length === {interactive.TOP + 2}")
        page.click_at(*_center(page, f"{plot}.parentElement.querySelector('button[data-view=none]')"))
        page.wait_for(f"{shown}.length === 0")
        assert page.errors == []


def _many_optimizers_page(path):
    """A page of one convergence figure of TOP + 2 optimizers."""
    import numpy as np

    names = [f"opt{i}" for i in range(interactive.TOP + 2)]
    steps = np.arange(0, 50.0, 5)
    bands = pd.DataFrame([{"instance": "p", "optimizer": n, "step": s, "seconds": s * 1e-6,
                           "median": 0.9 ** s / (i + 1), "low": 0.8 ** s / (i + 1), "high": 0.95 ** s / (i + 1)}
                          for i, n in enumerate(names) for s in steps])
    styles = plots.style_map(names)
    plot = interactive.convergence(bands, "p", 1e-3, styles, names, {})
    # the stochastic views too: the loss over seeds per batch size, steps against batch size
    loss = pd.concat([bands.assign(instance=f"p(batch={b})") for b in (4, 16)])
    table = pd.DataFrame([{"problem": "p", "optimizer": n, "batch_size": b, "steps": 400.0 / (b or 64) + i,
                           "learning_rate": 0.1} for i, n in enumerate(names) for b in (0, 4, 16)])
    critical = pd.DataFrame({"problem": "p", "optimizer": names, "critical_batch_size": 16.0})
    blocks = [document.Figure({}, label, "caption", p) for label, p in [
        ("many", plot), ("loss", interactive.loss_bands(loss, ["p(batch=4)", "p(batch=16)"], styles, names, {})),
        ("batch", interactive.batch_scaling(table, critical, "p", 1e-3, styles, names))]]
    path.write_text(document.render_html([document.Section("S", blocks=blocks)], "t"))
    return path


@pytest.mark.parametrize("damage, message", [
    (lambda f: shutil.rmtree(f), "no such directory"),
    (lambda f: (f / "meta.json").unlink(), "no meta.json"),
    (lambda f: (f / "meta.json").write_text("{"), "meta.json: unreadable"),
    (lambda f: (f / "curves.parquet").write_bytes(b"not parquet"), "curves.parquet: unreadable"),
    (lambda f: (f / "runs.parquet").unlink(), "missing runs.parquet"),
    (lambda f: (f / "meta.json").write_text(json.dumps({"schema_version": 99})), "schema version 99"),
])
def test_bad_results_folder_is_one_line_and_exit_2(tmp_path, capsys, damage, message):
    folder = copy_run(tmp_path / "run")
    damage(folder)
    assert cli.main(["report", str(folder)]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("gdbench: error: ") and message in err, err
    assert "Traceback" not in err and not (folder / "report.html").exists()


def test_an_empty_run_still_gets_a_report(tmp_path):
    folder = copy_run(tmp_path / "run")
    for name in ("runs", "curves", "paths"):
        pd.DataFrame().to_parquet(folder / f"{name}.parquet")
    written = report.write(folder)
    assert "holds no trajectories" in written["html"].read_text()


def test_a_report_that_fails_to_draw_loses_no_results(tmp_path, monkeypatch, capsys):
    folder = copy_run(tmp_path / "run")

    def broken(path, out=None, formats=None):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(report, "write", broken)
    cli._report_after_run(folder)  # `gdbench run`'s report stage, after the run stage stored the folder
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "report not written (RuntimeError: no fonts); retry with: gdbench report" in err
    assert (folder / "runs.parquet").exists() and not (folder / "report.html").exists()


def test_envelope_keeps_every_extreme_and_the_ends():
    import numpy as np

    from bench.reporting import plots

    rng = np.random.default_rng(0)
    y = np.cumsum(rng.normal(size=5000))
    y[1234] = 1e3  # a spike must survive the thinning
    y[4321] = np.nan
    keep = plots.envelope(y, max_points=600)
    assert len(keep) <= 600 + 1 and keep[0] == 0 and keep[-1] == len(y) - 1
    assert np.all(np.diff(keep) > 0) and 1234 in keep
    assert np.nanmin(y[keep]) == np.nanmin(y) and np.nanmax(y[keep]) == np.nanmax(y)
    short = np.arange(10.0)
    np.testing.assert_array_equal(plots.envelope(short), np.arange(10))


def test_each_block_renders_itself_to_html_and_markdown():
    blocks = [document.Paragraph("a < b"), document.Heading("Sub"), document.Preformatted('{"k": 1}'),
              document.Links((("x-1", "first"),)), document.Table(["h|1", "h2"], [["1", "2"]], id="t", caption="cap")]
    md = document.render_markdown([document.Section("S", level=2, blocks=blocks)], "T")
    assert md == ("# T\n\n## S\n\na < b\n\n### Sub\n\n```json\n{\"k\": 1}\n```\n\n- first\n\n"
                  "| h\\|1 | h2 |\n|---|---|\n| 1 | 2 |\n\n*cap*\n")
    html = document.render_html([document.Section("S", level=2, id="s", blocks=blocks)], "T")
    for part in ("<p>a &lt; b</p>", "<h3>Sub</h3>", "<pre>{&quot;k&quot;: 1}</pre>", '<li><a href="#x-1">first</a></li>',
                 '<table id="t"><caption>cap</caption><thead><tr><th>h|1</th><th>h2</th></tr></thead>'):
        assert part in html
    with pytest.raises(dataclasses.FrozenInstanceError):
        blocks[0].text = "changed"


def test_convergence_offers_evaluations_only_where_the_curves_hold_them():
    import numpy as np

    steps = np.array([0.0, 10.0, 20.0])
    bands = pd.DataFrame({"instance": "p", "optimizer": "adam", "step": steps, "seconds": steps * 2e-6,
                          "median": [1.0, 1e-3, np.inf], "low": [1.0, 1e-4, 1e-5], "high": [1.0, 1e-2, np.inf]})
    styles = plots.style_map(["adam"])
    plain = interactive.convergence(bands, "p", 1e-6, styles, ["adam"], {})
    assert list(plain.xs) == ["steps", "time"] and plain.xs["time"]["title"] == "time per trajectory (us)"
    assert plain.xs["time"]["x"][1] == [0.0, 20.0, 40.0]  # us
    assert plain.data[1]["y"] == [1.0, 0.001, None]  # a diverged median: a gap, not a made-up value
    evals = pd.DataFrame({"instance": "p", "optimizer": "adam", "step": steps, "evals": [0.0, 31.0, 64.0]})
    counted = interactive.convergence(bands, "p", 1e-6, styles, ["adam"], {}, evals)
    assert list(counted.xs) == ["steps", "time", "evals"] and counted.xs["evals"]["x"][1] == [0.0, 31.0, 64.0]
    assert counted.xs["evals"]["x"][-1] == [0, 64.0]  # the target line spans the evaluations too
    chosen = pd.DataFrame({"run_id": [1, 2], "instance": "p", "optimizer": "adam"})
    curves = pd.DataFrame({"run_id": [1, 1, 2, 2], "step": [0, 10, 0, 10], "loss": 1.0, "evals": [0, 30, 0, 32]})
    assert interactive.evals_curves(chosen, curves.drop(columns="evals")) is None
    assert interactive.evals_curves(chosen, curves)["evals"].tolist() == [0.0, 31.0]  # median over seeds


def test_values_keep_four_digits_and_config_text_puts_the_learning_rate_first():
    assert interactive.values([1.23456789e-7, float("inf"), float("nan"), 250.0]) == [1.235e-07, None, None, 250.0]
    text = interactive.config_text('{"b1": 0.9, "learning_rate": 0.0031622776, "nesterov": false}')
    assert text == "learning_rate=0.00316, b1=0.9, nesterov=False"
    assert interactive.seeds_text([2, 0, 1]) == "median of seeds 0, 1, 2" and interactive.seeds_text([3]) == "seed 3"
