"""The end-of-run table: per problem, each optimizer at its best learning rate."""

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
    out = {}
    ours = best[best["impl"] == "gdbench"]
    for instance in runs["instance"].unique():
        group = ours[ours["instance"] == instance]
        if group.empty:
            continue
        table = pd.DataFrame({
            "optimizer": group["optimizer"],
            "best lr": [json.loads(h).get("learning_rate") for h in group["hyperparams"]],
            "steps": group["median_steps"],
            "time": group["median_time_s"],
            "hit": group["hit_share"],
            "ratio": [ratio.get((instance, o), float("nan")) for o in group["optimizer"]],
        }).sort_values(["time", "steps"], kind="stable")
        out[instance] = table
    return out


def _render(runs: pd.DataFrame, suite, status: str, console) -> None:
    from rich.table import Table

    target = f"{suite.target:.0e}"
    for instance, table in rows(runs).items():
        t = Table(title=f"{instance}: relative suboptimality {target}, median over {len(suite.seeds)} seeds",
                  title_justify="left")
        for col, justify in [("optimizer", "left"), ("best lr", "right"), ("steps", "right"), ("time", "right"),
                             ("seeds hit", "right"), ("time/step vs optax", "right")]:
            t.add_column(col, justify=justify)
        for r in table.itertuples(index=False):
            lr = "-" if r[1] is None else f"{r[1]:.3g}"
            t.add_row(r.optimizer, lr, fmt.steps(r.steps), fmt.seconds(r.time), f"{r.hit:.0%}",
                      "-" if not math.isfinite(r.ratio) else f"{r.ratio:.2f}x")
        console.print(t)
    if status != "complete":
        console.print(f"[bold red]run {status}: the tables hold the cells finished before it stopped[/]")


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
