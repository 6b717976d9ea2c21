"""Interactive figures (plotly.js) of report.html and history.html.

Each function returns a `Plot`: plotly traces and layout as plain JSON-ready
dicts (no plotly Python objects: building them is slow and adds nothing),
the x axes a reader may switch between, and the optimizers shown at first.
`page_scripts()` is what a page adds once, whatever its number of figures:
plotly.js itself (the copy the `plotly` package ships), gzipped and base64
encoded (1.9 MB instead of 4.8 MB), unpacked by the browser
(DecompressionStream) and loaded from a blob: URL, and interactive.js, which
draws each figure as it nears the viewport. Nothing is fetched: the page's
Content-Security-Policy allows only these scripts (by hash) and blob: URLs.

Readable with many optimizers: every optimizer is a legend group (a click on
its legend entry hides or shows its line and band together); the first
`TOP` of the figure's order (the tuned winners) are shown and the rest are
one click away ("all"). Colours and dashes are `plots.style_map`'s, the same
as the static figures' and as history.html's.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import gzip
import hashlib
import html
import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from bench.reporting import plots

TOP = 5  # optimizers shown at first in a figure of many
MAX_POINTS = 300  # per line, by plots.envelope (every extreme kept)
DIGITS = 4  # significant digits stored per value: far finer than a screen's pixel
DASH = {"-": "solid", "--": "dash", ":": "dot"}
SYMBOL = {"o": "circle", "s": "square", "^": "triangle-up"}
GREY = "#666666"
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', sans-serif", "size": 12}


@dataclasses.dataclass(frozen=True)
class Plot:
    """One interactive figure.

    data / layout: plotly.js traces and layout. xs: {key: {"title", "label",
    "type", "x": one list per trace (None: the trace keeps its x)}}, the x
    axes a reader can switch between, the first shown. groups: the legend
    groups (optimizers) the view buttons act on; top: those shown at first.
    links: whether a click on a point opens its `meta.links` entry.
    """

    data: list
    layout: dict
    xs: dict = dataclasses.field(default_factory=dict)
    groups: list = dataclasses.field(default_factory=list)
    top: list = dataclasses.field(default_factory=list)
    xaxes: tuple = ("xaxis",)
    links: bool = False

    def spec(self) -> dict:
        out = {"data": self.data, "layout": self.layout}
        if self.xs:
            out["xs"], out["xaxes"] = self.xs, list(self.xaxes)
        if self.groups:
            out["groups"], out["top"] = self.groups, self.top
        if self.links:
            out["links"] = True
        return out

    def html(self, label: str) -> str:
        """The figure's markup: controls, the plot's box, its spec (JSON, not run as a script)."""
        text = json.dumps(self.spec(), separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
        height = int(self.layout.get("height", 420))
        return (f'<div class="gd-figure" role="figure" aria-label="{html.escape(label)}"><div class="gd-controls">'
                f'</div><div class="gd-plot" style="min-height:{height}px"></div>'
                f'<script type="application/json" class="gd-spec">{text}</script></div>')


# --------------------------------------------------------------------------- the page's scripts


@functools.cache
def _plotly_packed() -> str:
    import plotly

    js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return base64.b64encode(gzip.compress(js.read_bytes(), compresslevel=6, mtime=0)).decode("ascii")


@functools.cache
def _driver() -> str:
    return resources.files("bench.reporting").joinpath("interactive.js").read_text(encoding="utf-8")


def page_scripts() -> tuple[str, str]:
    """(the Content-Security-Policy's script-src, the markup that loads plotly.js and draws the figures)."""
    code = _driver()
    digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii")
    markup = (f'<script type="application/octet-stream" id="gd-plotly">{_plotly_packed()}</script>\n'
              f"<script>{code}</script>")
    return f"script-src 'sha256-{digest}' blob:", markup


CSS = """
.gd-figure{margin:1em 0 .4em}.gd-controls{font-size:.85em;color:#444;min-height:1.6em}
.gd-controls span{margin-right:1.5em}.gd-controls button{font:inherit;margin:0 .2em;padding:.1em .6em;
border:1px solid #bbb;background:#fafafa;border-radius:3px;cursor:pointer}
.gd-controls button[aria-pressed=true]{background:#dde8f5;border-color:#7aa0cc}
"""


# --------------------------------------------------------------------------- values and styles


def values(a, digits: int = DIGITS) -> list:
    """A JSON list of `a`: `digits` significant digits, None where not finite (a gap in a line)."""
    out = []
    for v in np.asarray(a, dtype=float).tolist():
        out.append(float(f"{v:.{digits}g}") if math.isfinite(v) else None)
    return out


def _line(style: dict, width: float = 1.6, dash: bool = True) -> dict:
    return {"color": style["color"], "width": width, "dash": DASH[style["linestyle"]] if dash else "solid"}


def config_text(hyperparams: str) -> str:
    """'learning_rate=0.01, b1=0.9, ...' of a configuration's hyperparams JSON (the learning rate first)."""
    try:
        hp = json.loads(hyperparams)
    except (TypeError, ValueError):
        return str(hyperparams)
    keys = sorted(hp, key=lambda k: (k != "learning_rate", k))
    shown = [f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in ((k, hp[k]) for k in keys)]
    return html.escape(", ".join(shown))


def _wrap_hover(text: str, width: int = 70) -> str:
    """Long configuration texts over several hover lines."""
    words, lines, cur = text.split(", "), [], ""
    for w in words:
        if cur and len(cur) + len(w) > width:
            lines.append(cur + ",")
            cur = w
        else:
            cur = f"{cur}, {w}" if cur else w
    return "<br>".join([*lines, cur])


def seeds_text(seeds) -> str:
    seeds = sorted(int(s) for s in seeds)
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"median of seeds {', '.join(map(str, seeds))}"


def base_layout(title: str, height: int = 420, **axes) -> dict:
    out = {"title": {"text": title, "font": {"size": 14}}, "height": height, "font": FONT,
           "hovermode": "closest", "margin": {"l": 70, "r": 20, "t": 60, "b": 55},
           "legend": {"groupclick": "togglegroup", "font": {"size": 11}}, "plot_bgcolor": "white",
           "paper_bgcolor": "white"}
    for name, ax in axes.items():
        out[name] = {"showline": True, "linecolor": "#999", "gridcolor": "#e6e6e6", "zeroline": False,
                     "ticks": "outside", **ax}
    return out


def axis_title(text: str) -> dict:
    return {"text": text, "font": {"size": 12}}


def log_axis(values_: np.ndarray) -> str:
    """'log' where the positive values span at least two decades, else 'linear'."""
    v = np.asarray(values_, dtype=float)
    v = v[np.isfinite(v)]
    return "log" if len(v) and v.min() > 0 and v.max() / v.min() >= 100 else "linear"


def _pow2_ticks(hi: float) -> dict:
    ticks = [2.0 ** k for k in range(0, max(1, math.ceil(math.log2(max(hi, 2)))) + 1)]
    return {"tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks]}


def legend_groups(order, present) -> tuple[list, list]:
    groups = [o for o in order if o in set(present)] + sorted(set(present) - set(order))
    return groups, groups[:TOP]


def tuned_order(tuned: pd.DataFrame, instance: str) -> list[str]:
    """The optimizers of a problem, fastest to the target first (the interactive figures show the first few)."""
    t = tuned[tuned["instance"] == instance]
    return list(t.sort_values(["time_s", "steps", "subopt", "optimizer"], kind="stable")["optimizer"])


def hover_configs(tuned: pd.DataFrame, chosen: pd.DataFrame, instance: str) -> dict[str, tuple[str, str]]:
    """{optimizer: (its tuned configuration, its seeds)} on a problem: what a hover names."""
    seeds = chosen[chosen["instance"] == instance].groupby("optimizer")["seed"].unique()
    return {r.optimizer: (config_text(r.hyperparams), seeds_text(seeds.get(r.optimizer, [])))
            for r in tuned[tuned["instance"] == instance].itertuples(index=False)}


# --------------------------------------------------------------------------- convergence


def time_unit(seconds) -> tuple[float, str]:
    s = np.asarray(seconds, dtype=float)
    s = s[np.isfinite(s)]
    t_max = float(s.max()) if len(s) else 1.0
    return (1e6, "us") if t_max < 1e-3 else (1e3, "ms") if t_max < 1 else (1.0, "s")


def _band_pair(x, med, low, high, style, name: str, label: str) -> tuple[dict, dict]:
    """A band (high there, low back, filled) and its median line, one legend group."""
    band = {"type": "scatter", "mode": "lines", "x": values(np.concatenate([x, x[::-1]])),
            "y": values(np.concatenate([high, low[::-1]])), "fill": "toself", "fillcolor": style["color"],
            "opacity": 0.18, "line": {"width": 0}, "hoverinfo": "skip", "legendgroup": name, "showlegend": False,
            "name": f"{name} {label}"}
    median = {"type": "scatter", "mode": "lines", "x": values(x), "y": values(med), "name": name,
              "legendgroup": name, "line": _line(style)}
    return band, median


def convergence(bands: pd.DataFrame, instance: str, target: float | None, styles: dict, order: list,
                configs: dict, evals: pd.DataFrame | None = None, level: float = 0.95) -> Plot:
    """Relative suboptimality of each optimizer's tuned configuration against steps, time per trajectory,
    and function evaluations where the curves hold them (`evals`: instance, optimizer, step, evals).

    Args:
      bands: `analysis.convergence_bands`' table.
      order: the optimizers, best first (the first `TOP` shown).
      configs: {optimizer: (configuration text, seeds text)} of the tuned configurations.
    """
    part = bands[bands["instance"] == instance]
    finite = part["median"][np.isfinite(part["median"])]
    top = max(10.0, min(1e4, float(finite.max()) * 2 if len(finite) else 10.0))
    scale, unit = time_unit(part["seconds"])
    data, alt = [], {"steps": [], "time": [], "evals": []}
    has_evals = evals is not None and not evals.empty
    for optimizer, line in part.groupby("optimizer", sort=False):
        s = styles[optimizer]
        line = line.iloc[plots.envelope(np.log(np.maximum(line["median"].to_numpy(dtype=float), plots.FLOOR)),
                                        MAX_POINTS)]
        med = line["median"].to_numpy(dtype=float)
        med = np.where(np.isfinite(med), np.maximum(med, plots.FLOOR), np.nan)
        low = np.clip(line["low"].to_numpy(dtype=float), plots.FLOOR, top)
        high = np.clip(line["high"].to_numpy(dtype=float), plots.FLOOR, top)
        steps = line["step"].to_numpy(dtype=float)
        config, seeds = configs.get(optimizer, ("", ""))
        hover = (f"<b>{html.escape(optimizer)}</b><br>{_wrap_hover(config)}<br>{seeds}<br>{{X}}: %{{x:.4~g}}"
                 "<br>rel. suboptimality: %{y:.3~g}<extra></extra>")
        band, median = _band_pair(steps, med, low, high, s, optimizer, f"{level:.0%} CI")
        del band["x"], median["x"]  # interactive.js sets them from the axis chosen (`xs`)
        band["meta"], median["meta"] = {"band": len(data) + 1}, {"hover": hover}
        data += [band, median]
        alt["steps"] += [None, values(steps)]
        alt["time"] += [None, values(line["seconds"].to_numpy(dtype=float) * scale)]
        if has_evals:
            e = evals[(evals["instance"] == instance) & (evals["optimizer"] == optimizer)].set_index("step")["evals"]
            alt["evals"] += [None, values(e.reindex(steps).to_numpy(dtype=float))]
    groups, shown = legend_groups(order, part["optimizer"].unique())
    if target is not None and len(part):
        seconds = part["seconds"][np.isfinite(part["seconds"])] * scale
        data.append({"type": "scatter", "mode": "lines", "x": [0, float(part["step"].max())], "y": [target, target],
                     "name": f"target {target:.0e}", "line": {"color": GREY, "dash": "dot", "width": 1.2},
                     "hovertemplate": f"target {target:.0e}<extra></extra>"})
        alt["steps"].append([0, float(part["step"].max())])
        alt["time"].append([0, float(seconds.max()) if len(seconds) else 1.0])
        if has_evals:
            e = evals.loc[evals["instance"] == instance, "evals"]
            alt["evals"].append([0, float(e[np.isfinite(e)].max()) if len(e) else 1.0])
    xs = {"steps": {"title": "steps", "label": "step", "type": "linear", "x": alt["steps"]},
          "time": {"title": f"time per trajectory ({unit})", "label": f"time ({unit})", "type": "linear",
                   "x": alt["time"]}}
    if has_evals:
        xs["evals"] = {"title": "function evaluations", "label": "evaluations", "type": "linear", "x": alt["evals"]}
    layout = base_layout(f"Convergence on {html.escape(instance)}",
                     xaxis={"title": axis_title("steps")},
                     yaxis={"title": axis_title("relative suboptimality (f - f*) / (f0 - f*)"), "type": "log",
                            "range": [math.log10(plots.FLOOR / 2), math.log10(top)], "exponentformat": "power"})
    return Plot(data, layout, xs, groups, shown)


# --------------------------------------------------------------------------- learning rates


def lr_sensitivity(table: pd.DataFrame, instance: str, target: float | None, styles: dict, order: list,
                   seeds: str) -> Plot:
    """Final suboptimality and steps to target against the learning rate, every configuration of the grid."""
    part = table[table["instance"] == instance]
    sub = part["median_subopt"].to_numpy(dtype=float)
    ok_all = np.isfinite(sub) & (part["diverged_share"].to_numpy() <= 0.5)
    top = max(10.0, min(1e4, float(sub[ok_all].max()) * 2 if ok_all.any() else 10.0))
    data = []
    for optimizer, rows in part.groupby("optimizer", sort=False):
        rows = rows.sort_values("lr")
        s = styles[optimizer]
        lr = rows["lr"].to_numpy(dtype=float)
        y = rows["median_subopt"].to_numpy(dtype=float)
        ok = np.isfinite(y) & (rows["diverged_share"].to_numpy() <= 0.5)
        text = [_wrap_hover(config_text(h)) for h in rows["hyperparams"]]
        head = f"<b>{html.escape(optimizer)}</b><br>%{{text}}<br>{seeds}<br>"
        marker = {"symbol": SYMBOL[s["marker"]], "size": 6, "color": s["color"]}
        data.append({"type": "scatter", "mode": "lines+markers", "x": values(lr),
                     "y": values(np.where(ok, np.maximum(y, plots.FLOOR), np.nan)), "text": text, "name": optimizer,
                     "legendgroup": optimizer, "line": _line(s, 1.3), "marker": marker,
                     "hovertemplate": head + "final rel. suboptimality: %{y:.3~g}<extra></extra>"})
        if (~ok).any():
            data.append({"type": "scatter", "mode": "markers", "x": values(lr[~ok]),
                         "y": [top / 1.5] * int((~ok).sum()), "text": [t for t, k in zip(text, ok) if not k],
                         "legendgroup": optimizer, "showlegend": False, "name": f"{optimizer} diverged",
                         "marker": {"symbol": "x", "size": 8, "color": s["color"]},
                         "hovertemplate": head + "most seeds diverged<extra></extra>"})
        steps = rows["median_steps"].to_numpy(dtype=float)
        data.append({"type": "scatter", "mode": "lines+markers", "x": values(lr), "y": values(steps), "text": text,
                     "xaxis": "x2", "yaxis": "y2", "legendgroup": optimizer, "showlegend": False, "name": optimizer,
                     "line": _line(s, 1.3), "marker": marker,
                     "hovertemplate": head + "steps to target: %{y:.4~g}<extra></extra>"})
    hits = part["median_steps"][np.isfinite(part["median_steps"])]
    if target is not None:
        lrs = part["lr"][np.isfinite(part["lr"])]
        span = [float(lrs.min()), float(lrs.max())] if len(lrs) else [1e-3, 1.0]
        data.append({"type": "scatter", "mode": "lines", "x": span, "y": [target, target],
                     "name": f"target {target:.0e}", "line": {"color": GREY, "dash": "dot", "width": 1.2},
                     "hovertemplate": f"target {target:.0e}<extra></extra>"})
    groups, shown = legend_groups(order, part["optimizer"].unique())
    layout = base_layout(
        f"Learning-rate sensitivity on {html.escape(instance)} (every configuration, median over seeds)",
        xaxis={"domain": [0, 0.46], "type": "log", "title": axis_title("learning rate")},
        yaxis={"type": "log", "range": [math.log10(plots.FLOOR / 2), math.log10(top)], "exponentformat": "power",
               "title": axis_title("final rel. suboptimality (x: most seeds diverged)")},
        xaxis2={"domain": [0.56, 1], "type": "log", "title": axis_title("learning rate"), "anchor": "y2"},
        yaxis2={"anchor": "x2", "type": log_axis(hits), "rangemode": "tozero",
                "title": axis_title("steps to target (no point: not reached)")})
    return Plot(data, layout, {}, groups, shown)


# --------------------------------------------------------------------------- profiles


def _step_trace(x, y, style, name, axis: int, hover: str) -> dict:
    out = {"type": "scatter", "mode": "lines", "x": values(x), "y": values(y), "name": name, "legendgroup": name,
           "line": {**_line(style), "shape": "hv"}, "hovertemplate": hover, "showlegend": axis == 1}
    if axis > 1:
        out["xaxis"], out["yaxis"] = f"x{axis}", f"y{axis}"
    return out


def panels(n: int, gap: float = 0.07) -> list[list[float]]:
    width = (1 - gap * (n - 1)) / n
    return [[round(i * (width + gap), 4), round(i * (width + gap) + width, 4)] for i in range(n)]


def axis_names(i: int) -> tuple[str, str]:
    return ("xaxis", "yaxis") if i == 1 else (f"xaxis{i}", f"yaxis{i}")


def performance_profiles(profiles_: dict[str, pd.DataFrame], r_max: float, styles: dict, order: list) -> Plot:
    """Dolan-More profiles, one panel per measure, log2 x axis, r_max dotted."""
    data, axes, present = [], {}, set()
    domains = panels(max(1, len(profiles_)))
    for i, ((title, prof), dom) in enumerate(zip(profiles_.items(), domains), start=1):
        tmax = max(r_max, float(prof["tau"].max()) if len(prof) else r_max) * 1.25
        for solver, rows in prof.groupby("solver", sort=False):
            rows = rows.sort_values("tau")
            x = np.append(rows["tau"].to_numpy(dtype=float), tmax)
            y = np.append(rows["rho"].to_numpy(dtype=float), rows["rho"].iloc[-1])
            hover = f"<b>{html.escape(solver)}</b><br>tau: %{{x:.3~g}}<br>share of problems: %{{y:.2f}}<extra></extra>"
            data.append(_step_trace(x, y, styles[solver], solver, i, hover))
            present.add(solver)
        line = {"type": "scatter", "mode": "lines", "x": [r_max, r_max], "y": [0, 1], "name": f"r_max = {r_max:g}",
                "legendgroup": "r_max", "showlegend": i == 1, "line": {"color": GREY, "dash": "dot", "width": 1.2},
                "hovertemplate": f"r_max = {r_max:g}<extra></extra>"}
        if i > 1:
            line["xaxis"], line["yaxis"] = f"x{i}", f"y{i}"
        data.append(line)
        xa, ya = axis_names(i)
        axes[xa] = {"domain": dom, "type": "log", "range": [0, math.log10(tmax)], **_pow2_ticks(tmax),
                    "title": axis_title(f"{title}: ratio tau = cost / best cost")}
        label = axis_title("share of problems with ratio <= tau") if i == 1 else None
        axes[ya] = {"range": [-0.02, 1.02], "title": label}
        if i > 1:
            axes[xa]["anchor"], axes[ya]["anchor"] = f"y{i}", f"x{i}"
    groups, shown = legend_groups(order, present)
    return Plot(data, base_layout("Performance profiles", **axes), {}, groups, shown)


def data_profiles(profile: pd.DataFrame, styles: dict, order: list) -> Plot:
    """More-Wild data profiles, one panel per tolerance tau, log x axis."""
    taus = list(dict.fromkeys(profile["tau"]))
    pos = profile["alpha"][profile["alpha"] > 0]
    hi = float(pos.max()) * 2 if len(pos) else 10.0
    lo = min(float(pos.min()) / 2 if len(pos) else 0.1, hi / 10)
    data, axes = [], {}
    for i, (tau, dom) in enumerate(zip(taus, panels(max(1, len(taus)), 0.05)), start=1):
        part = profile[profile["tau"] == tau]
        for solver, rows in part.groupby("solver", sort=False):
            rows = rows[rows["alpha"] > 0].sort_values("alpha")
            d = rows["d"].to_numpy(dtype=float)
            x = np.concatenate([[lo], rows["alpha"].to_numpy(dtype=float), [hi]])
            y = np.concatenate([[0.0], d, [d[-1] if len(d) else 0.0]])
            hover = (f"<b>{html.escape(solver)}</b><br>tau = {tau:.0e}<br>budget alpha: %{{x:.3~g}}<br>"
                     "share solved: %{y:.2f}<extra></extra>")
            data.append(_step_trace(x, y, styles[solver], solver, i, hover))
        xa, ya = axis_names(i)
        axes[xa] = {"domain": dom, "type": "log", "range": [math.log10(lo), math.log10(hi)],
                    "title": axis_title(f"tau = {tau:.0e}: budget alpha")}
        axes[ya] = {"range": [-0.02, 1.02], "title": axis_title("share of problems solved") if i == 1 else None}
        if i > 1:
            axes[xa]["anchor"], axes[ya]["anchor"] = f"y{i}", f"x{i}"
    groups, shown = legend_groups(order, profile["solver"].unique())
    return Plot(data, base_layout("Data profiles (budget in gradient evaluations / (n + 1))", **axes), {}, groups,
                shown)


def runtime_ecdf(ecdf: pd.DataFrame, unit: str, styles: dict, order: list) -> Plot:
    """COCO's runtime ECDF (`bench.stats.coco.ecdf_table`), one panel per dimension, log x axis."""
    dims = sorted(ecdf["dim"].unique())
    drawn = ecdf[ecdf["budget"] >= 1]
    hi = max(float(drawn["budget"].max()) if len(drawn) else 10.0, 10.0)
    data, axes = [], {}
    for i, (dim, dom) in enumerate(zip(dims, panels(max(1, len(dims)), 0.05)), start=1):
        for optimizer, rows in drawn[drawn["dim"] == dim].groupby("optimizer", sort=False):
            rows = rows.sort_values("budget")
            hover = (f"<b>{html.escape(optimizer)}</b><br>dimension {dim}<br>budget: %{{x:.4~g}} {unit}<br>"
                     "share of (function, instance, seed, target): %{y:.3f}<extra></extra>")
            data.append(_step_trace(rows["budget"].to_numpy(dtype=float), rows["ecdf"].to_numpy(dtype=float),
                                    styles[optimizer], optimizer, i, hover))
        xa, ya = axis_names(i)
        axes[xa] = {"domain": dom, "type": "log", "range": [0, math.log10(hi)],
                    "title": axis_title(f"dimension {dim}: budget ({unit})")}
        axes[ya] = {"range": [-0.02, 1.02], "title": axis_title("share of pairs reached") if i == 1 else None}
        if i > 1:
            axes[xa]["anchor"], axes[ya]["anchor"] = f"y{i}", f"x{i}"
    groups, shown = legend_groups(order, ecdf["optimizer"].unique())
    return Plot(data, base_layout("Runtime ECDF over (function, instance, seed, target), per dimension", **axes), {},
                groups, shown)


# --------------------------------------------------------------------------- stochastic problems


def loss_bands(bands: pd.DataFrame, instances, styles: dict, order: list, configs: dict,
               quantiles=(0.1, 0.9)) -> Plot:
    """Full-batch loss over seeds, one panel per instance (batch size): median and the seeds' quantile band.

    configs: {(instance, optimizer): (configuration text, seeds text)}.
    """
    instances = list(instances)
    drawn = bands[bands["instance"].isin(instances)]
    finite = drawn[["median", "low", "high"]].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    log = len(finite) > 0 and finite.min() > 0
    top = float(finite.max()) * (2 if log else 1) if len(finite) else 1.0
    band = f"{quantiles[0]:.0%}-{quantiles[1]:.0%} of the seeds"
    data, axes = [], {}
    for i, (instance, dom) in enumerate(zip(instances, panels(max(1, len(instances)))), start=1):
        for optimizer, line in bands[bands["instance"] == instance].groupby("optimizer", sort=False):
            s = styles[optimizer]
            line = line.iloc[plots.envelope(line["median"].to_numpy(dtype=float), MAX_POINTS)]
            x = line["step"].to_numpy(dtype=float)
            med, low, high = (np.minimum(line[k].to_numpy(dtype=float), top) for k in ("median", "low", "high"))
            config, seeds = configs.get((instance, optimizer), ("", ""))
            hover = (f"<b>{html.escape(optimizer)}</b><br>{_wrap_hover(config)}<br>{seeds}<br>step: %{{x}}<br>"
                     "full-batch loss: %{y:.4~g}<extra></extra>")
            pair = _band_pair(x, med, low, high, s, optimizer, band)
            pair[1].update(hovertemplate=hover, showlegend=i == 1)
            if i > 1:
                for t in pair:
                    t["xaxis"], t["yaxis"] = f"x{i}", f"y{i}"
            data += pair
        xa, ya = axis_names(i)
        axes[xa] = {"domain": dom, "title": axis_title(f"{html.escape(instance)}: steps")}
        axes[ya] = {"type": "log" if log else "linear", "exponentformat": "power",
                    "title": axis_title("full-batch loss f(x)") if i == 1 else None}
        if i > 1:
            axes[xa]["anchor"], axes[ya]["anchor"] = f"y{i}", f"x{i}"
    groups, shown = legend_groups(order, drawn["optimizer"].unique())
    return Plot(data, base_layout(f"Full-batch loss at the tuned configurations: median over seeds and {band}",
                              **axes), {}, groups, shown)


def batch_scaling(table: pd.DataFrame, critical: pd.DataFrame, problem: str, target: float | None,
                  styles: dict, order: list) -> Plot:
    """Steps to target against the batch size (log2), the full batch dashed, the critical batch size ringed."""
    part = table[table["problem"] == problem]
    crit = critical[critical["problem"] == problem].set_index("optimizer")
    data = []
    for optimizer, line in part.groupby("optimizer", sort=False):
        s = styles[optimizer]
        mini = line[line["batch_size"] > 0]
        x, y = mini["batch_size"].to_numpy(dtype=float), mini["steps"].to_numpy(dtype=float)
        lr = [f"lr {v:.3g}" if math.isfinite(v) else "" for v in mini["learning_rate"]]
        head = f"<b>{html.escape(optimizer)}</b><br>%{{text}}<br>batch size: %{{x}}<br>"
        data.append({"type": "scatter", "mode": "lines+markers", "x": values(x), "y": values(y), "text": lr,
                     "name": optimizer, "legendgroup": optimizer, "line": _line(s, 1.4),
                     "marker": {"symbol": SYMBOL[s["marker"]], "size": 7, "color": s["color"]},
                     "hovertemplate": head + "steps to target (median over seeds): %{y:.4~g}<extra></extra>"})
        full = line.loc[line["batch_size"] == 0, "steps"]
        if len(full) and np.isfinite(full.iloc[0]) and len(x):
            data.append({"type": "scatter", "mode": "lines", "x": [float(x.min()), float(x.max())],
                         "y": [float(full.iloc[0])] * 2, "legendgroup": optimizer, "showlegend": False,
                         "name": f"{optimizer} full batch", "line": {"color": s["color"], "dash": "dash", "width": 1},
                         "hovertemplate": f"<b>{html.escape(optimizer)}</b><br>full batch: %{{y:.4~g}} steps"
                                          "<extra></extra>"})
        if optimizer in crit.index and np.isfinite(crit.loc[optimizer, "critical_batch_size"]):
            b = float(crit.loc[optimizer, "critical_batch_size"])
            y_b = mini.loc[mini["batch_size"] == b, "steps"]
            if len(y_b) and np.isfinite(y_b.iloc[0]):
                data.append({"type": "scatter", "mode": "markers", "x": [b], "y": [float(y_b.iloc[0])],
                             "legendgroup": optimizer, "showlegend": False, "name": f"{optimizer} critical",
                             "marker": {"symbol": "circle-open", "size": 18, "color": s["color"]},
                             "hovertemplate": f"<b>{html.escape(optimizer)}</b><br>critical batch size %{{x}}"
                                              "<extra></extra>"})
    sizes = sorted(float(b) for b in part["batch_size"].unique() if b > 0)
    steps = part["steps"][np.isfinite(part["steps"])]
    tgt = f" {target:.0e}" if target else ""
    layout = base_layout(f"Steps to target against batch size on {html.escape(problem)} (dashed: full batch; "
                     "ringed: critical batch size)",
                     xaxis={"type": "log", "tickvals": sizes, "ticktext": [f"{b:g}" for b in sizes],
                            "title": axis_title("batch size")},
                     yaxis={"type": log_axis(steps), "title": axis_title(f"steps to target{tgt} (median over seeds)")})
    groups, shown = legend_groups(order, part["optimizer"].unique())
    return Plot(data, layout, {}, groups, shown)


# --------------------------------------------------------------------------- 2-D paths


def _thin(n: int, max_points: int = 400) -> np.ndarray:
    """Indices of a path of n points to draw: evenly spaced, the first and last kept."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(int))


def paths(problem, chosen: pd.DataFrame, path_table: pd.DataFrame, instance: str, styles: dict, order: list,
          configs: dict, grid: int = 90) -> Plot:
    """The tuned configurations' paths over the loss contours of a 2-D problem, on one zoomable axis.

    The contours are of log10(f - min f + a small gap), so their levels are geometric (as the static figure's).
    chosen: one runs row per optimizer (its tuned configuration, one seed); configs: {optimizer: text}.
    """
    X, Y, Z = plots.loss_grid(problem, grid)
    fin = Z[np.isfinite(Z)]
    zmin = float(fin.min())
    span = max(float(fin.max()) - zmin, 1e-12)
    with np.errstate(invalid="ignore"):
        logz = np.log10(np.where(np.isfinite(Z), Z - zmin, np.nan) + span * 1e-4)
    data = [{"type": "contour", "x": values(X[0]), "y": values(Y[:, 0]), "z": [values(r, 3) for r in logz],
             "colorscale": [[0, "#f4f4f4"], [1, "#8c8c8c"]], "showscale": False, "ncontours": 16,
             "contours": {"coloring": "lines"}, "line": {"width": 0.7}, "name": "loss contours",
             "hovertemplate": "x[0]=%{x:.3~g}, x[1]=%{y:.3~g}<br>log10(f - min f): %{z:.2f}<extra></extra>",
             "showlegend": False}]
    drawn = []
    for row in chosen.itertuples(index=False):
        pts = path_table[path_table["run_id"] == row.run_id].pivot(index="step", columns="coord", values="value")
        if len(pts.columns) >= 2:
            keep = _thin(len(pts))
            drawn.append((row, pts.index.to_numpy()[keep], pts[0].to_numpy(dtype=float)[keep],
                          pts[1].to_numpy(dtype=float)[keep]))
    points = [np.stack([px, py], 1) for *_, px, py in drawn]  # every path's losses in one call: one compile
    losses = (np.split(plots.loss_at(problem, np.concatenate(points)), np.cumsum([len(p) for p in points])[:-1])
              if points else [])
    for (row, steps, px, py), loss in zip(drawn, losses):
        s = styles[row.optimizer]
        hover = (f"<b>{html.escape(row.optimizer)}</b><br>{_wrap_hover(configs.get(row.optimizer, ''))}<br>"
                 f"seed {int(row.seed)}<br>step %{{text}}<br>x = (%{{x:.4~g}}, %{{y:.4~g}})<br>"
                 "loss: %{customdata:.4~g}<extra></extra>")
        data.append({"type": "scatter", "mode": "lines+markers", "x": values(px, 6), "y": values(py, 6),
                     "text": [str(int(v)) for v in steps], "customdata": values(loss),
                     "name": row.optimizer, "legendgroup": row.optimizer, "line": _line(s, 1.4),
                     "marker": {"size": [7] + [2] * (len(px) - 2) + [7] if len(px) > 1 else [7],
                                "symbol": ["circle"] + ["circle"] * (len(px) - 2) + ["square"] if len(px) > 1
                                else ["circle"], "color": s["color"]},
                     "hovertemplate": hover})
    star = None if problem.x_star is None else np.asarray(problem.x_star, dtype=float).ravel()
    if star is not None and star.size == 2:
        data.append({"type": "scatter", "mode": "markers", "x": values(star[:1]), "y": values(star[1:]),
                     "name": "optimum", "marker": {"symbol": "star", "size": 14, "color": "black"},
                     "hovertemplate": "optimum (%{x:.4~g}, %{y:.4~g})<extra></extra>"})
    (x0, x1), (y0, y1) = problem.bounds
    seed = int(chosen["seed"].iloc[0]) if len(chosen) else 0
    layout = base_layout(f"Paths on {html.escape(instance)} (seed {seed}; circle: start, square: end); drag to zoom",
                     height=560, xaxis={"range": [x0, x1], "title": axis_title("x[0]")},
                     yaxis={"range": [y0, y1], "title": axis_title("x[1]")})
    groups, shown = legend_groups(order, chosen["optimizer"].unique())
    return Plot(data, layout, {}, groups, shown)


def evals_curves(chosen: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame | None:
    """(instance, optimizer, step, evals): the median over seeds of the function evaluations made by each
    recorded step, where curves.parquet holds them (an `evals` column); None otherwise (the x axis then
    offers steps and time only)."""
    if "evals" not in curves.columns:
        return None
    c = curves[curves["run_id"].isin(chosen["run_id"])].merge(chosen[["run_id", "instance", "optimizer"]],
                                                               on="run_id")
    return c.groupby(["instance", "optimizer", "step"], sort=False)["evals"].median().reset_index()
