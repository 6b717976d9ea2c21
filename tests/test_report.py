"""The report of the committed results folder, in a real browser too, and bad folders."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
from test_analysis_cases import copy_run, fixture_report  # noqa: F401 (session fixture)

from bench import cli
from bench.reporting import report
from bench.runs import runner

IMAGE_CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth}));
  const pre = document.createElement("pre");
  pre.id = "image-check";
  pre.textContent = JSON.stringify(imgs);
  document.body.appendChild(pre);
});
</script>"""


def test_report_files(fixture_report):  # noqa: F811
    html = (fixture_report / "report.html").read_text()
    md = (fixture_report / "report.md").read_text()
    pngs = sorted(p.name for p in (fixture_report / "figures").glob("*.png"))
    # profiles, data profiles, and per problem convergence + learning rates; paths for the 2-D one.
    assert len(pngs) == 2 + 2 * 2 + 1
    assert sorted(p.name for p in (fixture_report / "figures").iterdir()) == pngs  # one format by default
    assert any(p.startswith("paths-rosenbrock") for p in pngs)
    # Self-contained: every image a data URI, once, nothing fetched.
    assert html.count('src="data:image/png;base64,') == len(pngs) and html.count("data:image/") == len(pngs)
    assert not re.search(r"""(src|href)=["']?(https?:|//|figures/)""", html)
    assert "default-src 'none'" in html
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
    sections = [report.Section("S", blocks=[report.Figure(files, "alt", "caption")])]
    html = report.render_html(sections, "t")
    assert html.count('src="data:image/svg+xml;base64,') == 1 and html.count("data:image/") == 1
    md = report.render_markdown(sections, "t")
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


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it: apt-get install "
                                             "chromium); the report is not checked in a browser")
def test_report_in_headless_chromium(fixture_report, tmp_path):  # noqa: F811
    html = (fixture_report / "report.html").read_text()
    # The check runs as an inline script, which the report's policy forbids: allow it in this copy only.
    page = html.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';", 1)
    page = page.replace("</body>", IMAGE_CHECK + "</body>", 1)
    (tmp_path / "page.html").write_text(page)
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=10000", "--dump-dom", (tmp_path / "page.html").as_uri()],
        capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    found = re.search(r'<pre id="image-check">(.*?)</pre>', dom, re.S)
    assert found, "the page's load handler did not run"
    images = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(images) == html.count("<img ") and all(i["ok"] and i["w"] > 100 for i in images), images
    table = re.search(r'<table id="summary-table">.*?</table>', dom, re.S)
    assert table and table.group(0).count("<tr>") == 1 + 2  # header + two problems


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


def test_a_report_that_fails_to_draw_loses_no_results(tmp_path, monkeypatch):
    folder = copy_run(tmp_path / "run")

    def broken(path, out=None, formats=None):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(report, "write", broken)
    from rich.console import Console

    buf = io.StringIO()
    runner._write_report(folder, Console(file=buf, width=200))
    assert "report not written (RuntimeError: no fonts)" in buf.getvalue()
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
    blocks = [report.Paragraph("a < b"), report.Heading("Sub"), report.Preformatted('{"k": 1}'),
              report.Links((("x-1", "first"),)), report.Table(["h|1", "h2"], [["1", "2"]], id="t", caption="cap")]
    md = report.render_markdown([report.Section("S", level=2, blocks=blocks)], "T")
    assert md == ("# T\n\n## S\n\na < b\n\n### Sub\n\n```json\n{\"k\": 1}\n```\n\n- first\n\n"
                  "| h\\|1 | h2 |\n|---|---|\n| 1 | 2 |\n\n*cap*\n")
    html = report.render_html([report.Section("S", level=2, id="s", blocks=blocks)], "T")
    for part in ("<p>a &lt; b</p>", "<h3>Sub</h3>", "<pre>{&quot;k&quot;: 1}</pre>", '<li><a href="#x-1">first</a></li>',
                 '<table id="t"><caption>cap</caption><thead><tr><th>h|1</th><th>h2</th></tr></thead>'):
        assert part in html
    with pytest.raises(dataclasses.FrozenInstanceError):
        blocks[0].text = "changed"
