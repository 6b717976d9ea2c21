"""history.html: the page of `gdbench history` (bench.tracking.history computes its table).

Per suite and machine: the change points found, one interactive figure per
problem instance (steps to target and time per step over the commits; a
click on a point of ours opens that run's report or folder), and the runs.
The figures are `bench.reporting.interactive`'s: plotly.js embedded once,
the optimizers' styles those of a report (`plots.style_map`).
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from bench.reporting import interactive, plots

VERMILLION = "#D55E00"  # the change points' rings

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0 1.4em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f2f2f2}figure{margin:1em 0 1.6em}
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


def _order(part: pd.DataFrame) -> list[str]:
    """The optimizers, fewest steps to target at the last commit first (misses last, then by name)."""
    ours = part[(part["metric"] == "steps") & (part["impl"] == "gdbench")]
    last = ours.sort_values("point").groupby("optimizer")["point_value"].last()
    return sorted(part["optimizer"].unique(), key=lambda o: (last.get(o, np.inf), o))


def figure(part: pd.DataFrame, instance: str, commits: list[str], links: list[str], styles: dict,
           metrics: dict[str, str]) -> interactive.Plot:
    """Each metric of one instance over the points (one panel each): ours solid and linked to its runs, optax's
    twin dashed (time only: its steps equal ours up to rounding), the fitted levels thin, change points ringed,
    a missed target a cross along the top."""
    data, axes, annotations, named = [], {}, [], set()
    ticks = {"tickvals": list(range(len(commits))), "ticktext": commits, "tickangle": -45, "tickfont": {"size": 10}}
    for i, (metric, dom) in enumerate(zip(metrics, interactive.panels(len(metrics), 0.08)), start=1):
        rows = part[part["metric"] == metric]
        axis = {} if i == 1 else {"xaxis": f"x{i}", "yaxis": f"y{i}"}
        finite = rows["point_value"][np.isfinite(rows["point_value"].to_numpy(float))]
        top = float(finite.max()) * 1.6 if len(finite) else 1.0
        for (optimizer, impl), s in rows.groupby(["optimizer", "impl"], sort=True):
            if metric == "steps" and impl != "gdbench":
                continue
            s = s.drop_duplicates("point").sort_values("point")
            st, ours = styles[optimizer], impl == "gdbench"
            x, y = s["point"].to_numpy(), s["point_value"].to_numpy(dtype=float)
            ok = np.isfinite(y)
            name = html.escape(optimizer)
            hover = (f"<b>{name}</b> ({impl})<br>commit %{{text}}<br>{html.escape(metrics[metric])}: %{{y:.4~g}}"
                     + ("<br>click: open the run" if ours else "") + "<extra></extra>")
            if ok.any():  # an empty trace would not follow its legend group's clicks
                data.append({"type": "scatter", "mode": "lines+markers" if ours else "lines", "x": x[ok].tolist(),
                             "y": interactive.values(y[ok]), "text": [commits[p] for p in x[ok]],
                             "name": optimizer if ours else f"{optimizer} (optax)", "legendgroup": optimizer,
                             "showlegend": ours and optimizer not in named, "hovertemplate": hover,
                             "legendrank": 1000 + sorted(styles).index(optimizer),  # by name, whichever panel
                             "line": {"color": st["color"], "width": 1.6 if ours else 1.0,
                                      "dash": "solid" if ours else "dash"},
                             "marker": {"size": 6, "color": st["color"]}, "opacity": 1.0 if ours else 0.6,
                             **({"meta": {"links": [links[p] for p in x[ok]]}} if ours else {}), **axis})
                if ours:
                    named.add(optimizer)
                data.append({"type": "scatter", "mode": "lines", "x": x[ok].tolist(),
                             "y": interactive.values(s["level"].to_numpy(dtype=float)[ok]), "legendgroup": optimizer,
                             "showlegend": False, "name": f"{optimizer} level", "hoverinfo": "skip",
                             "line": {"color": st["color"], "width": 0.7, "shape": "hvh"}, "opacity": 0.5, **axis})
            cp = s["change_point"].to_numpy(dtype=bool) & ok
            if ours and cp.any():
                data.append({"type": "scatter", "mode": "markers", "x": x[cp].tolist(), "y": interactive.values(y[cp]),
                             "legendgroup": optimizer, "showlegend": False, "name": f"{optimizer} change point",
                             "text": [commits[p] for p in x[cp]],
                             "marker": {"symbol": "circle-open", "size": 16, "color": VERMILLION,
                                        "line": {"width": 2}},
                             "hovertemplate": f"<b>{name}</b>: change point at %{{text}}<extra></extra>", **axis})
            if (~ok).any():
                data.append({"type": "scatter", "mode": "markers", "x": x[~ok].tolist(),
                             "y": [top] * int((~ok).sum()), "legendgroup": optimizer, "showlegend": False,
                             "name": f"{optimizer} missed", "text": [commits[p] for p in x[~ok]],
                             "marker": {"symbol": "x", "size": 8, "color": st["color"]},
                             "hovertemplate": f"<b>{name}</b> ({impl})<br>commit %{{text}}<br>target missed"
                                              "<extra></extra>", **axis})
        xa, ya = interactive.axis_names(i)
        axes[xa] = {"domain": dom, "range": [-0.5, len(commits) - 0.5], **ticks}
        axes[ya] = {"type": interactive.log_axis(finite), "exponentformat": "power",
                    "title": interactive.axis_title(metrics[metric])}
        if not len(finite):
            annotations.append({"xref": f"{xa.replace('axis', '')} domain", "yref": f"{ya.replace('axis', '')} domain",
                                "x": 0.5, "y": 0.5, "showarrow": False, "font": {"color": "#555"},
                                "text": "no point: the target was missed<br>(or not measured) at every commit"})
        if i > 1:
            axes[xa]["anchor"], axes[ya]["anchor"] = f"y{i}", f"x{i}"
    layout = interactive.base_layout(html.escape(instance), height=440, **axes)
    layout["margin"]["b"] = 90
    layout["annotations"] = annotations
    groups, shown = interactive.legend_groups(_order(part), part["optimizer"].unique())
    return interactive.Plot(data, layout, {}, groups, shown, links=True)


def render(runs: list, t: pd.DataFrame, out: Path, notes: list[str], groups: dict, points, metrics: dict) -> str:
    """history.html: per (suite, machine) the change points, the figures and the runs.

    Args:
      runs: the `history.Run`s; t: `history.table`'s long table; out: the page's folder (links are relative);
      notes: the folders passed over; groups: {(suite, machine): run indices}; points: the runs' point
      indices of a group (a function); metrics: {metric: its label}.
    """
    e = html.escape
    body = [f"<h1>gdbench history</h1><p>{len(runs)} complete runs; one section per suite and machine. Each point "
            f"is a commit (the median of its runs, in order of start time); ringed: a change point (a step in the "
            f"level, found by a penalised least-squares segmentation of the log values, "
            f"bench/tracking/changepoints.py). "
            f"A click on a point opens its run's report. Data: history.csv.</p>"]
    if notes:
        body.append("<p>Passed over:</p><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    styles = plots.style_map(t["optimizer"])  # one style per optimizer over the whole page
    sections = []
    for (suite, machine), idx in groups.items():
        group = [runs[i] for i in idx]
        pts = points(group)
        sid = f"suite-{_slug(suite)}-{_slug(machine)}"
        sections.append((sid, f"{suite} on {machine}"))
        commits = [group[pts.index(p)].commit for p in range(pts[-1] + 1)]
        links = [_link(group[pts.index(p)].path, out) for p in range(pts[-1] + 1)]
        part = t[(t["suite"] == suite) & (t["machine"] == machine)]
        html_part = [f'<section id="{sid}"><h2>suite {e(suite)} on {e(machine)}</h2>']
        cps = part[part["change_point"]].drop_duplicates(["instance", "optimizer", "impl", "metric", "point"])
        rows = []
        for r in cps.itertuples(index=False):
            prev = part[(part["instance"] == r.instance) & (part["optimizer"] == r.optimizer)
                        & (part["impl"] == r.impl) & (part["metric"] == r.metric) & (part["point"] < r.point)]
            before = prev.sort_values("point")["level"].iloc[-1] if len(prev) else np.nan
            ratio = r.level / before if np.isfinite(before) and np.isfinite(r.level) and before > 0 else np.nan
            rows.append([e(r.instance), e(r.optimizer), e(r.impl), e(metrics[r.metric]),
                         f'<a href="{e(links[r.point])}">{e(r.commit)}</a>', e(_fmt(before)), e(_fmt(r.level)),
                         e("-" if not np.isfinite(ratio) else f"{ratio:.3g}x")])
        html_part.append(f"<h3>Change points ({len(rows)})</h3>")
        html_part.append(_html_table(["instance", "optimizer", "impl", "metric", "from commit", "level before",
                                      "level after", "after / before"], rows, ident=f"{sid}-changes")
                         if rows else "<p>None: every series stays at one level.</p>")
        for instance in dict.fromkeys(part["instance"]):
            plot = figure(part[part["instance"] == instance], instance, commits, links, styles, metrics)
            html_part.append(f"<figure>{plot.html(instance)}<figcaption>{e(instance)}: solid, ours (gdbench); "
                             "dashed, optax's twin in the same runs; thin steps: the fitted levels.</figcaption>"
                             "</figure>")
        run_rows = [[str(p), e(r.commit), e(r.started.isoformat()), f'<a href="{e(_link(r.path, out))}">'
                     f"{e(r.name)}</a>"] for r, p in zip(group, pts)]
        html_part.append("<h3>Runs</h3>" + _html_table(["point", "commit", "started (UTC)", "results folder"],
                                                        run_rows, ident=f"{sid}-runs"))
        body.append("\n".join(html_part) + "</section>")
    nav = "<nav>" + "".join(f'<a href="#{i}">{e(t)}</a> ' for i, t in sections) + "</nav>"
    body.insert(1, nav)
    script_src, scripts = interactive.page_scripts()
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data: blob:; "
            f"style-src 'unsafe-inline'; {script_src}\"><meta name=\"viewport\" content=\"width=device-width, "
            f"initial-scale=1\"><title>gdbench history</title><style>{_CSS}{interactive.CSS}</style></head><body>\n"
            + "\n".join(body) + f"\n{scripts}\n</body></html>\n")
