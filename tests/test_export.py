"""The summary as files for a paper (summary.csv, summary.tex), PDF figures, and `--formats`' errors."""

from __future__ import annotations

import io
import math
import re
from types import SimpleNamespace

import pandas as pd
import pytest
from test_analysis_cases import FIXTURE_RUN, copy_run

import bench
from bench import cli
from bench.reporting import export, plots, report
from bench.runs import summary
from bench.stats import tuning

LONG = "configs/my_opts.py:adam_50%_lr&#2"  # a custom optimizer's name: long, with LaTeX's special characters


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    runs = bench.read_run(FIXTURE_RUN)[0]["runs"]
    return runs.assign(optimizer=runs["optimizer"].replace({"adam": LONG}))


def test_the_csv_has_one_row_per_instance_optimizer_and_impl_that_reads_back_exactly(runs):
    text = export.csv_text(runs)
    back = pd.read_csv(io.StringIO(text))
    assert tuple(back.columns) == export.CSV_COLUMNS
    keys = set(zip(back.instance, back.optimizer, back.impl))
    assert len(keys) == len(back) and keys == set(zip(runs.instance, runs.optimizer, runs.impl))
    best = tuning.best_configs(runs).set_index(["instance", "optimizer", "impl"])
    for r in back.itertuples(index=False):
        b = best.loc[(r.instance, r.optimizer, r.impl)]
        assert r.median_steps_to_target == b.median_steps or not math.isfinite(b.median_steps)
        assert r.median_time_to_target_s == b.median_time_s or not math.isfinite(b.median_time_s)
        assert r.median_final_subopt == b.median_subopt and r.median_best_subopt == b.median_best_subopt
        assert r.hyperparams == b.hyperparams and r.target == 1e-6
    missed = back[~pd.Series([math.isfinite(v) for v in back.median_steps_to_target])]
    assert len(missed) and (missed.median_steps_to_target == math.inf).all()  # never reached: inf, read back as inf
    assert ",inf," in text and "np.float64" not in text  # plain numbers, not reprs of NumPy scalars


def test_the_csv_rows_of_ours_are_the_terminal_tables_rows(runs):
    back = pd.read_csv(io.StringIO(export.csv_text(runs)))
    for instance, table in summary.rows(runs).items():
        ours = back[(back.instance == instance) & (back.impl == "gdbench")]
        assert list(ours.optimizer) == list(table.optimizer)  # the same order: fastest first
        assert list(ours.learning_rate) == list(table["best lr"])


def test_latex_special_characters_are_escaped():
    assert export.tex_escape("a_b%c&d#e$f{g}h~i^j\\k") == (
        r"a\_b\%c\&d\#e\$f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k")


def _terminal_rows(runs) -> dict[str, list[str]]:
    """The terminal table's cells by optimizer, read from summary.text."""
    suite = SimpleNamespace(name="fixture", target=1e-6, seeds=[0, 1, 2], steps=200, dtype="float32")
    out = {}
    for line in summary.text(runs, suite, "complete").splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells:
            out.setdefault(cells[0], []).append(cells)
    return out


def test_the_latex_table_is_booktabs_with_the_terminals_numbers_and_whole_names(runs):
    tex = export.tex_text(runs, "title line")
    lines = tex.splitlines()
    assert lines[0] == "% title line" and r"% needs \usepackage{booktabs}" in lines
    body = lines[lines.index(r"\begin{tabular}{lrrrrrrrr}"):]
    assert body[1] == r"\toprule" and body[-2:] == [r"\bottomrule", r"\end{tabular}"]
    rows = [ln for ln in body if ln.endswith(r" \\") and not ln.startswith(r"\multicolumn")]
    assert len(rows) == 1 + sum(len(t) for t in summary.rows(runs).values())
    terminal = _terminal_rows(runs)
    # each optimizer's row equals the terminal's, cell by cell (the terminal groups rows per problem, in order)
    ours = [[c.strip() for c in re.split(r"(?<!\\)&", ln[: -len(r" \\")])] for ln in rows[1:]]
    printed = [row for t in summary.rows(runs).values() for row in summary.cells(t)[1]]
    assert ours == [[export.tex_escape(c) for c in row] for row in printed]
    # the terminal prints the same cells (`summary.cells` builds both); its names are never cut
    assert set(terminal) >= {row[0] for row in printed}
    assert export.tex_escape(LONG) in tex and r"\textit{quadratic(dim=5, condition\_number=10.0" in tex
    assert r"67\%" in tex and "100%" not in tex.replace(r"100\%", "")


def test_report_formats_csv_and_tex_write_the_summary_files_atomically(tmp_path, monkeypatch, capsys):
    folder = copy_run(tmp_path / "run")
    monkeypatch.setattr(report, "build", lambda tables, meta, figures, formats: ([], "t"))  # the figures: elsewhere
    assert cli.main(["report", str(folder), "--formats", "csv,tex"]) == 0
    out = capsys.readouterr().out
    assert f"summary: {folder / 'summary.csv'}" in out and f"summary: {folder / 'summary.tex'}" in out
    runs = bench.read_run(folder)[0]["runs"]
    assert (folder / "summary.csv").read_text() == export.csv_text(runs)
    assert (folder / "summary.tex").read_text().startswith("% gdbench summary: suite fixture, 72 trajectories")
    assert not list(folder.glob(".*.tmp"))
    assert export.write(folder, tmp_path / "elsewhere", ("tex",)) == {"tex": tmp_path / "elsewhere" / "summary.tex"}


def test_an_unknown_format_is_one_line_naming_the_allowed_ones_and_exit_2(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path), "--formats", "png,xlsx"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "png, svg, pdf, csv, tex" in err and "'png,xlsx'" in err
    with pytest.raises(bench.ConfigError, match="png, svg, pdf, csv, tex"):
        report.check_formats(["docx"])


def test_pdf_figures_beside_the_shown_format(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1.5))
    fig.subplots().plot([1, 2, 3], [3, 1, 2])
    files = plots.save(fig, tmp_path, "f", ("png", "pdf"))
    pdf = files["pdf"].read_bytes()
    assert pdf[:5] == b"%PDF-" and b"CreationDate" not in pdf and b"/FontFile2" in pdf  # TrueType fonts embedded
    assert plots.save(fig, tmp_path, "g", ("pdf",))["pdf"].read_bytes() == plots.save(fig, tmp_path, "h", ("pdf",))[
        "pdf"].read_bytes()  # no date: the same figure, the same file
    # a page shows png or svg: one of them comes first, png added when neither is asked
    assert report.figure_formats(("pdf", "csv")) == ("png", "pdf")
    assert report.figure_formats(("pdf", "svg", "tex")) == ("svg", "pdf")
    assert report.figure_formats(("png", "svg")) == ("png", "svg")
