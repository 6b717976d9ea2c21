"""Figures of a results folder (matplotlib, Agg; saved as PNG, SVG and PDF on request).

Each function takes the analysis DataFrames (`bench.stats.analysis`) and returns a
`matplotlib.figure.Figure` without pyplot (no global state, no GUI backend:
PNGs are drawn by Agg, SVGs and PDFs by matplotlib's writers); `save` writes it
in the formats asked for. A PDF embeds its fonts as TrueType (Type 42), which
journals' checks accept and editors can change, not as Type 3.

Every optimizer keeps one style in every figure of a report: `style_map(names)`
gives the run's optimizers, sorted, a colour of the Okabe-Ito palette
(colour-blind safe; its yellow left out, too pale on white) and, past 7
optimizers, a line style and marker as well (21 distinct styles). Pass the
same `styles` to each figure; by default a figure styles the optimizers it
shows. Legends sit below the axes, so they hide no data and no title.
"""

from __future__ import annotations

import io
import math
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

# Okabe & Ito (2008), "Color Universal Design": orange, sky blue, bluish green,
# blue, vermillion, reddish purple, black.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#000000")
LINESTYLES = ("-", "--", ":")
MARKERS = ("o", "s", "^")
FLOOR = 1e-10  # relative suboptimality drawn at the bottom of log axes
DPI = 110
PNG_COLORS = 256
FORMATS = ("png", "svg", "pdf")


def style_map(names) -> dict[str, dict]:
    """{optimizer: {color, linestyle, marker}} for these optimizers, in sorted order."""
    out = {}
    for i, name in enumerate(sorted(set(names))):
        k = (i // len(PALETTE)) % len(LINESTYLES)
        out[name] = {"color": PALETTE[i % len(PALETTE)], "linestyle": LINESTYLES[k], "marker": MARKERS[k]}
    return out


def _handles(st: dict, names, markers: bool) -> list[Line2D]:
    return [Line2D([], [], color=st[n]["color"], linestyle=st[n]["linestyle"],
                   marker=st[n]["marker"] if markers else None, markersize=4, label=n) for n in names]


def _legend(fig: Figure, st: dict, names, extra: list | None = None, markers: bool = False) -> None:
    """The figure's legend below its axes, in as many columns as its width holds: a legend in the
    right margin spans the figure's height, so a long title ran into it."""
    handles = _handles(st, names, markers) + (extra or [])
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=legend_columns(fig, handles),
                   fontsize="small", frameon=False)


def legend_columns(fig: Figure, handles) -> int:
    """Columns of a legend as wide as the figure at most (labels at ~0.065 in per character in the
    legend's small font, plus the line sample and the spacing), the rows balanced."""
    longest = max(len(h.get_label()) for h in handles)
    fit = max(1, int(0.95 * fig.get_figwidth() // (0.065 * longest + 0.75)))
    rows = math.ceil(len(handles) / fit)
    return math.ceil(len(handles) / rows)


def _figure(rows: int, cols: int, width: float = 4.8, height: float = 3.9, **kw) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(width * cols + 0.4, height * rows + 0.5), layout="constrained")  # + the legend
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False, **kw))
    return fig, axes


def save(fig: Figure, folder: str | Path, name: str, formats=("png",)) -> dict[str, Path]:
    """Writes `name.<format>` into `folder` for each of `formats` (FORMATS); returns {format: path}."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"formats must be a non-empty list of {', '.join(FORMATS)}, got {list(formats)!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {f: folder / f"{name}.{f}" for f in dict.fromkeys(formats)}
    engine = fig.get_layout_engine()
    try:
        for i, (fmt, path) in enumerate(out.items()):
            if i == 1:  # the layout found for the first format holds for the next (same size): not solved twice
                fig.set_layout_engine("none")
            if fmt == "png":
                _save_png(fig, path)
            elif fmt == "pdf":
                with matplotlib.rc_context({"pdf.fonttype": 42}):  # no creation date: the same figure, the same file
                    fig.savefig(path, metadata={"CreationDate": None})
            else:
                fig.savefig(path, metadata={"Date": None})
    finally:
        fig.set_layout_engine(engine)
    return out


def _save_png(fig: Figure, path: Path) -> None:
    """A PNG of PNG_COLORS colours: the figures' few colours and their anti-aliasing fit in a
    palette, and the file is a quarter of Agg's true-colour one (results/README.md)."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    buf.seek(0)
    with PILImage.open(buf) as im:
        small = im.convert("RGB").quantize(PNG_COLORS, method=PILImage.Quantize.FASTOCTREE)
    small.save(path, format="PNG", optimize=True)


def envelope(y: np.ndarray, max_points: int = 800) -> np.ndarray:
    """Indices of `y` to draw that keep its look: per bucket, the first point, the lowest and the highest.

    A line of more points than pixels draws the same from each bucket's
    extremes (oscillations stay visible, nothing is averaged away); the figure
    files get smaller and faster to write.
    """
    n = len(y)
    if n <= max_points:
        return np.arange(n)
    size = math.ceil(3 * n / max_points)
    starts = np.arange(0, n, size)
    padded = np.full(len(starts) * size, np.nan)
    padded[:n] = np.where(np.isfinite(y), y, np.nan)
    buckets = padded.reshape(len(starts), size)
    has = ~np.all(np.isnan(buckets), axis=1)
    low = starts + np.where(has, np.nanargmin(np.where(has[:, None], buckets, 0.0), axis=1), 0)
    high = starts + np.where(has, np.nanargmax(np.where(has[:, None], buckets, 0.0), axis=1), 0)
    return np.unique(np.concatenate([starts, low, high, [n - 1]]))


def _wrap(text: str, width: int = 48) -> str:
    return textwrap.fill(text, width, break_long_words=False)


def _fmt_target(target: float) -> str:
    return f"{target:.0e}".replace("e-0", "e-")


# --------------------------------------------------------------------------- convergence


def convergence(bands: pd.DataFrame, instances=None, target: float | None = None,
                xs=("steps", "seconds"), level: float = 0.95, styles: dict | None = None) -> Figure:
    """Relative suboptimality against steps and time per trajectory, one row of panels per problem.

    Args:
      bands: `analysis.convergence_bands`' table (median over seeds and its band).
      instances: the problems to draw (default: all, in table order).
      target: the primary target, drawn as a dotted line.
      xs: the x axes, "steps" and/or "seconds".
      level: the band's confidence level (for the legend).
      styles: `style_map(...)` of the report (default: of the optimizers drawn).
    """
    instances = list(dict.fromkeys(bands["instance"])) if instances is None else list(instances)
    fig, axes = _figure(max(1, len(instances)), len(xs))
    drawn = bands[bands["instance"].isin(instances)]
    seconds = drawn["seconds"][np.isfinite(drawn["seconds"])]
    t_max = float(seconds.max()) if len(seconds) else 1.0
    t_scale, t_unit = (1e6, "us") if t_max < 1e-3 else (1e3, "ms") if t_max < 1 else (1.0, "s")
    st = styles or style_map(drawn["optimizer"])
    names = []
    for i, instance in enumerate(instances):
        part = bands[bands["instance"] == instance]
        finite = part["median"][np.isfinite(part["median"])]
        top = max(10.0, min(1e4, float(finite.max()) * 2 if len(finite) else 10.0))
        for j, x in enumerate(xs):
            ax = axes[i, j]
            for optimizer, line in part.groupby("optimizer", sort=False):
                s = st[optimizer]
                keep = envelope(np.log(np.maximum(line["median"].to_numpy(dtype=float), FLOOR)))
                line = line.iloc[keep]
                med = line["median"].to_numpy(dtype=float)
                low = np.clip(line["low"].to_numpy(dtype=float), FLOOR, top)
                high = np.clip(line["high"].to_numpy(dtype=float), FLOOR, top)
                med = np.where(np.isfinite(med), np.maximum(med, FLOOR), np.nan)
                if x == "steps":
                    xv = line["step"].to_numpy(dtype=float)
                else:
                    xv = line["seconds"].to_numpy(dtype=float) * t_scale
                ax.fill_between(xv, low, high, color=s["color"], alpha=0.15, linewidth=0)
                ax.plot(xv, med, color=s["color"], linestyle=s["linestyle"], linewidth=1.4)
                if optimizer not in names:
                    names.append(optimizer)
            if target is not None:
                ax.axhline(target, color="0.4", linestyle=":", linewidth=1)
            ax.set_yscale("log")
            ax.set_ylim(FLOOR / 2, top)
            ax.set_xlabel("steps" if x == "steps" else f"time per trajectory ({t_unit}): steps x its share of a step")
            ax.set_ylabel("relative suboptimality (f - f*) / (f0 - f*)")
            what = "against steps" if x == "steps" else "against time per trajectory"
            ax.set_title(what if len(instances) == 1 else f"{_wrap(instance)}\n{what}", fontsize="medium")
            ax.grid(True, which="major", alpha=0.3)
    extra = [Line2D([], [], color="0.4", linestyle=":", label=f"target {_fmt_target(target)}")] if target else []
    extra.append(Patch(color="0.6", alpha=0.3, label=f"{level:.0%} CI of the median"))
    _legend(fig, st, names, extra)
    head = f"{_wrap(instances[0], 90)}\n" if len(instances) == 1 else ""
    fig.suptitle(f"{head}convergence at each optimizer's tuned configuration (median over seeds; values under "
                 f"{FLOOR:.0e} drawn at it)", fontsize="medium")
    return fig


def loss_bands(bands: pd.DataFrame, instances, quantiles=(0.1, 0.9), styles: dict | None = None) -> Figure:
    """The full-batch loss against steps over seeds, one panel per instance (batch size).

    Args:
      bands: `analysis.loss_bands`' table (median over seeds and the quantiles' band).
      instances: the instances to draw, one panel each.
      quantiles: the band's quantiles (for the legend).
      styles: `style_map(...)` of the report.
    """
    instances = list(instances)
    fig, axes = _figure(1, max(1, len(instances)), sharey=True)
    drawn = bands[bands["instance"].isin(instances)]
    st = styles or style_map(drawn["optimizer"])
    values = drawn[["median", "low", "high"]].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    log = len(finite) > 0 and finite.min() > 0
    names = []
    for j, instance in enumerate(instances):
        ax = axes[0, j]
        for optimizer, line in bands[bands["instance"] == instance].groupby("optimizer", sort=False):
            s = st[optimizer]
            x = line["step"].to_numpy(dtype=float)
            med, low, high = (line[k].to_numpy(dtype=float) for k in ("median", "low", "high"))
            top = float(finite.max()) * (2 if log else 1) if len(finite) else 1.0
            ax.fill_between(x, np.minimum(low, top), np.minimum(high, top), color=s["color"], alpha=0.2, linewidth=0)
            ax.plot(x, np.where(np.isfinite(med), med, np.nan), color=s["color"], linestyle=s["linestyle"],
                    linewidth=1.4)
            if optimizer not in names:
                names.append(optimizer)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("steps")
        ax.set_ylabel("full-batch loss f(x)")
        ax.set_title(_wrap(instance), fontsize="medium")
        ax.grid(True, which="major", alpha=0.3)
    band = f"{quantiles[0]:.0%}-{quantiles[1]:.0%} of the seeds"
    _legend(fig, st, names, [Patch(color="0.6", alpha=0.3, label=band)])
    fig.suptitle(f"full-batch loss at each optimizer's tuned configuration: median over seeds and {band}",
                 fontsize="medium")
    return fig


def batch_scaling(table: pd.DataFrame, critical: pd.DataFrame, problem: str, target: float | None = None,
                  styles: dict | None = None) -> Figure:
    """Steps to target against the batch size at each batch size's tuned configuration, per optimizer.

    Args:
      table: `analysis.steps_by_batch`' table (batch size 0: the full batch, a dashed line).
      critical: `analysis.critical_batch_sizes`' table: each optimizer's critical batch size, ringed.
      problem: the base instance drawn.
    """
    part = table[table["problem"] == problem]
    crit = critical[critical["problem"] == problem].set_index("optimizer")
    fig, axes = _figure(1, 1, width=5.6)
    ax = axes[0, 0]
    st = styles or style_map(part["optimizer"])
    names = []
    for optimizer, line in part.groupby("optimizer", sort=False):
        s = st[optimizer]
        mini = line[line["batch_size"] > 0]
        x, y = mini["batch_size"].to_numpy(dtype=float), mini["steps"].to_numpy(dtype=float)
        ax.plot(x, np.where(np.isfinite(y), y, np.nan), color=s["color"], linestyle=s["linestyle"],
                marker=s["marker"], markersize=5, linewidth=1.4)
        missed = ~np.isfinite(y)
        if missed.any():  # a miss: a cross on the top edge
            ax.plot(x[missed], np.ones(missed.sum()), linestyle="none", marker="x", color=s["color"],
                    transform=ax.get_xaxis_transform(), clip_on=False)
        full = line.loc[line["batch_size"] == 0, "steps"]
        if len(full) and np.isfinite(full.iloc[0]):
            ax.axhline(float(full.iloc[0]), color=s["color"], linestyle="--", linewidth=0.9, alpha=0.7)
        if optimizer in crit.index and np.isfinite(crit.loc[optimizer, "critical_batch_size"]):
            b = float(crit.loc[optimizer, "critical_batch_size"])
            y_b = mini.loc[mini["batch_size"] == b, "steps"]
            if len(y_b) and np.isfinite(y_b.iloc[0]):
                ax.plot([b], [float(y_b.iloc[0])], marker="o", markersize=13, markerfacecolor="none",
                        markeredgecolor=s["color"], linestyle="none")
        names.append(optimizer)
    ax.set_xscale("log", base=2)
    sizes = sorted(b for b in part["batch_size"].unique() if b > 0)
    ax.set_xticks(sizes, [str(int(b)) for b in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("steps to target" + (f" {_fmt_target(target)}" if target else "") + " (median over seeds)")
    ax.grid(True, which="major", alpha=0.3)
    extra = [Line2D([], [], color="0.4", linestyle="--", label="full batch"),
             Line2D([], [], color="0.4", marker="o", markerfacecolor="none", markersize=10, linestyle="none",
                    label="critical batch size"),
             Line2D([], [], color="0.4", marker="x", linestyle="none", label="target missed (top edge)")]
    _legend(fig, st, names, extra, markers=True)
    ax.set_title(f"{_wrap(problem, 44)}\nsteps to target against batch size\n(best learning rate per batch size)",
                 fontsize="medium")
    return fig


# --------------------------------------------------------------------------- learning rates


def lr_sensitivity(table: pd.DataFrame, instance: str, target: float | None = None,
                   styles: dict | None = None) -> Figure:
    """Final suboptimality and steps to target against the learning rate, per optimizer.

    Args:
      table: `tuning.per_config` rows with an `lr` column (one implementation).
      instance: the problem drawn.
    """
    part = table[table["instance"] == instance]
    st = styles or style_map(part["optimizer"])
    fig, axes = _figure(1, 2, sharex=True)
    left, right = axes[0]
    sub = part["median_subopt"].to_numpy(dtype=float)
    finite = sub[np.isfinite(sub) & (part["diverged_share"].to_numpy() <= 0.5)]
    top = max(10.0, min(1e4, float(finite.max()) * 2 if len(finite) else 10.0))
    names, steps_max = [], 1.0
    for optimizer, rows in part.groupby("optimizer", sort=False):
        rows = rows.sort_values("lr")
        s = st[optimizer]
        lr = rows["lr"].to_numpy(dtype=float)
        y = rows["median_subopt"].to_numpy(dtype=float)
        ok = np.isfinite(y) & (rows["diverged_share"].to_numpy() <= 0.5)  # most seeds diverged: a cross
        left.plot(lr, np.where(ok, np.maximum(y, FLOOR), np.nan), color=s["color"], linestyle=s["linestyle"],
                  marker=s["marker"], markersize=4, linewidth=1.2)
        if (~ok).any():  # diverged or undefined: a cross at the top edge
            left.plot(lr[~ok], np.full((~ok).sum(), top / 1.5), linestyle="none", marker="x", color=s["color"])
        steps = rows["median_steps"].to_numpy(dtype=float)
        hit = np.isfinite(steps)
        right.plot(lr, np.where(hit, steps, np.nan), color=s["color"], linestyle=s["linestyle"], marker=s["marker"],
                   markersize=4, linewidth=1.2)
        if hit.any():
            steps_max = max(steps_max, float(steps[hit].max()))
        names.append(optimizer)
    if steps_max == 1.0:
        right.text(0.5, 0.5, "no configuration reached the target", transform=right.transAxes, ha="center",
                   color="0.4")
    fig.suptitle(f"{_wrap(instance, 90)}: every configuration of the grid, median over seeds", fontsize="medium")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("learning rate")
        ax.grid(True, alpha=0.3)
    left.set_yscale("log")
    left.set_ylim(FLOOR / 2, top)
    left.set_ylabel("final rel. suboptimality (median)")
    left.set_title("final suboptimality (x: most seeds diverged)", fontsize="medium")
    if target is not None:
        left.axhline(target, color="0.4", linestyle=":", linewidth=1)
    right.set_ylim(0, steps_max * 1.08)
    right.set_ylabel("steps to target (median)")
    right.set_title(f"steps to {_fmt_target(target) if target else 'target'} (no point: not reached)",
                    fontsize="medium")
    _legend(fig, st, names, markers=True)
    return fig


# --------------------------------------------------------------------------- profiles


def _steps_post(ax, x, y, s):
    ax.plot(x, y, drawstyle="steps-post", color=s["color"], linestyle=s["linestyle"], linewidth=1.5)


def performance_profiles(profiles: dict[str, pd.DataFrame], r_max: float = 4.0,
                         styles: dict | None = None) -> Figure:
    """Dolan-More profiles rho_s(tau), one panel per measure, log2 x axis.

    Args:
      profiles: {panel title: `profiles.performance_profile` table}.
      r_max: drawn as a dotted line (the AlgoPerf score integrates up to it).
      styles: `style_map(...)` of the report (default: of the solvers drawn).
    """
    st = styles or style_map(pd.concat([p["solver"] for p in profiles.values()]) if profiles else [])
    fig, axes = _figure(1, max(1, len(profiles)))
    names = []
    for ax, (title, prof) in zip(axes[0], profiles.items()):
        tmax = max(r_max, float(prof["tau"].max()) if len(prof) else r_max) * 1.25
        for solver, rows in prof.groupby("solver", sort=False):
            rows = rows.sort_values("tau")
            x = np.append(rows["tau"].to_numpy(dtype=float), tmax)
            y = np.append(rows["rho"].to_numpy(dtype=float), rows["rho"].iloc[-1])
            _steps_post(ax, x, y, st[solver])
            if solver not in names:
                names.append(solver)
        ax.axvline(r_max, color="0.4", linestyle=":", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.set_xlim(1, tmax)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("performance ratio tau = cost / best cost (log2)")
        ax.set_ylabel("share of problems with ratio <= tau")
        ax.set_title(title, fontsize="medium")
        ax.grid(True, alpha=0.3)
    _legend(fig, st, names, [Line2D([], [], color="0.4", linestyle=":", label=f"r_max = {r_max:g}")])
    return fig


def data_profiles(profile: pd.DataFrame, styles: dict | None = None) -> Figure:
    """More-Wild data profiles d_s(alpha), one panel per tolerance tau, log x axis."""
    st = styles or style_map(profile["solver"])
    taus = list(dict.fromkeys(profile["tau"]))
    fig, axes = _figure(1, max(1, len(taus)), width=3.8, sharex=True)
    pos = profile["alpha"][profile["alpha"] > 0]
    hi = float(pos.max()) * 2 if len(pos) else 10.0
    lo = min(float(pos.min()) / 2 if len(pos) else 0.1, hi / 10)
    names = []
    for ax, tau in zip(axes[0], taus):
        part = profile[profile["tau"] == tau]
        for solver, rows in part.groupby("solver", sort=False):
            rows = rows[rows["alpha"] > 0].sort_values("alpha")
            x = np.concatenate([[lo], rows["alpha"].to_numpy(dtype=float), [hi]])
            d = rows["d"].to_numpy(dtype=float)
            y = np.concatenate([[0.0], d, [d[-1] if len(d) else 0.0]])
            _steps_post(ax, x, y, st[solver])
            if solver not in names:
                names.append(solver)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if hi / lo <= 10 ** 2.5 else (1.0,)))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(lo, hi)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("budget alpha (gradient evaluations / (n + 1))")
        ax.set_ylabel("share of problems solved")
        ax.set_title(f"tau = {_fmt_target(tau)}", fontsize="medium")
        ax.grid(True, alpha=0.3)
    _legend(fig, st, names)
    return fig


def runtime_ecdf(ecdf: pd.DataFrame, unit: str = "steps", styles: dict | None = None) -> Figure:
    """COCO's runtime ECDF (`bench.stats.coco.ecdf_table`): one panel per dimension, one line per
    optimizer, the share of (function, instance, seed, target) pairs reached within each budget, log x axis."""
    st = styles or style_map(ecdf["optimizer"])
    dims = sorted(ecdf["dim"].unique())
    fig, axes = _figure(1, max(1, len(dims)), width=3.8, sharey=True)
    names = []
    for ax, dim in zip(axes[0], dims):
        part = ecdf[(ecdf["dim"] == dim) & (ecdf["budget"] >= 1)]
        for optimizer, rows in part.groupby("optimizer", sort=False):
            rows = rows.sort_values("budget")
            _steps_post(ax, rows["budget"].to_numpy(dtype=float), rows["ecdf"].to_numpy(dtype=float),
                        st[optimizer])
            if optimizer not in names:
                names.append(optimizer)
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"budget ({unit})")
        ax.set_ylabel("share of (function, instance, seed, target)")
        ax.set_title(f"dimension {dim}", fontsize="medium")
        ax.grid(True, alpha=0.3)
    _legend(fig, st, names)
    return fig


# --------------------------------------------------------------------------- 2-D paths


def _evaluator(problem):
    """f of a 2-D problem over an (m, 2) array of points, jitted and vmapped."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from problems.problem import cast_like

    start = problem.init(jax.random.PRNGKey(0), jnp.float32)
    _, unravel = ravel_pytree(start)
    data = cast_like(problem.data, start)
    fn = jax.jit(jax.vmap(lambda z: problem.fn(unravel(z), data, None)))
    return lambda points: np.asarray(fn(jnp.asarray(points, jnp.float32)), dtype=float)


def loss_at(problem, points) -> np.ndarray:
    """The loss of a 2-D problem at each of an (m, 2) array of points."""
    return _evaluator(problem)(np.asarray(points, dtype=float).reshape(-1, 2))


def loss_grid(problem, n: int = 160):
    """(X, Y, Z): the loss of a 2-D problem on an n x n grid over its bounds."""
    (x0, x1), (y0, y1) = problem.bounds
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    Z = loss_at(problem, np.stack([X.ravel(), Y.ravel()], axis=1))
    return X, Y, Z.reshape(X.shape)


def paths(problem, chosen: pd.DataFrame, path_table: pd.DataFrame, instance: str,
          styles: dict | None = None) -> Figure:
    """Each optimizer's path over the loss contours of a 2-D problem (small multiples).

    Args:
      problem: the `problems.Problem` (its `bounds`, `fn`, `x_star`).
      chosen: one runs row per optimizer to draw (its tuned configuration, one seed).
      path_table: paths.parquet's rows.
      styles: `style_map(...)` of the report (default: of the optimizers drawn).
    """
    st = styles or style_map(chosen["optimizer"])
    X, Y, Z = loss_grid(problem)
    fin = Z[np.isfinite(Z)]
    zmin = float(fin.min())
    span = max(float(fin.max()) - zmin, 1e-12)
    levels = zmin + np.geomspace(span * 1e-4, span, 14)
    n = len(chosen)
    cols = min(6, max(1, n))
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(2.7 * cols + 0.4, 2.5 * rows + 0.9), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True))
    star = None if problem.x_star is None else np.asarray(problem.x_star, dtype=float).ravel()
    (x0, x1), (y0, y1) = problem.bounds
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.set_axis_off()
            continue
        row = chosen.iloc[k]
        s = st[row["optimizer"]]
        ax.contour(X, Y, Z, levels=levels, colors="0.75", linewidths=0.6)
        pts = path_table[path_table["run_id"] == row["run_id"]].pivot(index="step", columns="coord", values="value")
        if len(pts.columns) >= 2:
            px, py = pts[0].to_numpy(dtype=float), pts[1].to_numpy(dtype=float)
            ax.plot(px, py, color=s["color"], linestyle=s["linestyle"], linewidth=1.2)
            ax.plot(px[:1], py[:1], marker="o", color="black", markersize=5, linestyle="none")
            ax.plot(px[-1:], py[-1:], marker="s", color=s["color"], markersize=4, linestyle="none")
        if star is not None and star.size == 2:
            ax.plot(star[0], star[1], marker="*", color="black", markersize=10, linestyle="none")
        lr = row.get("learning_rate", np.nan)
        ax.set_title(f"{row['optimizer']}" + (f" (lr {lr:.3g})" if np.isfinite(lr) else ""), fontsize="small")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
    for ax in axes[-1]:
        ax.set_xlabel("x[0]")
    for ax in axes[:, 0]:
        ax.set_ylabel("x[1]")
    seed = int(chosen["seed"].iloc[0]) if n else 0
    extra = [Line2D([], [], marker="o", color="black", linestyle="none", label="start"),
             Line2D([], [], marker="s", color="0.4", linestyle="none", label="end"),
             Line2D([], [], marker="*", color="black", markersize=10, linestyle="none", label="optimum")]
    _legend(fig, st, [], extra)
    fig.suptitle(f"{_wrap(instance, 90)}: paths of the tuned configurations (seed {seed}) over the loss contours",
                 fontsize="medium")
    return fig
