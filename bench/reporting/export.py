"""The end-of-run summary as files for a paper: summary.csv (machine-readable) and summary.tex (LaTeX).

    gdbench report RUN --formats csv,tex      # or bench.reporting.export.write(RUN)

summary.csv has one row per (instance, optimizer, impl): each implementation's
best configuration by the tuning protocol (`tuning.reported`: on the report seeds where held out), its numbers
unformatted (full precision, a target never reached `inf`, a missing value
`nan`), so that a script reads it back exactly. summary.tex is the terminal's
table (`bench.runs.summary.rows`: our implementation's rows, fastest first) as
one booktabs tabular, a heading row per problem, its numbers formatted as the
terminal prints them, LaTeX's special characters escaped and no name cut; it
needs `\\usepackage{booktabs}`. Both are written atomically.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from bench.runs import summary
from bench.stats import tuning

FORMATS = ("csv", "tex")
FILES = {"csv": "summary.csv", "tex": "summary.tex"}
#: the CSV's columns, in order (results/README.md describes them)
CSV_COLUMNS = ("instance", "optimizer", "impl", "learning_rate", "learning_rate_at_edge", "hyperparams", "seeds",
               "phase", "target", "median_steps_to_target", "median_time_to_target_s", "hit_share", "diverged_share",
               "median_final_subopt", "median_best_subopt", "time_ratio_vs_optax")
TEX_HEADERS = ("optimizer", "best lr", "steps", "time", "seeds hit", "final", "best", "time/step vs optax", "default")
EDGE_NOTE = "* the best learning rate is at the edge of the range tried: a better one may lie beyond it"
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (instance, optimizer, impl): its best configuration's medians over seeds (CSV_COLUMNS)."""
    if runs.empty:
        return pd.DataFrame(columns=list(CSV_COLUMNS))
    best = tuning.reported(runs)  # chosen on the selection seeds, measured on the report seeds (if held out)
    lr = tuning.hyperparameter(best)
    ratio = runs.groupby(["instance", "optimizer", "impl"])["time_ratio_vs_optax"].first()
    target = runs.groupby("instance")["target"].first()
    order = {name: i for i, name in enumerate(dict.fromkeys(runs["instance"]))}
    out = pd.DataFrame({
        "instance": best["instance"],
        "optimizer": best["optimizer"],
        "impl": best["impl"],
        "learning_rate": lr,
        "learning_rate_at_edge": [summary._at_edge(runs, i, o, None if math.isnan(v) else v)
                                  for i, o, v in zip(best["instance"], best["optimizer"], lr)],
        "hyperparams": best["hyperparams"],
        "seeds": best["seeds"],
        "phase": best[tuning.PHASE],
        "target": best["instance"].map(target).astype(float),
        "median_steps_to_target": best["median_steps"].astype(float),
        "median_time_to_target_s": best["median_time_s"].astype(float),
        "hit_share": best["hit_share"].astype(float),
        "diverged_share": best["diverged_share"].astype(float),
        "median_final_subopt": best["median_subopt"].astype(float),
        "median_best_subopt": best["median_best_subopt"].astype(float),
        "time_ratio_vs_optax": [float(ratio.get(k, math.nan)) for k in
                                zip(best["instance"], best["optimizer"], best["impl"])],
    })
    out = out.assign(_order=out["instance"].map(order))
    out = out.sort_values(["_order", "impl", "median_time_to_target_s", "median_steps_to_target"], kind="stable")
    return out.drop(columns="_order").reset_index(drop=True)


def csv_text(runs: pd.DataFrame) -> str:
    """summary.csv's text: `table(runs)`, floats in full precision, inf as `inf`, NaN as `nan`."""
    shortest = lambda v: repr(float(v))  # noqa: E731 - the shortest text that reads back as the same float
    return table(runs).to_csv(index=False, na_rep="nan", float_format=shortest, lineterminator="\n")


def tex_escape(text: str) -> str:
    """`text` with LaTeX's special characters escaped (`_` -> `\\_`, `%` -> `\\%`, ...)."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in str(text))


def tex_text(runs: pd.DataFrame, title: str = "") -> str:
    """summary.tex's text: a booktabs tabular, a heading row per problem; `title` becomes its first comment."""
    by_instance = summary.rows(runs)
    tables = {instance: summary.cells(t) for instance, t in by_instance.items()}
    headers = list(TEX_HEADERS)
    if any(h[1] != headers[1] for h, _ in tables.values()):  # some problem tuned more than the learning rate
        headers[1] = "best configuration"
    if any("evals" in h for h, _ in tables.values()):  # evaluations beside steps: on a problem without the
        headers.insert(3, "evals")  # column every optimizer makes one per step, so they are its steps
        tables = {i: (h, b if "evals" in h else [[*row[:3], row[2], *row[3:]] for row in b])
                  for i, (h, b) in tables.items()}
    n = len(headers)
    seeds = max((int(t["seeds"].max()) for t in by_instance.values()), default=0)  # the report seeds
    targets = sorted({f"{t:.0e}" for t in runs["target"]}) if len(runs) else []
    lines = [f"% {line}" for line in title.splitlines() if line.strip()]
    lines += [f"% target {', '.join(targets) or '-'}, median over {seeds} seeds; "
              "each optimizer at its best configuration (gdbench report --formats tex)",
              r"% needs \usepackage{booktabs}",
              r"\begin{tabular}{l" + "r" * (n - 1) + "}", r"\toprule",
              " & ".join(tex_escape(h) for h in headers) + r" \\"]
    for instance, (_, body) in tables.items():
        lines += [r"\midrule", rf"\multicolumn{{{n}}}{{l}}{{\textit{{{tex_escape(instance)}}}}} \\"]
        lines += [" & ".join(tex_escape(c) for c in row) + r" \\" for row in body]
    lines.append(r"\bottomrule")
    if any(t["edge"].any() for t in by_instance.values()):
        lines.append(rf"\multicolumn{{{n}}}{{l}}{{\footnotesize {tex_escape(EDGE_NOTE)}}} \\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def check_formats(formats) -> tuple[str, ...]:
    """Those of `formats` that are FORMATS, in order (the others are the figures')."""
    return tuple(f for f in dict.fromkeys(formats) if f in FORMATS)


def write_tables(runs: pd.DataFrame, meta: dict, out: str | Path, formats=FORMATS) -> dict[str, Path]:
    """Writes summary.csv and/or summary.tex into `out`; returns {format: path}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    suite = meta.get("suite") or {}
    title = f"gdbench summary: suite {suite.get('name', '?')}, {len(runs):,} trajectories, status {meta.get('status')}"
    texts = {"csv": lambda: csv_text(runs), "tex": lambda: tex_text(runs, title)}
    paths = {}
    for f in check_formats(formats):
        paths[f] = out / FILES[f]
        _write_text(paths[f], texts[f]())
    return paths


def write(folder: str | Path, out: str | Path | None = None, formats=FORMATS) -> dict[str, Path]:
    """Reads a results folder (`bench.read_run`; ResultsError if unusable) and writes its summary files
    into `out` (default: the folder itself); returns {format: path}."""
    from bench.runs.results import read_run

    tables, meta = read_run(folder)
    return write_tables(tables["runs"], meta, Path(out) if out is not None else Path(folder), formats)
