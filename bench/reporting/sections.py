"""The report's sections: what each part of the report shows, as document blocks.

The summary (winners, profiles and scores, rankings, budgets, parity, data
profiles), one section per problem, the stochastic problems, COCO's runtimes on
absolute targets and the run's metadata, each built from a results folder's
tables (`bench.stats` computes, this lays out) into the blocks of
bench/reporting/document.py; `report.build` puts them in order.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import ConfigError
from bench.reporting import fmt, interactive, plots
from bench.reporting.document import Block, Figure, Heading, Paragraph, Preformatted, Section, Table
from bench.stats import analysis, batchsize, bootstrap, coco, profiles, rankings, tuning


def _slug(text: str, taken: set[str]) -> str:
    """An id for `text` (a section's or a figure file's), unique among `taken`, which it joins."""
    base = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "problem"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}-{i}", i + 1
    taken.add(slug)
    return slug


def _winner_rows(tuned: pd.DataFrame, instances: list[str]) -> list[list[str]]:
    rows = []
    for instance in instances:
        t = tuned[tuned["instance"] == instance].sort_values(["time_s", "steps", "subopt"], kind="stable")
        if t.empty:
            continue
        w = t.iloc[0]
        if math.isfinite(w["time_s"]):
            nxt = t.iloc[1] if len(t) > 1 else None
            margin = "-" if nxt is None else f"{nxt['optimizer']} ({fmt.ratio(nxt['time_s'] / w['time_s'])} the time)"
            rows.append([instance, w["optimizer"],
                         fmt.with_ci(w["time_s"], w["time_s_low"], w["time_s_high"], fmt.seconds),
                         fmt.with_ci(w["steps"], w["steps_low"], w["steps_high"], fmt.steps), margin])
        else:
            b = t.sort_values(["subopt"], kind="stable").iloc[0]
            rows.append([instance, "none reached the target", "never", "never",
                         f"lowest final suboptimality: {b['optimizer']} ({fmt.sci(b['subopt'])})"])
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
                   fmt.with_ci(o["steps"], o["steps_low"], o["steps_high"], fmt.steps) if o["in_grid"]
                   else "not in grid")
        default_final = ("-" if o is None else
                         fmt.with_ci(o["subopt"], o["subopt_low"], o["subopt_high"], fmt.sci) if o["in_grid"]
                         else "not in grid")
        s = sens.loc[r.optimizer] if r.optimizer in sens.index else None
        if s is None:
            reach = "-"
        elif s["reaching"] == 0:
            reach = f"0/{s['configs']}"
        else:
            reach = f"{s['reaching']}/{s['configs']} (lr {s['reach_lr_min']:.3g} to {s['reach_lr_max']:.3g})"
        rows.append([r.optimizer, lr, fmt.with_ci(r.steps, r.steps_low, r.steps_high, fmt.steps),
                     fmt.with_ci(r.time_s, r.time_s_low, r.time_s_high, fmt.seconds),
                     fmt.with_ci(r.subopt, r.subopt_low, r.subopt_high, fmt.sci), f"{r.hit_share:.0%}", default,
                     default_final, reach])
    return Table(["optimizer", "best lr", "steps to target", "time to target", "final rel. subopt.", "seeds hit",
                  "steps at defaults", "final at defaults", "grid reaching target"], rows,
                 caption="Tuned configuration per optimizer, fastest first; median over seeds [95% bootstrap CI]. "
                         "Time to target per trajectory (lane_time_to_target_s). 'inf': the bound is a miss. "
                         "At defaults: the optimizer's default hyperparameters, on the selection seeds, where the "
                         "grid holds them.")


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


def metadata(meta: dict[str, Any]) -> Section:
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
class Context:
    """What every part of the report shares."""

    runs: pd.DataFrame
    ours: pd.DataFrame  # the main implementation's rows
    impl: str
    target: float
    instances: list[str]
    styles: dict
    figures: Path
    formats: tuple[str, ...]
    absolute: bool = False  # absolute targets (COCO's Delta f): the COCO section, no target line on relative axes

    @property
    def line(self) -> float | None:
        """The primary target as a level of relative suboptimality (None for an absolute one)."""
        return None if self.absolute else self.target

    def figure(self, fig, name: str, alt: str, caption: str, plot: interactive.Plot | None = None) -> Figure:
        return Figure(plots.save(fig, self.figures, name, self.formats), alt, caption, plot)


def summary(c: Context, meta: dict[str, Any], tuned: pd.DataFrame, curves: pd.DataFrame) -> Section:
    runs, impl = c.runs, c.impl
    intro = (f"{meta.get('status', '?')} run of {len(runs):,} trajectories: {len(c.instances)} problems, "
             f"{c.ours['optimizer'].nunique()} optimizers ({', '.join(sorted(runs['impl'].unique()))}), "
             f"{int(runs['steps'].max()):,} steps, {runs['seed'].nunique()} seeds, {meta.get('dtype')} on "
             f"{(meta.get('device') or {}).get('device_kind', '?')}. Target: "
             f"{'Delta f = f - f* <= ' if c.absolute else 'relative suboptimality '}{c.target:.0e}. "
             f"Each optimizer is tuned on its grid by the median over seeds of steps to the target "
             f"(ties and misses: median final suboptimality), then reported as the median over seeds with a "
             f"{bootstrap.LEVEL:.0%} bootstrap confidence interval. Tables and figures show the {impl} "
             f"implementation; docs/METRICS.md defines every measure. {_seeds_text(c)}")
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
    sec.blocks += _rankings_blocks(c, tuned)
    sec.blocks += _budget_blocks(c, meta)

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


# --------------------------------------------------------------------------- rankings, budgets, attempts


def _seeds_text(c: Context) -> str:
    """Which seeds the configurations are chosen on and which the results are reported on."""
    select, report = tuning.select_rows(c.ours), tuning.report_rows(c.ours)
    held = report[report[tuning.PHASE] == tuning.REPORT]
    if held.empty:
        return (f"Selection and report share seeds: each tuned result is measured on the {select['seed'].nunique()} "
                "seeds its configuration was chosen on.")
    text = (f"Configurations are chosen on {select['seed'].nunique()} selection seeds and reported on "
            f"{held['seed'].nunique()} held-out seeds.")
    if (report[tuning.PHASE] == tuning.SELECT).any():
        text += " Where a problem has no held-out runs, selection and report share seeds."
    return text


def _rank_tables(c: Context, tuned: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The rankings per problem: to the target (time) and at the fixed budget (final and best suboptimality)."""
    return {"target": rankings.to_target(c.ours, "time", impl=c.impl, tuned=tuned),
            "final": rankings.fixed_budget(c.ours, "final", impl=c.impl),
            "best": rankings.fixed_budget(c.ours, "best", impl=c.impl)}


def _names(solvers: tuple) -> str:
    return " = ".join(solvers) if solvers else "-"


def _rank_text(rank: float) -> str:
    return f"{rank:g}"


def _rankings_blocks(c: Context, tuned: pd.DataFrame) -> list[Block]:
    ranks = _rank_tables(c, tuned)
    final = ranks["final"].set_index(["problem", "solver"])
    best_by = rankings.winners(ranks["best"])
    dis = rankings.disagreements(ranks["target"], ranks["final"])
    dis = dis.set_index("problem").reindex([i for i in c.instances if i in set(dis["problem"])]).reset_index()
    rows = []
    for r in dis.itertuples(index=False):
        def first(table, won):
            return "; ".join(f"{w} {fmt.with_ci(*table.loc[(r.problem, w), ['median', 'low', 'high']], fmt.sci)}"
                             for w in won) or "-"
        if not r.reached:
            verdict = "none reached the target"
        elif r.differ:
            verdict = "differ" + ("" if r.budget_clear else " (CIs of the final values overlap)")
        else:
            verdict = "agree"
        rows.append([r.problem, _names(r.target_winners) if r.reached else "none reached the target",
                     first(final, r.budget_winners), _names(best_by.get(r.problem, ())), verdict])
    differ = list(dis.loc[dis["differ"], "problem"])
    blocks: list[Block] = [Heading("Rankings at a fixed budget"), Paragraph(
        "Besides the time to the target, each problem's optimizers are ranked by the relative suboptimality at the "
        "end of the run (final) and by the lowest reached (best): medians over the report seeds of the tuned "
        "configuration, with 95% bootstrap CIs. "
        + (f"The winner to the target is not the winner at the end of the run on {len(differ)} of "
           f"{len(dis)} problems: {', '.join(differ)}." if differ else
           "On every problem where an optimizer reached the target, its winner is also first at the end of the run."))]
    blocks.append(Table(["problem", "first to target (time)", "first at the end: final rel. subopt. [95% CI]",
                         "first by best rel. subopt.", "to target vs at the end"], rows, id="rankings",
                        caption="'differ': no optimizer wins both rankings; ' = ': tied."))
    means = {k: rankings.mean_ranks(t).set_index("solver") for k, t in ranks.items()}
    mean_rows = []
    for solver in means["target"].index:
        mean_rows.append([solver, *[f"{means[k].loc[solver, 'mean_rank']:.2f} ({means[k].loc[solver, 'first']})"
                                    for k in ("target", "final", "best")]])
    mean_rows.sort(key=lambda row: (float(row[2].split()[0]), row[0]))
    blocks.append(Table(["optimizer", "mean rank to target (time)", "mean rank at the end (final)",
                         "mean rank by best"], mean_rows, id="mean-ranks",
                        caption="Across problems: the mean over problems of each optimizer's rank (1 = first on "
                                "every problem; ties share the average place; a miss to the target ties with the "
                                "other misses), in brackets the problems it ranks first on; at-the-end order."))
    return blocks


def _problem_ranks_table(instance: str, ranks: dict[str, pd.DataFrame]) -> Table:
    tables = {k: t[t["problem"] == instance].set_index("solver") for k, t in ranks.items()}
    rows = []
    for solver, r in tables["final"].sort_values(["rank", "median"], kind="stable").iterrows():
        t = tables["target"].loc[solver] if solver in tables["target"].index else None
        b = tables["best"].loc[solver] if solver in tables["best"].index else None
        rows.append([solver, "-" if t is None else _rank_text(t["rank"]), _rank_text(r["rank"]),
                     fmt.with_ci(r["median"], r["low"], r["high"], fmt.sci),
                     "-" if b is None else _rank_text(b["rank"]),
                     "-" if b is None else fmt.with_ci(b["median"], b["low"], b["high"], fmt.sci)])
    return Table(["optimizer", "rank to target (time)", "rank at the end", "final rel. subopt.", "rank by best",
                  "best rel. subopt."], rows,
                 caption="Rankings at the tuned configuration: to the target by median time, at the fixed budget by "
                         "the median final and the median lowest relative suboptimality over the report seeds "
                         "[95% bootstrap CI]; ties share the average place.")


def _range_text(values) -> str:
    if isinstance(values, tuple) and len(values) == 3 and isinstance(values[2], int) and not isinstance(
            values[0], (str, bool)):
        low, high, n = values
        return f"{n} values in [{low:.4g}, {high:.4g}]"
    return ", ".join(map(str, values))


def _stated_spaces(meta: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{optimizer: {hyperparameter: its stated values or range}} from the suite in meta.json ({} if unreadable)."""
    import optimizers as registry
    from bench.core import search as searching
    from bench.runs import suite as suites

    data = dict(meta.get("suite") or {})
    source = str(data.pop("source", "meta.json"))
    out: dict[str, dict[str, str]] = {}
    try:
        s = suites.parse(data, source, checked=False)
        for name in s.optimizers:
            spec = registry.resolve(name)
            grid = s.grid_for(spec)
            space = {k: "grid " + ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in values)
                     for k, values in grid.items()}
            if s.search is not None:
                named = {k: v for k, v in s.search.items() if k not in suites.SEARCH_KEYS}
                for k, (low, high, scale) in searching.space(spec, named, grid).items():
                    space[k] = f"{scale} [{low:.4g}, {high:.4g}]"
            out[name] = space
    except (ConfigError, KeyError, TypeError, ValueError):
        return {}
    return out


def _budget_blocks(c: Context, meta: dict[str, Any]) -> list[Block]:
    """The budgets (trials per problem and search space of each optimizer) and the attempts to success."""
    table = tuning.budgets(c.ours)
    stated = _stated_spaces(meta)
    search = (meta.get("suite") or {}).get("search")
    gridded = bool((meta.get("suite") or {}).get("grid"))
    rows = []
    for r in table.itertuples(index=False):
        trials = str(r.trials_min) if r.trials_min == r.trials_max else f"{r.trials_min} to {r.trials_max}"
        space = stated.get(r.optimizer, {})
        rows.append([r.optimizer, trials, "; ".join(f"{k}: {v}" for k, v in space.items()) or "-",
                     "; ".join(f"{k}: {_range_text(v)}" for k, v in r.space.items()) or "one configuration"])
    how = (f"a quasi-random search of {search['trials']} trials (seed {search.get('seed', 0)}) over each "
           f"optimizer's search space{', crossed with the grid' if gridded else ''}" if search else "the suite's grid")
    if tuning.equal_budgets(table):
        verdict = (f"Every optimizer was given the same budget: {int(table['trials_min'].min())} trials "
                   f"(configurations) per problem, from {how}." if len(table) else "No trials.")
    else:
        verdict = (f"Budgets differ between optimizers (or problems): from {how}, the trials per problem are not "
                   "the same for all; compare the tuned results with that in mind.")
    dims = {len(space) for space in table["space"]}
    if len(dims) > 1:
        verdict += (" The trials vary different numbers of hyperparameters (from "
                    f"{min(dims)} to {max(dims)}): equal trials cover spaces of different sizes.")
    blocks: list[Block] = [Heading("Budgets"), Paragraph(
        verdict + " A budget is the number of trials an optimizer is tuned over on each problem; the search space "
                  "is the hyperparameters those trials vary.")]
    blocks.append(Table(["optimizer", "trials per problem", "search space (the suite's)", "values run"], rows,
                        id="budgets", caption="Stated: the grid's values or the search's range and scale of each "
                                              "hyperparameter; run: what the configurations held."))
    att = tuning.attempts_to_success(c.ours)
    att_rows = []
    for optimizer, part in att.groupby("optimizer", sort=False):
        by = part.set_index("instance")
        cells = [("-" if i not in by.index else
                  f"{by.loc[i, 'successes']}/{by.loc[i, 'trials']} ({by.loc[i, 'share']:.0%})") for i in c.instances]
        total = f"{part['successes'].sum() / part['trials'].sum():.0%}"
        att_rows.append([optimizer, *cells, total])
    blocks.append(Heading("Attempts to success"))
    blocks.append(Table(["optimizer", *c.instances, "all problems"], att_rows, id="attempts",
                        caption="Trials whose median over the selection seeds reaches the target, of those run "
                                "(docs/METRICS.md); all problems: their share of every trial."))
    return blocks


def problems(c: Context, meta: dict[str, Any], tuned: pd.DataFrame, curves: pd.DataFrame,
              path_table: pd.DataFrame) -> list[Section]:
    ours = c.ours
    one, sens = tuning.one_shot(ours), tuning.lr_sensitivity(ours)
    bands = analysis.convergence_bands(ours, curves)
    grid = tuning.per_config(ours)
    grid["lr"] = tuning.hyperparameter(grid)
    rebuilt = analysis.instance_problems(meta)
    chosen = tuning.report_rows(ours)
    evals = interactive.evals_curves(chosen, curves)
    ranks = _rank_tables(c, tuned)
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
                              _problem_table(instance, tuned, one, sens), _problem_ranks_table(instance, ranks)])
        sec.blocks.append(c.figure(
            plots.convergence(bands, [instance], c.line, styles=c.styles), f"convergence-{slug}",
            f"Convergence on {instance}",
            "Median over seeds at each optimizer's tuned configuration, shaded: 95% bootstrap CI of the median; "
            "time axis: steps x the measured time per step.",
            interactive.convergence(bands, instance, c.line, c.styles, order, configs, evals)))
        sec.blocks.append(c.figure(
            plots.lr_sensitivity(grid, instance, c.line, styles=c.styles), f"lr-{slug}",
            f"Learning-rate sensitivity on {instance}", "Every configuration of the grid (median over seeds).",
            interactive.lr_sensitivity(grid, instance, c.line, c.styles, order, seeds)))
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
            cells.append(fmt.with_ci(r["steps"], r["steps_low"], r["steps_high"], fmt.steps) + lr)
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


def stochastic(c: Context, curves: pd.DataFrame, tuned: pd.DataFrame) -> Section | None:
    """The stochastic problems' section, or None for a run without minibatches."""
    problems_ = batchsize.stochastic_problems(c.ours)
    if not problems_:
        return None
    bands = analysis.loss_bands(c.ours, curves)
    table = batchsize.steps_by_batch(c.ours)
    critical = batchsize.critical_batch_sizes(c.ours)
    lo, hi = analysis.SEED_QUANTILES
    chosen = tuning.report_rows(c.ours)
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


#: The aRT table's targets, where the run's ladder has them (COCO's tables' Delta f columns).
COCO_TABLE_TARGETS = (1e1, 1e-1, 1e-3, 1e-5, 1e-7)


def coco_runtimes(c: Context) -> Section | None:
    """COCO's measures on the absolute targets (aRT, runtime ECDF), or None for a run of relative targets."""
    if not c.absolute:
        return None
    keys = ["instance", "optimizer", "impl", "config_id"]
    chosen = c.ours.merge(tuning.best_configs(c.ours)[keys], on=keys)
    _, _, unit = coco.ladder_runtimes(chosen)
    words = (f"{unit} (one gradient evaluation each for a gradient method; a line search's extra evaluations "
             "are not counted)" if unit == "steps" else unit)
    sec = Section("COCO: runtimes to absolute targets", id="coco", blocks=[Paragraph(
        "COCO's measures on this run's absolute targets Delta f = f - f* (docs/METRICS.md): each optimizer at its "
        "tuned configuration per instance, whose seeds, over the instances of a function, are the trials. "
        f"Runtimes in {words}; a trial that misses a target costs its whole budget.")])
    ecdf = coco.ecdf_table(chosen)
    last = ecdf.sort_values("budget").groupby("optimizer", sort=False)["ecdf"].last()  # most pairs reached first
    order = list(last.sort_values(ascending=False, kind="stable").index)
    sec.blocks.append(c.figure(
        plots.runtime_ecdf(ecdf, unit, styles=c.styles), "coco-ecdf", "Runtime ECDF per dimension",
        f"Runtime ECDF: the share of (function, instance, seed, target) pairs of each dimension whose target was "
        f"reached within a budget of {unit} (every target of the ladder; no restarts simulated, a miss never "
        "counts).", interactive.runtime_ecdf(ecdf, unit, c.styles, order)))
    hits, _, _ = coco.ladder_runtimes(chosen)
    present = [t for t in COCO_TABLE_TARGETS if np.min(np.abs(np.log10(hits.columns.to_numpy(float)) -
                                                              np.log10(t))) <= 0.01]
    targets = present or list(hits.columns)
    art = coco.art_table(chosen, targets)
    finite = art["art"].where(np.isfinite(art["art"]))
    best = finite.groupby([art["function"], art["dim"], art["target"]]).transform("min")
    art["cell"] = [("*" if np.isfinite(a) and a == b else "") + (f"{a:,.1f}" if a < 100 else fmt.steps(a))
                   + f" ({k}/{n})" for a, b, k, n in zip(art["art"], best, art["successes"], art["trials"])]
    table = art.pivot_table(index=["function", "dim", "optimizer"], columns="target", values="cell",
                            aggfunc="first", sort=False)
    table = table[sorted(table.columns, reverse=True)]
    rows = [[f, str(d), o, *table.loc[(f, d, o)].tolist()] for f, d, o in table.index]
    sec.blocks.append(Table(["function", "dim", "optimizer", *(f"Delta f {t:.0e}" for t in table.columns)], rows,
                            id="coco-art", caption=f"aRT in {unit} to each Delta f: the runtimes of all trials (a "
                                                   "miss: its whole budget) over the number that reached it (in "
                                                   "brackets: reached / trials); '*': the least of the function's "
                                                   "optimizers."))
    return sec
