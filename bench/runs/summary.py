"""The end-of-run table: per problem, each optimizer at its best learning rate, with the median relative
suboptimality at the end of the run (final) and the lowest reached (best) beside steps and time to target,
and the result at its default hyperparameters (default) beside the tuned one; evaluations to target beside
steps where some optimizer of the problem makes other than one evaluation per step.

The configuration is chosen on the selection seeds and its medians are over the report seeds where the
run has held-out ones (`tuning.report_rows`); otherwise the two share seeds, and the summary says so.

The configuration column shows every hyperparameter that was tuned (took more than one value among the
optimizer's runs on that problem): "best lr" when only the learning rate was, else "best configuration",
e.g. `lr=0.0032, b1=0.93, weight_decay=1e-04`, each `name=value` whole (the cell wraps between them).
Footnotes say when a problem ran one seed because its start does not depend on the seed (`fixed_start`),
and when a user's optimizer ran lane by lane beside others run lanes-last (`layout`)."""

from __future__ import annotations

import io
import json
import math

import pandas as pd

import optimizers

from bench.reporting import fmt
from bench.stats import tuning


def rows(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per instance: our implementations' best configurations, fastest first."""
    if runs.empty:
        return {}
    best = tuning.reported(runs)
    ratio = runs.groupby(["instance", "optimizer"])["time_ratio_vs_optax"].first()
    # evaluations to target: medians over the rows the steps are (`tuning.report_rows`)
    evals = (tuning.report_rows(runs).groupby(["instance", "optimizer", "impl", "config_id"])["evals_to_target"]
             .median() if "evals_to_target" in runs else None)
    layouts = runs.groupby(["instance", "optimizer"])["layout"].first() if "layout" in runs else {}
    out = {}
    ours = best[best["impl"] == "gdbench"]
    defaults = _defaults(runs[runs["impl"] == "gdbench"])
    for instance in runs["instance"].unique():
        group = ours[ours["instance"] == instance]
        if group.empty:
            continue
        best_lr = [json.loads(h).get("learning_rate") for h in group["hyperparams"]]
        tuned = [_tuned(runs, instance, o, h) for o, h in zip(group["optimizer"], group["hyperparams"])]
        table = pd.DataFrame({
            "optimizer": group["optimizer"],
            "best lr": best_lr,
            "edge": [_at_edge(runs, instance, o, lr) for o, lr in zip(group["optimizer"], best_lr)],
            "steps": group["median_steps"],
            "time": group["median_time_s"],
            "hit": group["hit_share"],
            "final": group["median_subopt"],
            "best": group["median_best_subopt"],
            "ratio": [ratio.get((instance, o), float("nan")) for o in group["optimizer"]],
            "default": [defaults.get((instance, o), "-") for o in group["optimizer"]],
            "seeds": group["seeds"],
            "phase": group[tuning.PHASE],
            "tuned": tuned,
            "layout": [layouts.get((instance, o)) for o in group["optimizer"]],
        })
        if evals is not None:
            keys = zip(group["instance"], group["optimizer"], group["impl"], group["config_id"])
            table["evals"] = [evals.get(k, float("nan")) for k in keys]
            if table["evals"].equals(table["steps"]):  # one evaluation per step: the column would repeat steps
                table = table.drop(columns="evals")
        out[instance] = table.sort_values(["time", "steps"], kind="stable")
    return out


def _defaults(runs: pd.DataFrame) -> dict[tuple[str, str], str]:
    """{(instance, optimizer): 'steps / final'} at the default hyperparameters (`tuning.one_shot`), or
    'not in grid' where the grid did not hold them."""
    one = tuning.one_shot(runs, n_boot=1)  # the medians only: the intervals are not shown
    return {(r.instance, r.optimizer): f"{fmt.steps(r.steps)} / {_subopt(r.subopt)}" if r.in_grid else "not in grid"
            for r in one.itertuples(index=False)}


def _tuned(runs: pd.DataFrame, instance: str, optimizer: str, chosen: str) -> dict:
    """The chosen configuration's values of the hyperparameters other than the learning rate that took
    more than one value among our runs of `optimizer` on `instance` (grid or search), in name order."""
    mine = runs[(runs["instance"] == instance) & (runs["optimizer"] == optimizer) & (runs["impl"] == "gdbench")]
    configs = [json.loads(h) for h in mine["hyperparams"].unique()]
    names = sorted({k for c in configs for k in c} - {"learning_rate"})
    varied = [k for k in names if len({json.dumps(c.get(k)) for c in configs}) > 1]
    best = json.loads(chosen)
    return {k: best.get(k) for k in varied}


def _value(v) -> str:
    """A hyperparameter's value, short: floats to 3 significant digits."""
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _configuration(lr, edge: bool, tuned: dict, with_names: bool) -> str:
    """The configuration cell: the learning rate (starred at the edge), then the other tuned values."""
    lr = None if lr is None or (isinstance(lr, float) and math.isnan(lr)) else float(lr)  # pandas: None -> NaN
    lr_text = "-" if lr is None else _value(lr) + ("*" if edge else "")
    if not with_names:
        return lr_text
    parts = ([] if lr is None else [f"lr={lr_text}"]) + [f"{k}={_value(v)}" for k, v in tuned.items()]
    return ", ".join(parts) or "-"


def _fixed_start(runs: pd.DataFrame, instance: str) -> bool:
    """Whether one seed ran on `instance` because its start does not depend on the seed (`fixed_start`:
    the other seeds asked would have run the same trajectory)."""
    mine = runs[runs["instance"] == instance]
    return "fixed_start" in mine and bool(mine["fixed_start"].all())


def _layout_note(table: pd.DataFrame) -> list[str]:
    """A footnote when a user's optimizer ran lane by lane (vmap) beside others run lanes-last with
    broadcast hyperparameters (the runs table's `layout`): their times include the layout's cost, and a
    plain factory could have been marked elementwise. A registered optimizer's layout is its own (those
    that reduce over the parameters must run lane by lane): no footnote for it alone."""
    by = {layout: list(table.loc[table["layout"] == layout, "optimizer"]) for layout in ("vmap", "lanes_last")}
    registered = set(optimizers.names())
    if not (by["lanes_last"] and any(name not in registered for name in by["vmap"])):
        return []
    fewer = min(by, key=lambda k: len(by[k]))
    said = {k: ", ".join(v) if k == fewer or len(v) <= 3 else f"the other {len(v)}" for k, v in by.items()}
    return [f"{said['vmap']} ran lane by lane (vmap), {said['lanes_last']} lanes-last: their times include "
            "the layout (mark an elementwise factory with optimizers.elementwise)"]


def _at_edge(runs: pd.DataFrame, instance: str, optimizer: str, lr) -> bool:
    """Whether the chosen learning rate is the lowest or highest of three or more tried: the best may lie beyond."""
    if lr is None or "learning_rate" not in runs:
        return False
    tried = runs.loc[(runs["instance"] == instance) & (runs["optimizer"] == optimizer), "learning_rate"].dropna()
    return tried.nunique() > 2 and lr in (tried.min(), tried.max())


def failure_line(record: dict) -> str:
    """One line for a failed cell (a record of meta.json's `failures`): which cell, and why."""
    return f"{record['problem']} / {record['optimizer']} ({record['impl']}): {record['error']}"


def cells(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """One instance's table (`rows`) as the terminal prints it: the headers, and each row's cells.

    The configuration's column is "best lr" where only the learning rate was
    tuned, else "best configuration" (`name=value, ...`). summary.tex
    (`bench.reporting.export`) prints the same cells.
    """
    with_names = any(bool(d) for d in table["tuned"])  # more than the learning rate was tuned
    headers = ["optimizer", "best configuration" if with_names else "best lr", "steps", "time", "seeds hit",
               "final", "best", "time/step vs optax", "default"]
    body = [[r.optimizer, _configuration(r[1], r.edge, r.tuned, with_names), fmt.steps(r.steps), fmt.seconds(r.time),
             f"{r.hit:.0%}", _subopt(r.final), _subopt(r.best),
             "-" if not math.isfinite(r.ratio) else f"{r.ratio:.2f}x", r.default]
            for r in table.itertuples(index=False)]
    if "evals" in table:  # evaluations to target beside steps (line searches: several per step)
        headers.insert(3, "evals")
        for row, r in zip(body, table.itertuples(index=False)):
            row.insert(3, fmt.steps(r.evals))
    return headers, body


def _render(runs: pd.DataFrame, suite, status: str, console, failures=()) -> None:
    from rich.table import Table

    target = f"{suite.target:.0e}"
    absolute = getattr(suite, "target_kind", "relative") == "absolute"
    kind = "Delta f = f - f* <=" if absolute else "relative suboptimality"
    shared = None  # None: no table
    for instance, table in rows(runs).items():
        held = bool((table["phase"] == tuning.REPORT).all())
        shared = bool(shared) or not held
        seeds = int(table["seeds"].max())
        fixed = _fixed_start(runs, instance)
        over = "1 seed" if fixed else f"median over {seeds} {'held-out ' if held else ''}seeds"
        t = Table(title=f"{instance}: {kind} {target}, {over}", title_justify="left")
        headers, body = cells(table)
        with_names = headers[1] == "best configuration"
        # the longest `name=value` of a configuration: the column wraps between them, never inside one
        longest = max((len(part) for row in body for part in row[1].split(", ")), default=1)
        for col in headers:
            # the optimizer's name is never cut (a custom "file.py:attribute" is long); the numbers wrap instead
            names = col == "optimizer"
            config = col.startswith("best ") and with_names
            t.add_column(col, justify="left" if names or config else "right", no_wrap=names,
                         min_width=max(map(len, table["optimizer"])) if names else (longest + 1 if config else None))
        for row in body:
            t.add_row(*row)
        edges = bool(table["edge"].any())
        edge_note = "* the best learning rate is at the edge of the range tried: a better one may lie beyond it"
        notes = [edge_note] if edges else []
        notes += ["1 seed: the start does not depend on the seed (every seed asked would run the same trajectory)"
                  ] if fixed else []
        notes += _layout_note(table)
        if notes:
            t.caption = "\n".join(notes)
            t.caption_justify = "left"
        console.print(t)
    if shared is not None:
        console.print("default: steps / final at the optimizer's default hyperparameters ('not in grid': not run)")
    if shared:
        console.print("selection and report share seeds: a tuned result is measured on the seeds it was chosen on")
    for record in failures:
        console.print(f"failed: {failure_line(record)}", style="bold red", markup=False, highlight=False,
                      soft_wrap=True)  # one line each, however long
    if failures and status == "complete_with_failures":
        console.print(f"[bold red]run complete with failures: {len(failures)} cell(s) failed (above); "
                      "the tables hold the others, and `gdbench run --resume` retries the failed ones[/]",
                      soft_wrap=True)
    elif status != "complete":
        console.print(f"[bold red]run {status}: the tables hold the cells finished before it stopped[/]")


def _subopt(value: float) -> str:
    """A median relative suboptimality (final or best of the run), e.g. 3.7e-03; a miss or NaN: '-'."""
    return f"{value:.1e}" if math.isfinite(value) else "-"


def show(runs: pd.DataFrame, suite, status: str, console, failures=()) -> None:
    """Prints the tables, then a line per failed cell (`failures`: meta.json's records), to a rich console."""
    _render(runs, suite, status, console, failures)


def text(runs: pd.DataFrame, suite, status: str, failures=()) -> str:
    """The same tables as plain text (summary.txt)."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=130, color_system=None, force_terminal=False)
    console.print(f"suite {suite.name}: {len(runs)} trajectories, {suite.steps} steps, dtype {suite.dtype}")
    _render(runs, suite, status, console, failures)
    return buf.getvalue()
