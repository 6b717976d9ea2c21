"""The end-of-run table: per problem, each optimizer at its best learning rate, with the median relative
suboptimality at the end of the run (final) and the lowest reached (best) beside steps and time to target,
and evaluations to target where some optimizer of the problem makes other than one evaluation per step."""

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
    best = tuning.best_configs(runs)
    ratio = runs.groupby(["instance", "optimizer"])["time_ratio_vs_optax"].first()
    evals = (runs.groupby(["instance", "optimizer", "impl", "config_id"])["evals_to_target"].median()
             if "evals_to_target" in runs else None)
    out = {}
    ours = best[best["impl"] == "gdbench"]
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
        })
        if evals is not None:
            keys = zip(group["instance"], group["optimizer"], group["impl"], group["config_id"])
            table["evals"] = [evals.get(k, float("nan")) for k in keys]
            if table["evals"].equals(table["steps"]):  # one evaluation per step: the column would repeat steps
                table = table.drop(columns="evals")
        out[instance] = table.sort_values(["time", "steps"], kind="stable")
    return out


def _at_edge(runs: pd.DataFrame, instance: str, optimizer: str, lr) -> bool:
    """Whether the chosen learning rate is the lowest or highest of three or more tried: the best may lie beyond."""
    if lr is None or "learning_rate" not in runs:
        return False
    tried = runs.loc[(runs["instance"] == instance) & (runs["optimizer"] == optimizer), "learning_rate"].dropna()
    return tried.nunique() > 2 and lr in (tried.min(), tried.max())


def _render(runs: pd.DataFrame, suite, status: str, console) -> None:
    from rich.table import Table

    target = f"{suite.target:.0e}"
    for instance, table in rows(runs).items():
        t = Table(title=f"{instance}: relative suboptimality {target}, median over {len(suite.seeds)} seeds",
                  title_justify="left")
        counted = "evals" in table
        columns = [("optimizer", "left"), ("best lr", "right"), ("steps", "right"), ("time", "right"),
                   ("seeds hit", "right"), ("final", "right"), ("best", "right"), ("time/step vs optax", "right")]
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
                     _subopt(r.final), _subopt(r.best), "-" if not math.isfinite(r.ratio) else f"{r.ratio:.2f}x"]
            if counted:
                cells.insert(3, fmt.steps(r.evals))
            t.add_row(*cells)
        if edges:
            t.caption = "* the best learning rate is at the edge of the range tried: a better one may lie beyond it"
            t.caption_justify = "left"
        console.print(t)
    if status != "complete":
        console.print(f"[bold red]run {status}: the tables hold the cells finished before it stopped[/]")


def _subopt(value: float) -> str:
    """A median relative suboptimality (final or best of the run), e.g. 3.7e-03; a miss or NaN: '-'."""
    return f"{value:.1e}" if math.isfinite(value) else "-"


def show(runs: pd.DataFrame, suite, status: str, console) -> None:
    """Prints the tables to a rich console."""
    _render(runs, suite, status, console)


def text(runs: pd.DataFrame, suite, status: str) -> str:
    """The same tables as plain text (summary.txt)."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=110, color_system=None, force_terminal=False)
    console.print(f"suite {suite.name}: {len(runs)} trajectories, {suite.steps} steps, dtype {suite.dtype}")
    _render(runs, suite, status, console)
    return buf.getvalue()
