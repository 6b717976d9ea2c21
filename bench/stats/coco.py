"""COCO's measures on absolute targets: runtimes to Delta f, aRT and the runtime ECDF.

COCO judges a run by when it first reaches each absolute target
Delta f = f(x) - f_opt <= t, for t in 10^2, 10^1.8, ..., 10^-8 (five per decade),
not by a relative suboptimality. Here a run's runtime to a target is the first
recorded step t (the point after t updates, one gradient evaluation each) whose
loss is at or under f_opt + t; +inf if none. With curves recorded at every step
it is exact; with thinned curves it is the first recorded step, an upper bound.

    hits = coco.runtimes(curves, f_opt)             # run_id x target, steps (+inf: missed)
    coco.average_running_time(hits, budgets)        # aRT per target
    coco.runtime_ecdf(hits, [10, 100, 1000])        # share of (run, target) pairs solved by each budget

Definitions (Hansen et al. 2016, 2021): aRT = (sum over runs of the runtime of
a hit, or the run's whole budget for a miss) / (number of hits), +inf without a
hit (one target at a time; `bench.stats.tuning.average_running_time`). The
runtime ECDF at budget b is the fraction of all (run, target) pairs whose
runtime is <= b; a miss never counts. Pure functions: nothing here reads or
writes files.

References:
  Hansen, Auger, Brockhoff, Tusar, Tusar, "COCO: Performance assessment",
  arXiv:1605.03560, 2016.
  Hansen, Auger, Ros, Mersmann, Tusar, Brockhoff, "COCO: a platform for
  comparing continuous optimizers in a black-box setting", Optimization Methods
  and Software 36(1):114-144, 2021.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from bench.stats import tuning

#: COCO's absolute targets: 10^2 down to 10^-8, five per decade (51 values).
TARGETS = tuple(float(10.0 ** (k / 5)) for k in range(10, -41, -1))


def runtimes(curves: pd.DataFrame, f_opt: float | Mapping[int, float] | pd.Series,
             targets=TARGETS) -> pd.DataFrame:
    """First recorded step of each run at or under f_opt + target.

    Args:
      curves: (run_id, step, loss) rows, any order.
      f_opt: the optimal value, one for all runs or per run_id.
      targets: the absolute targets Delta f (positive).

    Returns:
      A DataFrame indexed by run_id (sorted), one column per target, holding
      the first-hit step as a float (+inf where the run never reached it).
    """
    targets = np.asarray(targets, dtype=float)
    if targets.ndim != 1 or not np.all(targets > 0):
        raise ValueError(f"targets must be positive numbers, got {targets!r}")
    c = curves.sort_values(["run_id", "step"], kind="stable")
    run_ids = c["run_id"].to_numpy()
    if isinstance(f_opt, (int, float, np.floating, np.integer)):
        fo = np.full(len(c), float(f_opt))
    else:
        fo = pd.Series(f_opt, dtype=float).reindex(run_ids).to_numpy()
        if np.isnan(fo).any():
            missing = sorted(set(run_ids[np.isnan(fo)]))
            raise ValueError(f"f_opt has no value for run_id {missing[:5]}")
    gap = c["loss"].to_numpy(dtype=float) - fo
    reached = gap[:, None] <= targets[None, :]  # NaN losses never reach a target
    steps = np.where(reached, c["step"].to_numpy(dtype=float)[:, None], np.inf)
    table = pd.DataFrame(steps, columns=targets).groupby(run_ids).min()
    table.index.name = "run_id"
    return table


def average_running_time(hits: pd.DataFrame, budgets: Mapping[int, float] | pd.Series) -> pd.Series:
    """COCO's aRT per target, in steps, over the runs of `hits` (+inf for a target no run reached).

    Args:
      hits: `runtimes`' table (run_id x target).
      budgets: each run's budget (its number of steps), by run_id.
    """
    b = pd.Series(budgets, dtype=float).reindex(hits.index).to_numpy()
    if np.isnan(b).any():
        raise ValueError("budgets must give every run_id of hits a budget")
    return pd.Series({t: tuning.average_running_time(hits[t].to_numpy(), b) for t in hits.columns},
                     name="art", dtype=float).rename_axis("target")


def runtime_ecdf(hits: pd.DataFrame, budgets) -> pd.Series:
    """The share of (run, target) pairs with runtime <= b, for each budget b (sorted)."""
    b = np.sort(np.asarray(budgets, dtype=float))
    values = hits.to_numpy(dtype=float).ravel()
    if values.size == 0:
        raise ValueError("runtime_ecdf needs at least one (run, target) pair")
    share = np.searchsorted(np.sort(values), b, side="right") / values.size
    return pd.Series(share, index=pd.Index(b, name="budget"), name="ecdf")
