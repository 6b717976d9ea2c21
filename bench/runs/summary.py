"""The end-of-run table: per problem, each optimizer at its best learning rate, with the median relative
suboptimality at the end of the run (final) and the lowest reached (best) beside steps and time to target,
and the result at its default hyperparameters (default) beside the tuned one; evaluations to target beside
steps where some optimizer of the problem makes other than one evaluation per step.

The configuration is chosen on the selection seeds and its medians are over the report seeds where the
run has held-out ones (`tuning.report_rows`); otherwise the two share seeds, and the summary says so."""

from __future__ import annotations

import io
import json
import math

import pandas as pd

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
    out = {}
    ours = best[best["impl"] == "gdbench"]
    defaults = _defaults(runs[runs["impl"] == "gdbench"])
    for instance in runs["instance"].unique():
        group = ours[ours["instance"] == instance]
        if group.empty:
            continue
        best_lr = [json.loads(h).get("learning_rate") for h in group["hyperparams"]]
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


def _at_edge(runs: pd.DataFrame, instance: str, optimizer: str, lr) -> bool:
    """Whether the chosen learning rate is the lowest or highest of three or more tried: the best may lie beyond."""
    if lr is None or "learning_rate" not in runs:
        return False
    tried = runs.loc[(runs["instance"] == instance) & (runs["optimizer"] == optimizer), "learning_rate"].dropna()
    return tried.nunique() > 2 and lr in (tried.min(), tried.max())


def failure_line(record: dict) -> str:
    """One line for a failed cell (a record of meta.json's `failures`): which cell, and why."""
    return f"{record['problem']} / {record['optimizer']} ({record['impl']}): {record['error']}"


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
        t = Table(title=f"{instance}: {kind} {target}, median over {seeds} "
                        f"{'held-out ' if held else ''}seeds", title_justify="left")
        counted = "evals" in table
        columns = [("optimizer", "left"), ("best lr", "right"), ("steps", "right"), ("time", "right"),
                   ("seeds hit", "right"), ("final", "right"), ("best", "right"), ("time/step vs optax", "right"),
                   ("default", "right")]
        if counted:  # evaluations to target beside steps (line searches: several per step)
            columns.insert(3, ("evals", "right"))
        for col, justify in columns:
            # the optimizer's name is never cut (a custom "file.py:attribute" is long); the numbers wrap instead
            names = col == "optimizer"
            t.add_column(col, justify=justify, no_wrap=names,
                         min_width=max(map(len, table["optimizer"])) if names else None)
        edges = False
        for r in table.itertuples(index=False):
            lr = "-" if r[1] is None else f"{r[1]:.3g}" + ("*" if r.edge else "")
            edges |= bool(r.edge)
            cells = [r.optimizer, lr, fmt.steps(r.steps), fmt.seconds(r.time), f"{r.hit:.0%}",
                     _subopt(r.final), _subopt(r.best), "-" if not math.isfinite(r.ratio) else f"{r.ratio:.2f}x",
                     r.default]
            if counted:
                cells.insert(3, fmt.steps(r.evals))
            t.add_row(*cells)
        if edges:
            t.caption = "* the best learning rate is at the edge of the range tried: a better one may lie beyond it"
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
