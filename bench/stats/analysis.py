"""The analysis API: DataFrames in, DataFrames out, from a stored results folder.

    import bench
    from bench.stats import analysis

    tables, meta = bench.read_run("results/runs/<stamp>-quick")
    runs, curves = tables["runs"], tables["curves"]
    analysis.tuned(runs)                 # best config per (instance, optimizer, impl), median + 95% CI
    analysis.one_shot(runs)              # default hyperparameters, where the grid holds them
    analysis.lr_sensitivity(runs)        # share of the grid reaching the target, and its learning rates
    analysis.attempts_to_success(runs)   # share of the trials reaching it; analysis.budgets(runs): trials, spaces
    analysis.fixed_budget(runs)          # ranks by the median final relative suboptimality [95% CI]
    analysis.disagreements(analysis.to_target(runs), analysis.fixed_budget(runs))
    analysis.select_rows(runs); analysis.report_rows(runs)   # the rows chosen on, and those reported
    ratios = analysis.performance_ratios(analysis.solver_costs(runs, "time"))
    analysis.performance_profile(ratios); analysis.algoperf_scores(ratios)
    analysis.data_profile(analysis.convergence_costs(runs, curves))
    analysis.parity(runs)                # ours vs optax
    analysis.convergence_bands(runs, curves)
    analysis.loss_bands(runs, curves)    # stochastic problems: full-batch loss, median and 10-90% over seeds
    analysis.steps_by_batch(runs); analysis.critical_batch_sizes(runs)   # batch size against steps

The definitions and their sources are in docs/METRICS.md. This module holds
what the figures need besides those: relative-suboptimality curves with a
confidence band, and the problem instances of a run.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from bench.stats import bootstrap
from bench.stats.batchsize import critical_batch_size, critical_batch_sizes, lr_batch_grid, steps_by_batch
from bench.stats.parity import parity
from bench.stats.profiles import (algoperf_scores, convergence_costs, data_profile, main_impl, performance_profile,
                            performance_ratios, solver_costs)
from bench.stats.rankings import disagreements, fixed_budget, mean_ranks, to_target
from bench.stats.tuning import (attempts_to_success, best_configs, budgets, lr_sensitivity, one_shot, per_config,
                                report_rows, reported, select_rows, tuned)

__all__ = ["algoperf_scores", "attempts_to_success", "best_configs", "budgets", "convergence_bands",
           "convergence_costs", "critical_batch_size", "critical_batch_sizes", "data_profile", "disagreements",
           "fixed_budget", "instance_problems", "loss_bands", "lr_batch_grid", "lr_sensitivity", "main_impl",
           "mean_ranks", "one_shot", "parity", "per_config", "performance_profile", "performance_ratios",
           "relative_curves", "report_rows", "reported", "select_rows", "solver_costs", "steps_by_batch",
           "to_target", "tuned"]

BAND_BOOT = 500  # resamples per band: one interval per recorded step
#: The spread over seeds of a stochastic problem's loss: the 10% and 90% quantiles (linear interpolation).
SEED_QUANTILES = (0.1, 0.9)


def relative_curves(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """curves joined with their runs: `subopt` = (f(x_t) - f_ref) / (f(x_0) - f_ref) and
    `seconds` = step x the trajectory's time per step (`lane_step_s`: its program's time per step
    over its lanes). Undefined or non-finite suboptimality is +inf."""
    cols = ["run_id", "instance", "optimizer", "impl", "config_id", "seed", "initial_loss", "f_ref", "lane_step_s"]
    c = curves.merge(runs[cols], on="run_id")
    gap = (c["initial_loss"] - c["f_ref"]).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        sub = (c["loss"].to_numpy() - c["f_ref"].to_numpy()) / gap
    c["subopt"] = np.where(np.isfinite(sub) & (gap > 0), sub, np.inf)
    c["seconds"] = c["step"] * c["lane_step_s"]
    return c


def convergence_bands(runs: pd.DataFrame, curves: pd.DataFrame, impl: str | None = None,
                      level: float = bootstrap.LEVEL, n_boot: int = BAND_BOOT,
                      seed: int = bootstrap.SEED) -> pd.DataFrame:
    """Each optimizer's tuned configuration: median relative suboptimality over seeds at each
    step stored for all its seeds, with a bootstrap confidence band.

    Returns:
      (instance, optimizer, step, seconds, median, low, high); +inf where more
      than half the seeds (for a bound: of a resample) had diverged.
    """
    impl = impl or main_impl(runs)
    rows = runs[runs["impl"] == impl]
    if rows.empty:
        return pd.DataFrame(columns=["instance", "optimizer", "step", "seconds", "median", "low", "high"])
    chosen = report_rows(rows)
    rel = relative_curves(chosen, curves[curves["run_id"].isin(chosen["run_id"])])
    out = []
    for (instance, optimizer), part in rel.groupby(["instance", "optimizer"], sort=False):
        # The steps stored for every seed (a results folder keeps each trajectory's own first
        # hits besides the steps all share: bench/runs/storage.py); a diverged seed is already +inf.
        table = part.pivot(index="step", columns="seed", values="subopt").dropna()
        median, low, high = bootstrap.median_ci(table.to_numpy().T, level=level, n_boot=n_boot, seed=seed)
        seconds = part.groupby("step")["seconds"].median().reindex(table.index)
        out.append(pd.DataFrame({"instance": instance, "optimizer": optimizer, "step": table.index.to_numpy(),
                                 "seconds": seconds.to_numpy(), "median": median, "low": low, "high": high}))
    return pd.concat(out, ignore_index=True)


def loss_bands(runs: pd.DataFrame, curves: pd.DataFrame, impl: str | None = None,
               quantiles: tuple[float, float] = SEED_QUANTILES) -> pd.DataFrame:
    """Each optimizer's tuned configuration: the full-batch loss over seeds at each step stored for
    all its seeds, its median and the `quantiles` of the seeds (not a confidence interval: the spread
    the minibatch draws and the starting points make), for the instances run with minibatches.

    Returns:
      (instance, optimizer, step, median, low, high); a diverged seed's loss is +inf.
    """
    impl = impl or main_impl(runs)
    columns = ["instance", "optimizer", "step", "median", "low", "high"]
    rows = runs[(runs["impl"] == impl)]
    if "batch_size" in rows:
        rows = rows[rows["batch_size"].fillna(0) > 0]
    else:
        rows = rows.iloc[:0]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    chosen = report_rows(rows)
    c = curves[curves["run_id"].isin(chosen["run_id"])].merge(chosen[["run_id", "instance", "optimizer", "seed"]],
                                                               on="run_id")
    c["loss"] = c["loss"].where(np.isfinite(c["loss"]), np.inf)
    out = []
    for (instance, optimizer), part in c.groupby(["instance", "optimizer"], sort=False):
        table = part.pivot(index="step", columns="seed", values="loss").dropna().to_numpy()
        with np.errstate(invalid="ignore"):
            low, median, high = np.quantile(table, [quantiles[0], 0.5, quantiles[1]], axis=1)
        steps = part.pivot(index="step", columns="seed", values="loss").dropna().index.to_numpy()
        out.append(pd.DataFrame({"instance": instance, "optimizer": optimizer, "step": steps,
                                 "median": median, "low": low, "high": high}))
    return pd.concat(out, ignore_index=True)


def instance_problems(meta: Mapping[str, Any]) -> dict[str, Any]:
    """{instance label: problems.Problem} for the problems of a run's suite (as run)."""
    from bench.core.cells import problem_label
    from bench.runs.suite import build_problem

    out = {}
    for entry in (meta.get("suite") or {}).get("problems") or []:
        try:
            p = build_problem(entry)
        except (KeyError, TypeError, ValueError):
            continue  # a problem this version cannot rebuild: its figures are left out
        sizes = entry.get("batch_size") or (meta.get("suite") or {}).get("batch_size") or [None]
        for b in sizes:  # each batch size is an instance of its own
            out[problem_label(p, None if b in (None, "full") else b)] = p
    return out
