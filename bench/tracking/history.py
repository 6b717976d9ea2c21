"""The history of many runs: each tracked metric over commits, per suite and machine, with its change points.

    gdbench history [RUNS_DIR] [--out DIR]     # RUNS_DIR: results/runs by default

Reads every results folder at any depth below RUNS_DIR (a folder holding
meta.json, with runs.parquet: `runs/<stamp>` and `runs/<branch>/<stamp>` alike;
folders still being written, `*.partial`, and unreadable ones are passed over,
each with a note) and writes, into --out (default RUNS_DIR):

  history.csv   one row per (run, series): the long table below
  history.html  self-contained (no network; SVG figures inline): per suite
                and machine, the change points found, a figure per problem
                instance, and the runs, each linked to its results folder

Series. Runs are grouped by suite and machine (`device_kind` x
`device_count` and the host CPU model from meta.json's `device`; "unknown CPU"
for runs written before it was recorded): a series never mixes suites or
machines, and each group is a section of the page. A suite is what makes runs
comparable, the same notion `gdbench compare` refuses runs by
(`gates.suite_identity`: name, steps, seeds, dtype, targets, grid): a 500-step
and a 1000-step run of one suite name are two series, labelled by the fields
that tell them apart (`quick-custom (steps 500)`). Within a group, per
(problem instance, optimizer, implementation), two metrics:

  steps        steps to the primary target at the tuned configuration
               (bench.stats.tuning: median over seeds; a miss is inf)
  program_step_s  time per step of the compiled program, the median over the cell's programs

optax's twin, measured in the same runs, is drawn dashed beside ours: when
both move together, the machine moved, not our code.

Points. A group's runs in order of start time; consecutive runs of the same
commit (a dirty checkout counted apart from its clean commit) form one
point, the median of their values.

Change points (`bench.tracking.changepoints`): a penalised least-squares segmentation
of log10 of each series' finite points, the noise level pooled over all
series of one metric in the group; a series that moves between hitting and
missing the target changes there too.
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import ConfigError
from bench.runs.results import ResultsError, read_meta, read_table
from bench.stats import tuning
from bench.tracking import changepoints, gates

METRICS = {"steps": "steps to target (tuned)", "program_step_s": "time per step (s)"}
COLUMNS = ["suite", "machine", "instance", "optimizer", "impl", "metric", "point", "commit", "started_utc", "run",
           "value", "point_value", "level", "change_point"]


@dataclasses.dataclass(frozen=True)
class Run:
    """One results folder's facts the history needs."""

    path: Path
    name: str  # its path below RUNS_DIR
    suite: str  # its series' suite label (`suite_labels`)
    machine: str
    commit: str  # short hash, '+dirty' for uncommitted changes, 'unknown' without git
    started: pd.Timestamp
    metrics: pd.DataFrame  # instance, optimizer, impl, steps, program_step_s


def machine_label(meta: dict[str, Any]) -> str:
    """'<device kind> x<count> | <CPU model>[ (<widest vector ISA>)]' from meta.json's device.

    The widest x86 vector instruction set is named because one model name
    may cover machines with and without AVX-512, whose times differ.
    """
    d = meta.get("device") or {}
    isa = set((d.get("host_isa") or "").split())
    widest = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2")) if flag in isa), None)
    cpu = (d.get("host_cpu") or "unknown CPU") + (f" ({widest})" if widest else "")
    return f"{d.get('device_kind', '?')} x{d.get('device_count', '?')} | {cpu}"


def commit_label(meta: dict[str, Any]) -> str:
    g = meta.get("git") or {}
    if not g.get("commit"):
        return "unknown"
    return str(g["commit"])[:10] + ("+dirty" if g.get("dirty") else "")


def run_metrics(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (instance, optimizer, impl): tuned steps to target and the median time per step."""
    cols = ["instance", "optimizer", "impl", "steps", "program_step_s"]
    if runs.empty:
        return pd.DataFrame(columns=cols)
    best = tuning.best_configs(runs).set_index(list(tuning.GROUP))
    step_time = runs.groupby(list(tuning.GROUP), sort=False)["program_step_s"].median()
    out = pd.DataFrame({"steps": tuning.as_cost(best["median_steps"]),
                        "program_step_s": step_time.reindex(best.index).to_numpy()}, index=best.index)
    return out.reset_index()[cols]


def _read(path: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """meta.json and runs.parquet of a results folder (the rest of `read_run`'s tables are not needed)."""
    return read_meta(path), read_table(path, "runs")


def _folders(root: Path) -> tuple[list[Path], int]:
    """The results folders at any depth below `root` (a folder holding meta.json, or a `.partial`
    one: not looked into), in path order, and how many other folders were looked in (root included)."""
    out, looked = [], 0
    for here, dirs, files in os.walk(root):
        here = Path(here)
        if here != root and (here.name.endswith(".partial") or "meta.json" in files):
            out.append(here)
            dirs.clear()
            continue
        looked += 1
        dirs.sort()
    return sorted(out), looked


def suite_labels(metas: list[dict[str, Any]]) -> list[str]:
    """Each run's series name: its suite's name, and where runs of one name are not comparable
    (`gates.suite_identity`: steps, seeds, ...), the fields in which they differ."""
    identities = [gates.suite_identity(m) for m in metas]
    names = [str(i["name"]) if i["name"] is not None else "?" for i in identities]
    labels = []
    for name, identity in zip(names, identities):
        same_name = [j for n, j in zip(names, identities) if n == name]
        differ = [f for f in gates.SUITE_FIELDS if f != "name" and any(j[f] != identity[f] for j in same_name)]
        shown = ", ".join(f"{f} {_short(identity[f])}" for f in differ)
        labels.append(f"{name} ({shown})" if differ else name)
    return labels


def _short(value, width: int = 40) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= width else text[:width - 3] + "..."


def collect(runs_dir: str | Path) -> tuple[list[Run], list[str]]:
    """The complete runs at any depth below RUNS_DIR (runs/<branch>/<stamp> too), in start-time
    order, and a note per folder passed over.

    Raises ConfigError when RUNS_DIR is not a folder, is itself a results
    folder, or holds no complete run (saying how many folders were looked in).
    """
    root = Path(runs_dir)
    if not root.is_dir():
        raise ConfigError("RUNS_DIR", f"{root} is not a folder")
    if (root / "meta.json").exists():
        raise ConfigError("RUNS_DIR", f"{root} is one results folder: give the folder that holds the runs")
    found, metas, notes = [], [], []
    folders, looked = _folders(root)
    for path in folders:
        name = path.relative_to(root).as_posix()
        if path.name.endswith(".partial"):
            notes.append(f"{name}: still being written (or interrupted hard), passed over")
            continue
        try:
            meta, runs = _read(path)
        except ResultsError as e:
            notes.append(f"{e}; passed over")
            continue
        if meta.get("status") != "complete":
            notes.append(f"{name}: status {meta.get('status')!r}, passed over (only complete runs count)")
            continue
        started = pd.to_datetime(meta.get("started_utc"), utc=True, errors="coerce")
        if pd.isna(started):
            notes.append(f"{name}: no valid started_utc, passed over")
            continue
        found.append(Run(path, name, "", machine_label(meta), commit_label(meta), started, run_metrics(runs)))
        metas.append(meta)
    if not found:
        where = f"{root} and the {looked - 1} folder(s) below it" if looked > 1 else f"{root}"
        raise ConfigError("RUNS_DIR", f"{root} holds no complete results folder (gdbench run writes them; "
                                      f"looked in {where})")
    found = [dataclasses.replace(r, suite=label) for r, label in zip(found, suite_labels(metas))]
    found.sort(key=lambda r: (r.started, r.name))
    return found, notes


def _points(runs: list[Run]) -> list[int]:
    """Each run's point index: consecutive runs of one commit share a point."""
    out, point = [], -1
    for i, r in enumerate(runs):
        if i == 0 or r.commit != runs[i - 1].commit:
            point += 1
        out.append(point)
    return out


def _log(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(values)


def _change_points(values: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(level per point, change-point flags) of one series of point values (inf: missed, NaN: absent)."""
    n = len(values)
    levels, flags = np.full(n, np.nan), np.zeros(n, dtype=bool)
    present = ~np.isnan(values)
    finite = np.isfinite(values) & (values > 0)
    idx = np.flatnonzero(finite)
    if len(idx):
        seg = changepoints.segment(_log(values[idx]), sigma=sigma)
        levels[idx] = 10.0 ** seg.levels
        flags[idx[list(seg.change_points)]] = True
    levels[present & ~finite] = values[present & ~finite]
    kept = np.flatnonzero(present)
    hit = np.isfinite(values[kept])
    flags[kept[1:][hit[1:] != hit[:-1]]] = True  # between hitting and missing the target
    return levels, flags


def table(runs: list[Run]) -> pd.DataFrame:
    """The long table (COLUMNS) of the runs `collect` returned."""
    frames = []
    for (suite, machine), idx in _groups(runs).items():
        group = [runs[i] for i in idx]
        points = _points(group)
        parts = []
        for r, point in zip(group, points):
            m = r.metrics.melt(id_vars=["instance", "optimizer", "impl"], value_vars=list(METRICS),
                               var_name="metric", value_name="value")
            m["point"], m["commit"], m["started_utc"], m["run"] = point, r.commit, r.started.isoformat(), r.name
            parts.append(m)
        long = pd.concat(parts, ignore_index=True)
        long.insert(0, "suite", suite)
        long.insert(1, "machine", machine)
        long["value"] = long["value"].astype(float)
        key = ["instance", "optimizer", "impl", "metric"]
        med = long.groupby([*key, "point"], sort=False)["value"].median().rename("point_value").reset_index()
        n_points = points[-1] + 1
        out = []
        for metric, mpart in med.groupby("metric", sort=False):
            series = {}
            for k, s in mpart.groupby(key, sort=False):
                v = np.full(n_points, np.nan)
                v[s["point"].to_numpy()] = s["point_value"].to_numpy()
                series[k] = v
            logs = [_log(v[np.isfinite(v) & (v > 0)]) for v in series.values()]
            sigma = changepoints.noise_level(*logs)
            for k, v in series.items():
                levels, flags = _change_points(v, sigma)
                present = np.flatnonzero(~np.isnan(v))
                out.append(pd.DataFrame({**dict(zip(key, k)), "point": present, "level": levels[present],
                                         "change_point": flags[present]}))
        fitted = pd.concat(out, ignore_index=True)
        frames.append(long.merge(med, on=[*key, "point"]).merge(fitted, on=[*key, "point"]))
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def _groups(runs: list[Run]) -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(runs):
        out.setdefault((r.suite, r.machine), []).append(i)
    return out


# --------------------------------------------------------------------------- the page


def _svg(fig) -> str:
    """A figure as inline SVG markup (text kept as text; no XML prolog)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "gdbench-history"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _commit_axis(ax, metric: str, commits: list[str]) -> None:
    ax.set_title(METRICS[metric], fontsize="medium")
    ax.set_xticks(np.arange(len(commits)), commits, rotation=45, ha="right", fontsize="x-small")
    ax.grid(alpha=0.3)


def figure(part: pd.DataFrame, instance: str, commits: list[str], links: list[str], styles: dict):
    """Steps and time per step of one instance over the points; change points ringed; points link to runs."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogFormatter

    fig = Figure(figsize=(11, 3.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, METRICS):
        rows = part[part["metric"] == metric]
        missed = []
        for (optimizer, impl), s in rows.groupby(["optimizer", "impl"], sort=True):
            if metric == "steps" and impl != "gdbench":
                continue  # the twin's steps equal ours up to rounding: drawn once
            s = s.drop_duplicates("point").sort_values("point")
            st = styles[optimizer]
            x, y = s["point"].to_numpy(), s["point_value"].to_numpy()
            ok = np.isfinite(y)
            dashed = impl != "gdbench"
            ax.plot(x[ok], y[ok], color=st["color"], linestyle="--" if dashed else "-", lw=1.0 if dashed else 1.5,
                    alpha=0.6 if dashed else 1.0)
            ax.plot(x[ok], s["level"].to_numpy()[ok], color=st["color"], lw=0.6, alpha=0.5, drawstyle="steps-mid")
            if not dashed:
                dots = ax.scatter(x[ok], y[ok], s=16, color=st["color"], zorder=3)
                dots.set_urls([links[i] for i in x[ok]])
                cp = s["change_point"].to_numpy() & ok
                ax.scatter(x[cp], y[cp], s=110, facecolors="none", edgecolors="#D55E00", linewidths=1.6, zorder=4)
            missed.append((x[~ok], st["color"]))
        if not np.isfinite(rows["point_value"].to_numpy(float)).any():
            ax.text(0.5, 0.5, "no point: the target was missed\n(or not measured) at every commit",
                    transform=ax.transAxes, ha="center", va="center", color="#555")
            ax.set_yticks([])
            _commit_axis(ax, metric, commits)
            continue
        ax.set_yscale("log")
        for x, color in missed:  # missed the target: a cross along the top
            ax.scatter(x, np.full(len(x), ax.get_ylim()[1]), marker="x", color=color, zorder=3, clip_on=False)
        ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))  # plain text, not mathtext: 3x faster
        ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
        _commit_axis(ax, metric, commits)
    handles = [Line2D([], [], color=styles[o]["color"], label=o) for o in sorted(part["optimizer"].unique())]
    handles += [Line2D([], [], color="grey", linestyle="--", label="optax twin"),
                Line2D([], [], marker="o", markerfacecolor="none", markeredgecolor="#D55E00", linestyle="",
                       label="change point"),
                Line2D([], [], marker="x", color="grey", linestyle="", label="target missed")]
    fig.legend(handles=handles, loc="outside right upper", fontsize="small", frameon=False)
    fig.suptitle(instance, fontsize="medium")
    return fig


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0 1.4em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f2f2f2}figure{margin:1em 0 1.6em}figure svg{max-width:100%;height:auto}
figcaption{color:#555;font-size:.9em}
"""


def _link(path: Path, out: Path) -> str:
    """A relative link from the page to a run: its report.html if written, else its folder."""
    target = path / "report.html" if (path / "report.html").exists() else path
    return Path(os.path.relpath(target, out)).as_posix()


def _html_table(headers: list[str], rows: list[list[str]], ident: str = "") -> str:
    """Cells are HTML already (escaped by the caller)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    ident = f' id="{ident}"' if ident else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "missed" if v == np.inf else "-"
    return f"{v:.3g}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def render(runs: list[Run], t: pd.DataFrame, out: Path, notes: list[str]) -> str:
    """history.html: per (suite, machine) the change points, the figures and the runs."""
    from bench.reporting import plots

    e = html.escape
    body = [f"<h1>gdbench history</h1><p>{len(runs)} complete runs; one section per suite and machine. Each point "
            f"is a commit (the median of its runs, in order of start time); ringed: a change point (a step in the "
            f"level, found by a penalised least-squares segmentation of the log values, bench/tracking/changepoints.py). "
            f"Points link to their run's report. Data: history.csv.</p>"]
    if notes:
        body.append("<p>Passed over:</p><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    sections = []
    for (suite, machine), idx in _groups(runs).items():
        group = [runs[i] for i in idx]
        points = _points(group)
        sid = f"suite-{_slug(suite)}-{_slug(machine)}"
        sections.append((sid, f"{suite} on {machine}"))
        commits = [group[points.index(p)].commit for p in range(points[-1] + 1)]
        links = [_link(group[points.index(p)].path, out) for p in range(points[-1] + 1)]
        part = t[(t["suite"] == suite) & (t["machine"] == machine)]
        html_part = [f'<section id="{sid}"><h2>suite {e(suite)} on {e(machine)}</h2>']
        cps = part[part["change_point"]].drop_duplicates(["instance", "optimizer", "impl", "metric", "point"])
        rows = []
        for r in cps.itertuples(index=False):
            prev = part[(part["instance"] == r.instance) & (part["optimizer"] == r.optimizer)
                        & (part["impl"] == r.impl) & (part["metric"] == r.metric) & (part["point"] < r.point)]
            before = prev.sort_values("point")["level"].iloc[-1] if len(prev) else np.nan
            ratio = r.level / before if np.isfinite(before) and np.isfinite(r.level) and before > 0 else np.nan
            rows.append([e(r.instance), e(r.optimizer), e(r.impl), e(METRICS[r.metric]),
                         f'<a href="{e(links[r.point])}">{e(r.commit)}</a>', e(_fmt(before)), e(_fmt(r.level)),
                         e("-" if not np.isfinite(ratio) else f"{ratio:.3g}x")])
        html_part.append(f"<h3>Change points ({len(rows)})</h3>")
        html_part.append(_html_table(["instance", "optimizer", "impl", "metric", "from commit", "level before",
                                      "level after", "after / before"], rows, ident=f"{sid}-changes")
                         if rows else "<p>None: every series stays at one level.</p>")
        styles = plots.style_map(part["optimizer"])
        for instance in dict.fromkeys(part["instance"]):
            fig = figure(part[part["instance"] == instance], instance, commits, links, styles)
            html_part.append(f"<figure>{_svg(fig)}<figcaption>{e(instance)}: solid, ours (gdbench); dashed, "
                             f"optax's twin in the same runs; thin steps: the fitted levels.</figcaption></figure>")
        run_rows = [[str(p), e(r.commit), e(r.started.isoformat()), f'<a href="{e(_link(r.path, out))}">'
                     f"{e(r.name)}</a>"] for r, p in zip(group, points)]
        html_part.append("<h3>Runs</h3>" + _html_table(["point", "commit", "started (UTC)", "results folder"],
                                                        run_rows, ident=f"{sid}-runs"))
        body.append("\n".join(html_part) + "</section>")
    nav = "<nav>" + "".join(f'<a href="#{i}">{e(t)}</a> ' for i, t in sections) + "</nav>"
    body.insert(1, nav)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>gdbench history</title><style>{_CSS}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def write(runs_dir: str | Path = "results/runs", out: str | Path | None = None) -> dict[str, Any]:
    """Writes history.csv and history.html; returns their paths and the notes on folders passed over."""
    runs, notes = collect(runs_dir)  # first: bad input is reported before anything is written
    out = Path(out) if out is not None else Path(runs_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = table(runs)
    page = render(runs, t, out, notes)
    paths = {"csv": out / "history.csv", "html": out / "history.html"}
    _write_atomic(paths["csv"], lambda p: t.to_csv(p, index=False))
    _write_atomic(paths["html"], lambda p: p.write_text(page, encoding="utf-8"))
    return {**paths, "notes": notes, "runs": len(runs)}
