"""The report of a results folder: report.html (self-contained) and report.md.

    gdbench report RESULTS_DIR        # or bench.reporting.report.write(path)

Everything is computed from the stored tables (runs, curves, paths, meta), so
a report can be redrawn at any time. The figures are written to `figures/` in
the formats asked for (PNG by default; `formats=("png", "svg", "pdf")` adds SVG and PDF;
"csv" and "tex" add the summary table as summary.csv and summary.tex, bench/reporting/export.py);
report.html embeds the first format's files as data URIs, once, and loads
nothing from the network (its Content-Security-Policy forbids it), report.md
links them.

Layout: a summary (winner per problem, the performance profiles and AlgoPerf
scores, rankings at a fixed budget and where they disagree with those to the
target, budgets and attempts to success, parity with optax, data profiles),
one section per problem (the tuned results with confidence intervals, the
default-hyperparameter result beside them, the rankings, learning-rate
sensitivity, convergence, and the paths of 2-D problems), for
a run with minibatches the stochastic problems (the full-batch loss over
seeds, steps to target against batch size, the critical batch size, the
learning-rate x batch-size grid), then the run's metadata. A run of absolute
targets (COCO's Delta f) has COCO's section after the summary: the runtime
ECDF per dimension and the aRT table.

The document model and its renderers are in bench/reporting/document.py, the
sections' content in bench/reporting/sections.py; this module puts the
sections in order and writes the files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import ConfigError
from bench.reporting import export, plots, sections
from bench.reporting.document import FIGURES, MIME, Links, Paragraph, Section, Table, render_html, render_markdown
from bench.runs.results import read_run
from bench.stats import coco, profiles, tuning

DEFAULT_FORMATS = ("png",)
EMBEDDED = tuple(MIME)  # the figure formats a page shows; PDF is linked only
FORMATS = (*plots.FORMATS, *export.FORMATS)  # figures, then the summary's tables (bench/reporting/export.py)


def _target(runs: pd.DataFrame) -> float:
    return float(runs["target"].iloc[0]) if len(runs) else float("nan")


def build(tables: dict[str, pd.DataFrame], meta: dict[str, Any], figures_dir: str | Path,
          formats: tuple[str, ...] = DEFAULT_FORMATS) -> tuple[list[Section], str]:
    """The report's sections and title from a results folder's tables and meta
    (`bench.read_run`), drawing the figures into `figures_dir` in `formats`."""
    runs, curves, path_table = tables["runs"], tables["curves"], tables["paths"]
    title = f"gdbench report: suite {(meta.get('suite') or {}).get('name', '?')}"
    if runs.empty:
        return [Section("Summary", id="summary", blocks=[Paragraph("This results folder holds no trajectories."),
                                                          Table(["problem", "winner"], [], id="summary-table")]),
                sections.metadata(meta)], title
    impl = profiles.main_impl(runs)
    ours = runs[runs["impl"] == impl]
    c = sections.Context(runs, ours, impl, _target(runs), list(dict.fromkeys(ours["instance"])),
                         plots.style_map(runs["optimizer"]), Path(figures_dir), tuple(formats), coco.is_absolute(runs))
    tuned = tuning.tuned(ours)
    per_problem = sections.problems(c, meta, tuned, curves, path_table)
    links = Section("Problems", id="problems",
                    blocks=[Paragraph(f"{len(c.instances)} problems, each with its tuned results and figures:"),
                            Links(tuple((sec.id, sec.title) for sec in per_problem))])
    stochastic = sections.stochastic(c, curves, tuned)
    absolute = sections.coco_runtimes(c)  # COCO's section, for a run of absolute targets
    return [sections.summary(c, meta, tuned, curves), *([absolute] if absolute else []), links, *per_problem,
            *([stochastic] if stochastic else []), sections.metadata(meta)], title


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def check_formats(formats) -> tuple[str, ...]:
    """The formats as a tuple; ConfigError unless a non-empty list of FORMATS."""
    formats = tuple(dict.fromkeys(formats))
    if not formats or any(f not in FORMATS for f in formats):
        raise ConfigError("formats", f"must be one or more of {', '.join(FORMATS)}, got {list(formats)!r}")
    return formats


def figure_formats(formats) -> tuple[str, ...]:
    """The figure formats of `formats`, the first that a page can show (png, svg) first; png
    added when neither is asked (report.html embeds it, report.md shows it)."""
    figures = [f for f in formats if f in plots.FORMATS]
    shown = next((f for f in figures if f in EMBEDDED), "png")
    return (shown, *(f for f in figures if f != shown))


def write(folder: str | Path, out: str | Path | None = None,
          formats: tuple[str, ...] = DEFAULT_FORMATS) -> dict[str, Path]:
    """Writes report.html, report.md and figures/ for a results folder.

    Args:
      folder: the results folder (read with `bench.read_run`; ResultsError if unusable).
      out: where to write (default: the results folder itself).
      formats: of FORMATS: the figures' file formats (plots.FORMATS; report.html embeds the first of
        png and svg, png if neither is asked) and the summary's tables (export.FORMATS: summary.csv, .tex).

    Returns:
      {"html": path, "md": path}, and {format: path} of each summary table written.
    """
    formats = check_formats(formats)
    tables, meta = read_run(folder)  # first: a bad folder is reported before anything is written
    out = Path(out) if out is not None else Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    parts, title = build(tables, meta, out / FIGURES, figure_formats(formats))
    paths = {"html": out / "report.html", "md": out / "report.md"}
    _write_text(paths["html"], render_html(parts, title))
    _write_text(paths["md"], render_markdown(parts, title))
    return {**paths, **export.write_tables(tables["runs"], meta, out, export.check_formats(formats))}
