"""The report of a results folder: report.html (self-contained) and report.md.

    gdbench report RESULTS_DIR        # or bench.reporting.report.write(path)

Everything is computed from the stored tables (runs, curves, paths, meta), so
a report can be redrawn at any time. The figures are written to `figures/` in
the formats asked for (PNG by default; `formats=("png", "svg")` adds SVG);
report.html embeds the first format's files as data URIs, once, and loads
nothing from the network (its Content-Security-Policy forbids it), report.md
links them.

Layout: a summary (winner per problem, the performance profiles and AlgoPerf
scores, parity with optax, data profiles), one section per problem (the tuned
results with confidence intervals, the default-hyperparameter result,
learning-rate sensitivity, convergence, and the paths of 2-D problems), for
a run with minibatches the stochastic problems (the full-batch loss over
seeds, steps to target against batch size, the critical batch size, the
learning-rate x batch-size grid), then the run's metadata.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import ConfigError
from bench.reporting import fmt, interactive, plots
from bench.runs.results import read_run
from bench.stats import analysis, batchsize, bootstrap, profiles, tuning

FIGURES = "figures"
DEFAULT_FORMATS = ("png",)
MIME = {"png": "image/png", "svg": "image/svg+xml"}


# --------------------------------------------------------------------------- formatting


def fmt_sci(v: float) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:.2g}"


def _bound(v: float, show) -> str:
    return "inf" if v == math.inf else show(v)


def with_ci(median: float, low: float, high: float, show) -> str:
    """'445 [430, 460]'; 'never' for a missed median; a missed bound is 'inf'."""
    if isinstance(median, float) and math.isnan(median):
        return "-"
    if median == math.inf and low == math.inf:
        return show(median)
    return f"{show(median)} [{_bound(low, show)}, {_bound(high, show)}]"


def fmt_ratio(v: float) -> str:
    return "-" if not math.isfinite(v) else f"{v:.3g}x"


# --------------------------------------------------------------------------- document model
#
# A section holds blocks; each block is a small frozen class that renders
# itself to HTML and to Markdown. `level` is the section's heading level.


@dataclasses.dataclass(frozen=True)
class Paragraph:
    text: str

    def html(self, level: int) -> str:
        return f"<p>{html.escape(self.text)}</p>"

    def markdown(self, level: int, figures_rel: str) -> list[str]:
        return [self.text, ""]


@dataclasses.dataclass(frozen=True)
class Heading:
    """A heading one level below its section's."""

    text: str

    def html(self, level: int) -> str:
        return f"<h{level + 1}>{html.escape(self.text)}</h{level + 1}>"

    def markdown(self, level: int, figures_rel: str) -> list[str]:
        return ["#" * (level + 1) + f" {self.text}", ""]


@dataclasses.dataclass(frozen=True)
class Preformatted:
    """Preformatted text (the suite's JSON)."""

    text: str
    language: str = "json"

    def html(self, level: int) -> str:
        return f"<pre>{html.escape(self.text)}</pre>"

    def markdown(self, level: int, figures_rel: str) -> list[str]:
        return [f"```{self.language}", self.text, "```", ""]


@dataclasses.dataclass(frozen=True)
class Links:
    """A list of links to sections: (id, text) pairs (plain items in Markdown)."""

    items: tuple[tuple[str, str], ...]

    def html(self, level: int) -> str:
        e = html.escape
        return "<ul>" + "".join(f'<li><a href="#{e(i)}">{e(t)}</a></li>' for i, t in self.items) + "</ul>"

    def markdown(self, level: int, figures_rel: str) -> list[str]:
        return [f"- {t}" for _, t in self.items] + [""]


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


@dataclasses.dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    id: str | None = None
    caption: str = ""

    def __post_init__(self):  # lists in, tuples kept: a block does not change once made
        object.__setattr__(self, "headers", tuple(self.headers))
        object.__setattr__(self, "rows", tuple(tuple(r) for r in self.rows))

    def html(self, level: int = 2) -> str:
        e = html.escape
        ident = f' id="{e(self.id)}"' if self.id else ""
        head = "".join(f"<th>{e(h)}</th>" for h in self.headers)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        cap = f"<caption>{e(self.caption)}</caption>" if self.caption else ""
        return f"<table{ident}>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def markdown(self, level: int = 2, figures_rel: str = "") -> list[str]:
        lines = ["| " + " | ".join(_md_cell(h) for h in self.headers) + " |",
                 "|" + "|".join("---" for _ in self.headers) + "|"]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in self.rows]
        if self.caption:
            lines += ["", f"*{_md_cell(self.caption)}*"]
        return ["\n".join(lines), ""]


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure's files ({format: path}; the first is the one shown), its alt text and caption, and
    its interactive version (`interactive.Plot`): shown in HTML instead of the file when given."""

    files: dict[str, Path]
    alt: str
    caption: str
    plot: interactive.Plot | None = None

    @property
    def shown(self) -> Path:
        return next(iter(self.files.values()))

    def html(self, level: int) -> str:
        e = html.escape
        files = ", ".join(f"{FIGURES}/{p.name}" for p in self.files.values())
        if self.plot is not None:
            return (f"<figure>{self.plot.html(self.alt)}<figcaption>{e(self.caption)} (static: {e(files)})"
                    "</figcaption></figure>")
        return (f'<figure><img src="{_data_uri(self.shown)}" alt="{e(self.alt)}">'
                f"<figcaption>{e(self.caption)} (files: {e(files)})</figcaption></figure>")

    def markdown(self, level: int, figures_rel: str) -> list[str]:
        others = "".join(f" ([{f.upper()}]({figures_rel}/{p.name}))" for f, p in self.files.items()
                         if p != self.shown)
        return [f"![{self.alt}]({figures_rel}/{self.shown.name})", "", f"*{self.caption}*{others}", ""]


Block = Paragraph | Heading | Preformatted | Links | Table | Figure


@dataclasses.dataclass
class Section:
    title: str
    level: int = 2
    id: str | None = None
    blocks: list[Block] = dataclasses.field(default_factory=list)


def _data_uri(path: Path) -> str:
    return f"data:{MIME[path.suffix[1:]]};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "problem"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}-{i}", i + 1
    taken.add(slug)
    return slug


# --------------------------------------------------------------------------- content


def _target(runs: pd.DataFrame) -> float:
    return float(runs["target"].iloc[0]) if len(runs) else float("nan")


def _winner_rows(tuned: pd.DataFrame, instances: list[str]) -> list[list[str]]:
    rows = []
    for instance in instances:
        t = tuned[tuned["instance"] == instance].sort_values(["time_s", "steps", "subopt"], kind="stable")
        if t.empty:
            continue
        w = t.iloc[0]
        if math.isfinite(w["time_s"]):
            nxt = t.iloc[1] if len(t) > 1 else None
            margin = "-" if nxt is None else f"{nxt['optimizer']} ({fmt_ratio(nxt['time_s'] / w['time_s'])} the time)"
            rows.append([instance, w["optimizer"], with_ci(w["time_s"], w["time_s_low"], w["time_s_high"], fmt.seconds),
                         with_ci(w["steps"], w["steps_low"], w["steps_high"], fmt.steps), margin])
        else:
            b = t.sort_values(["subopt"], kind="stable").iloc[0]
            rows.append([instance, "none reached the target", "never", "never",
                         f"lowest final suboptimality: {b['optimizer']} ({fmt_sci(b['subopt'])})"])
    return rows


def _problem_table(instance: str, tuned: pd.DataFrame, one: pd.DataFrame, sens: pd.DataFrame) -> Table:
    t = tuned[tuned["instance"] == instance].sort_values(["time_s", "steps", "subopt", "optimizer"], kind="stable")
    one = one[one["instance"] == instance].set_index("optimizer")
    sens = sens[sens["instance"] == instance].set_index("optimizer")
    rows = []
    for r in t.itertuples(index=False):
        lr = "-" if not math.isfinite(r.learning_rate) else f"{r.learning_rate:.3g}"
        o = one.loc[r.optimizer] if r.optimizer in one.index else None
        default = ("-" if o is None else
                   with_ci(o["steps"], o["steps_low"], o["steps_high"], fmt.steps) if o["in_grid"] else "not in grid")
        s = sens.loc[r.optimizer] if r.optimizer in sens.index else None
        if s is None:
            reach = "-"
        elif s["reaching"] == 0:
            reach = f"0/{s['configs']}"
        else:
            reach = f"{s['reaching']}/{s['configs']} (lr {s['reach_lr_min']:.3g} to {s['reach_lr_max']:.3g})"
        rows.append([r.optimizer, lr, with_ci(r.steps, r.steps_low, r.steps_high, fmt.steps),
                     with_ci(r.time_s, r.time_s_low, r.time_s_high, fmt.seconds),
                     with_ci(r.subopt, r.subopt_low, r.subopt_high, fmt_sci), f"{r.hit_share:.0%}", default, reach])
    return Table(["optimizer", "best lr", "steps to target", "time to target", "final rel. subopt.", "seeds hit",
                  "steps at defaults", "grid reaching target"], rows,
                 caption="Tuned configuration per optimizer, fastest first; median over seeds [95% bootstrap CI]. "
                         "Time to target per trajectory (lane_time_to_target_s). 'inf': the bound is a miss.")


def _scores_table(scores: dict[str, pd.DataFrame]) -> Table:
    time, steps = scores["time"].set_index("solver"), scores["steps"].set_index("solver")
    rows = [[s, f"{time.loc[s, 'score']:.3f}", f"{steps.loc[s, 'score']:.3f}",
             f"{time.loc[s, 'solved']}/{time.loc[s, 'problems']}"] for s in time.index]
    return Table(["optimizer", "score (time)", "score (steps)", "problems solved"], rows, id="scores",
                 caption=f"AlgoPerf-style score: the performance profile integrated from 1 to r_max = "
                         f"{profiles.R_MAX:g}, divided by r_max - 1 (1 = fastest on every problem; a miss adds 0).")


def _parity_table(par: pd.DataFrame) -> Table:
    rows = []
    for r in par.itertuples(index=False):
        steps = ("-" if not math.isfinite(r.steps_ratio) else
                 f"{r.steps_ratio:.3g} [{r.steps_ratio_min:.3g}, {r.steps_ratio_max:.3g}]")
        time = ("-" if not math.isfinite(r.time_ratio) else
                f"{r.time_ratio:.3g} [{r.time_ratio_min:.3g}, {r.time_ratio_max:.3g}] ({r.cells} problems)")
        rows.append([r.optimizer, steps, f"{r.identical_share:.0%} of {r.pairs}", str(r.hit_mismatch), time])
    return Table(["optimizer", "steps ratio ours/optax, median [min, max]", "identical first hits",
                  "hit in one only", "time/step ratio ours/optax, median [min, max] over problems"], rows,
                 id="parity", caption="Same grid, seeds and steps under both implementations (1 = the same).")


def _metadata(meta: dict[str, Any]) -> Section:
    v = meta.get("versions") or {}
    g = meta.get("git") or {}
    d = meta.get("device") or {}
    rows = [["status", str(meta.get("status"))], ["command", str(meta.get("command"))],
            ["started (UTC)", str(meta.get("started_utc"))], ["ended (UTC)", str(meta.get("ended_utc"))],
            ["wall time", "-" if meta.get("wall_s") is None else f"{meta['wall_s']:.1f} s"],
            ["git commit", f"{g.get('commit')}" + (" (uncommitted changes)" if g.get("dirty") else "")],
            ["device", f"{d.get('backend')}: {d.get('device_kind')} x {d.get('device_count')}"],
            ["XLA flags", str(d.get("xla_flags") or "-")], ["dtype", str(meta.get("dtype"))],
            ["schema version", str(meta.get("schema_version"))]]
    rows += [[f"version: {k}", str(val)] for k, val in v.items()]
    suite = json.dumps(meta.get("suite"), indent=2, sort_keys=True, default=str)
    return Section("Run metadata", id="metadata",
                   blocks=[Table(["field", "value"], rows, id="meta"), Paragraph("The suite's resolved configuration:"),
                           Preformatted(suite)])


@dataclasses.dataclass
class _Context:
    """What every part of the report shares."""

    runs: pd.DataFrame
    ours: pd.DataFrame  # the main implementation's rows
    impl: str
    target: float
    instances: list[str]
    styles: dict
    figures: Path
    formats: tuple[str, ...] = DEFAULT_FORMATS

    def figure(self, fig, name: str, alt: str, caption: str, plot: interactive.Plot | None = None) -> Figure:
        return Figure(plots.save(fig, self.figures, name, self.formats), alt, caption, plot)


def _summary(c: _Context, meta: dict[str, Any], tuned: pd.DataFrame, curves: pd.DataFrame) -> Section:
    runs, impl = c.runs, c.impl
    intro = (f"{meta.get('status', '?')} run of {len(runs):,} trajectories: {len(c.instances)} problems, "
             f"{c.ours['optimizer'].nunique()} optimizers ({', '.join(sorted(runs['impl'].unique()))}), "
             f"{int(runs['steps'].max()):,} steps, {runs['seed'].nunique()} seeds, {meta.get('dtype')} on "
             f"{(meta.get('device') or {}).get('device_kind', '?')}. Target: relative suboptimality "
             f"{c.target:.0e}. Each optimizer is tuned on its grid by the median over seeds of steps to the target "
             f"(ties and misses: median final suboptimality), then reported as the median over seeds with a "
             f"{bootstrap.LEVEL:.0%} bootstrap confidence interval. Tables and figures show the {impl} "
             f"implementation; docs/METRICS.md defines every measure.")
    sec = Section("Summary", id="summary", blocks=[Paragraph(intro), Heading("Winner per problem")])
    sec.blocks.append(Table(["problem", "winner", "time to target", "steps to target", "next fastest"],
                            _winner_rows(tuned, c.instances), id="summary-table",
                            caption="Winner per problem: least median time to the target at the tuned "
                                    "configuration [95% CI]. Time to target is per trajectory: first-hit steps x "
                                    "its program's time per step / the program's lanes (lane_time_to_target_s)."))

    ratios = {m: profiles.performance_ratios(profiles.solver_costs(runs, m, impl)) for m in ("time", "steps")}
    prof = {f"{m} to target ({impl})": profiles.performance_profile(r) for m, r in ratios.items()}
    scores = {m: profiles.algoperf_scores(r) for m, r in ratios.items()}
    order = list(scores["time"].sort_values("score", ascending=False, kind="stable")["solver"])
    sec.blocks.append(Heading("Across problems: performance profiles and scores"))
    sec.blocks.append(c.figure(
        plots.performance_profiles(prof, profiles.R_MAX, styles=c.styles), "profiles",
        "Performance profiles on time and on steps to the target",
        "Dolan-More performance profiles over the problems: the share of problems on which an optimizer's cost is "
        "within a factor tau of the best (a miss never counts).",
        interactive.performance_profiles(prof, profiles.R_MAX, c.styles, order)))
    sec.blocks.append(_scores_table(scores))

    sec.blocks.append(Heading("Parity with optax"))
    if {"gdbench", "optax"} <= set(runs["impl"]):
        sec.blocks.append(_parity_table(analysis.parity(runs)))
    else:
        sec.blocks.append(Paragraph("Not measured: this run has one implementation only."))

    costs = profiles.convergence_costs(runs, curves, impl=impl)
    res = costs["resolution"][np.isfinite(costs["cost"])]
    note = ("exact first hits" if res.empty or res.max() <= 1 else
            f"first hits from the recorded curve, up to {res.max():.0f} steps late where steps were not all recorded")
    sec.blocks.append(Heading("Data profiles"))
    data_profile = profiles.data_profile(costs)
    sec.blocks.append(c.figure(
        plots.data_profiles(data_profile, styles=c.styles), "data-profiles", "Data profiles",
        "More-Wild data profiles: the share of problems an optimizer solves to f <= f_L + tau (f0 - f_L), f_L the "
        f"lowest loss of the run, within a budget of alpha (n + 1) evaluations ({note}). An evaluation is one call "
        "of the loss by the optimizer, so a line search's trials count (runs table: evals_to_target).",
        interactive.data_profiles(data_profile, c.styles, order)))
    return sec


def _problems(c: _Context, meta: dict[str, Any], tuned: pd.DataFrame, curves: pd.DataFrame,
              path_table: pd.DataFrame) -> list[Section]:
    ours = c.ours
    one, sens = tuning.one_shot(ours), tuning.lr_sensitivity(ours)
    bands = analysis.convergence_bands(ours, curves)
    grid = tuning.per_config(ours)
    grid["lr"] = tuning.hyperparameter(grid)
    rebuilt = analysis.instance_problems(meta)
    keys = ["instance", "optimizer", "impl", "config_id"]
    chosen = ours.merge(tuning.best_configs(ours)[keys], on=keys)
    evals = interactive.evals_curves(chosen, curves)
    out, taken = [], set()
    for instance in c.instances:
        slug = _slug(instance, taken)
        order, configs = interactive.tuned_order(tuned, instance), interactive.hover_configs(tuned, chosen, instance)
        seeds = interactive.seeds_text(ours.loc[ours["instance"] == instance, "seed"].unique())
        first = ours[ours["instance"] == instance].iloc[0]
        ref = ("the known optimum f*" if first["f_ref_source"] == "f_star" else
               "the lowest loss any trajectory reached in this run (f* unknown)")
        sec = Section(instance, level=3, id=f"problem-{slug}",
                      blocks=[Paragraph(f"{int(first['dim'])} parameters; suboptimality relative to {ref}."),
                              _problem_table(instance, tuned, one, sens)])
        sec.blocks.append(c.figure(
            plots.convergence(bands, [instance], c.target, styles=c.styles), f"convergence-{slug}",
            f"Convergence on {instance}",
            "Median over seeds at each optimizer's tuned configuration, shaded: 95% bootstrap CI of the median; "
            "time axis: steps x the measured time per step.",
            interactive.convergence(bands, instance, c.target, c.styles, order, configs, evals)))
        sec.blocks.append(c.figure(
            plots.lr_sensitivity(grid, instance, c.target, styles=c.styles), f"lr-{slug}",
            f"Learning-rate sensitivity on {instance}", "Every configuration of the grid (median over seeds).",
            interactive.lr_sensitivity(grid, instance, c.target, c.styles, order, seeds)))
        p = rebuilt.get(instance)
        pick = chosen[chosen["instance"] == instance]
        pick = pick[pick["seed"] == pick["seed"].min()].drop_duplicates("optimizer")
        if p is not None and p.dim == 2 and p.bounds is not None and path_table["run_id"].isin(pick["run_id"]).any():
            sec.blocks.append(c.figure(
                plots.paths(p, pick, path_table, instance, styles=c.styles), f"paths-{slug}",
                f"Optimizer paths on {instance}",
                "Tuned configurations from the first seed's start (dot) to their last point (square); star: the "
                "optimum.",
                interactive.paths(p, pick, path_table, instance, c.styles, order,
                                  {o: text for o, (text, _) in configs.items()})))
        out.append(sec)
    return out


def _batch_label(b: int) -> str:
    return "full" if b == 0 else str(int(b))


def _batch_table(problem: str, table: pd.DataFrame, critical: pd.DataFrame) -> Table:
    part = table[table["problem"] == problem]
    sizes = sorted(part["batch_size"].unique(), key=lambda b: (b == 0, b))
    crit = critical[critical["problem"] == problem].set_index("optimizer")
    rows = []
    for optimizer, line in part.groupby("optimizer", sort=False):
        by = line.set_index("batch_size")
        cells = []
        for b in sizes:
            if b not in by.index:
                cells.append("-")
                continue
            r = by.loc[b]
            lr = "" if not math.isfinite(r["learning_rate"]) else f" (lr {r['learning_rate']:.3g})"
            cells.append(with_ci(r["steps"], r["steps_low"], r["steps_high"], fmt.steps) + lr)
        c = crit.loc[optimizer] if optimizer in crit.index else None
        if c is None or not math.isfinite(c["critical_batch_size"]):
            critical_text = "-"
        else:
            critical_text = (">= " if c["lower_bound"] else "") + f"{c['critical_batch_size']:.0f}"
        rows.append([optimizer, *cells, critical_text])
    return Table(["optimizer", *[f"batch {_batch_label(b)}" for b in sizes], "critical batch size"], rows,
                 caption="Steps to target at each batch size's tuned configuration: median over seeds [95% "
                         "bootstrap CI] (its learning rate). Critical batch size: the largest batch size up to "
                         f"which each larger batch cut the steps by at least {batchsize.MIN_CUT:.0%} per doubling "
                         "(docs/METRICS.md); '>=': every larger batch measured still did.")


def _lr_batch_table(runs: pd.DataFrame, problem: str, optimizer: str) -> Table:
    grid = batchsize.lr_batch_grid(runs, problem, optimizer)
    best = {b: grid[b].min() for b in grid.columns}
    rows = []
    for lr, values in grid.iterrows():
        label = "-" if not math.isfinite(lr) else f"{lr:.3g}"
        rows.append([label, *[fmt.steps(v) + (" *" if math.isfinite(v) and v == best[b] else "")
                              for b, v in values.items()]])
    return Table(["learning rate", *[f"batch {_batch_label(b)}" for b in grid.columns]], rows,
                 caption=f"{optimizer}: median steps to target over seeds of every configuration at every batch "
                         "size ('*': the fewest at that batch size).")


def _stochastic(c: _Context, curves: pd.DataFrame, tuned: pd.DataFrame) -> Section | None:
    """The stochastic problems' section, or None for a run without minibatches."""
    problems_ = batchsize.stochastic_problems(c.ours)
    if not problems_:
        return None
    bands = analysis.loss_bands(c.ours, curves)
    table = batchsize.steps_by_batch(c.ours)
    critical = batchsize.critical_batch_sizes(c.ours)
    lo, hi = analysis.SEED_QUANTILES
    keys = ["instance", "optimizer", "impl", "config_id"]
    chosen = c.ours.merge(tuning.best_configs(c.ours)[keys], on=keys)
    sec = Section("Stochastic problems", id="stochastic", blocks=[Paragraph(
        "Problems run with minibatch gradients. The losses are of the full batch (the objective), recorded every "
        "record_every steps; each batch size is tuned on its own, so the learning rate may change with it.")])
    taken: set[str] = set()
    for problem in problems_:
        slug = _slug(problem, taken)
        instances = [i for i in c.instances if batchsize.base_instance(i) == problem and i != problem]
        order = interactive.tuned_order(tuned, instances[0]) if instances else []
        configs = {(i, o): v for i in instances for o, v in interactive.hover_configs(tuned, chosen, i).items()}
        sec.blocks.append(Heading(problem))
        sec.blocks.append(c.figure(
            plots.loss_bands(bands, instances, (lo, hi), styles=c.styles), f"loss-bands-{slug}",
            f"Full-batch loss over seeds on {problem}",
            f"Full-batch loss at each optimizer's tuned configuration per batch size: median over seeds, shaded "
            f"from the {lo:.0%} to the {hi:.0%} quantile of the seeds (the spread of the runs, not a confidence "
            "interval).",
            interactive.loss_bands(bands, instances, c.styles, order, configs, (lo, hi))))
        sec.blocks.append(c.figure(
            plots.batch_scaling(table, critical, problem, c.target, styles=c.styles), f"batch-{slug}",
            f"Steps to target against batch size on {problem}",
            "Median steps to target at the best learning rate of each batch size; dashed: the full batch; ringed: "
            "the critical batch size.",
            interactive.batch_scaling(table, critical, problem, c.target, c.styles, order)))
        sec.blocks.append(_batch_table(problem, table, critical))
        for optimizer in dict.fromkeys(table.loc[table["problem"] == problem, "optimizer"]):
            sec.blocks.append(_lr_batch_table(c.ours, problem, optimizer))
    return sec


def build(tables: dict[str, pd.DataFrame], meta: dict[str, Any], figures_dir: str | Path,
          formats: tuple[str, ...] = DEFAULT_FORMATS) -> tuple[list[Section], str]:
    """The report's sections and title from a results folder's tables and meta
    (`bench.read_run`), drawing the figures into `figures_dir` in `formats`."""
    runs, curves, path_table = tables["runs"], tables["curves"], tables["paths"]
    title = f"gdbench report: suite {(meta.get('suite') or {}).get('name', '?')}"
    if runs.empty:
        return [Section("Summary", id="summary", blocks=[Paragraph("This results folder holds no trajectories."),
                                                          Table(["problem", "winner"], [], id="summary-table")]),
                _metadata(meta)], title
    impl = profiles.main_impl(runs)
    ours = runs[runs["impl"] == impl]
    c = _Context(runs, ours, impl, _target(runs), list(dict.fromkeys(ours["instance"])),
                 plots.style_map(runs["optimizer"]), Path(figures_dir), tuple(formats))
    tuned = tuning.tuned(ours)
    per_problem = _problems(c, meta, tuned, curves, path_table)
    links = Section("Problems", id="problems",
                    blocks=[Paragraph(f"{len(c.instances)} problems, each with its tuned results and figures:"),
                            Links(tuple((sec.id, sec.title) for sec in per_problem))])
    stochastic = _stochastic(c, curves, tuned)
    return [_summary(c, meta, tuned, curves), links, *per_problem, *([stochastic] if stochastic else []),
            _metadata(meta)], title


# --------------------------------------------------------------------------- rendering

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0 1.4em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f2f2f2}caption{caption-side:bottom;text-align:left;color:#555;font-size:.9em;padding-top:.3em}
figure{margin:1em 0 1.6em}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}
nav a{margin-right:1em}
"""


def render_html(sections: list[Section], title: str) -> str:
    """The page; with interactive figures it embeds plotly.js once and the script that draws them."""
    e = html.escape
    live = any(isinstance(b, Figure) and b.plot is not None for s in sections for b in s.blocks)
    script_src, scripts = interactive.page_scripts() if live else ("", "")
    policy = "default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'" + (f"; {script_src}" if live else "")
    css = _CSS + (interactive.CSS if live else "")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(title)}</title><style>{css}</style></head><body>", f"<h1>{e(title)}</h1>"]
    nav = [s for s in sections if s.level == 2 and s.id]
    out.append("<nav>" + "".join(f'<a href="#{e(s.id)}">{e(s.title)}</a>' for s in nav) + "</nav>")
    for s in sections:
        ident = f' id="{e(s.id)}"' if s.id else ""
        out.append(f"<section{ident}><h{s.level}>{e(s.title)}</h{s.level}>")
        out += [b.html(s.level) for b in s.blocks]
        out.append("</section>")
    out += [scripts, "</body></html>"] if live else ["</body></html>"]
    return "\n".join(out) + "\n"


def render_markdown(sections: list[Section], title: str, figures_rel: str = FIGURES) -> str:
    out = [f"# {title}", ""]
    for s in sections:
        out += ["#" * s.level + f" {s.title}", ""]
        for b in s.blocks:
            out += b.markdown(s.level, figures_rel)
    return "\n".join(out).rstrip() + "\n"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def check_formats(formats) -> tuple[str, ...]:
    """The figure formats as a tuple; ConfigError unless a non-empty list of plots.FORMATS."""
    formats = tuple(dict.fromkeys(formats))
    if not formats or any(f not in plots.FORMATS for f in formats):
        raise ConfigError("formats", f"must be one or more of {', '.join(plots.FORMATS)}, got {list(formats)!r}")
    return formats


def write(folder: str | Path, out: str | Path | None = None,
          formats: tuple[str, ...] = DEFAULT_FORMATS) -> dict[str, Path]:
    """Writes report.html, report.md and figures/ for a results folder.

    Args:
      folder: the results folder (read with `bench.read_run`; ResultsError if unusable).
      out: where to write (default: the results folder itself).
      formats: the figures' file formats, of plots.FORMATS; report.html embeds the first.

    Returns:
      {"html": path, "md": path}.
    """
    formats = check_formats(formats)
    tables, meta = read_run(folder)  # first: a bad folder is reported before anything is written
    out = Path(out) if out is not None else Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    sections, title = build(tables, meta, out / FIGURES, formats)
    paths = {"html": out / "report.html", "md": out / "report.md"}
    _write_text(paths["html"], render_html(sections, title))
    _write_text(paths["md"], render_markdown(sections, title))
    return paths
