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

A run with absolute targets (`target_kind = "absolute"`) has its exact first
hits in the runs table already (`steps_to_df_*`): `ladder_runtimes` reads them,
`art_table` gives aRT per function, dimension, optimizer and target, and
`ecdf_table` the runtime ECDF per dimension and optimizer over (function,
instance, seed, target), as the report shows them. A function is a problem
instance's label without its `instance` argument (COCO's instances of one
function are its trials, with the seeds).

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

import re
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from bench.core import sweepspec
from bench.stats import tuning

#: COCO's absolute targets: 10^2 down to 10^-8, five per decade (51 values; `targets = "coco"`).
TARGETS = sweepspec.COCO_TARGETS
#: The runs table's exact first hits of absolute targets: `steps_to_df_<Delta f>` (`sweepspec.target_column`).
LADDER_PREFIX = "steps_to_df_"
#: COCO counts runtimes in function evaluations; a results folder counting them (`evals_to_df_*`, `evals`)
#: is read in them, others in steps: for a gradient method one step is one gradient evaluation.
UNITS = (("evals_to_df_", "evals", "evaluations"), (LADDER_PREFIX, "steps", "steps"))


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


# --------------------------------------------------------------------------- a run with absolute targets


def is_absolute(runs: pd.DataFrame) -> bool:
    """Whether the rows are of absolute targets (their exact first hits are `steps_to_df_*` columns)."""
    return "target_kind" in runs.columns and bool((runs["target_kind"] == "absolute").any())


def ladder_runtimes(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, str]:
    """(runtimes run_id x target, budgets by run_id, unit) from a runs table of absolute targets.

    The targets are read from the column names (three significant digits,
    enough to tell COCO's ladder apart); the runtime of a miss is +inf, the
    budget a run's whole length. The unit is evaluations where the table counts
    them (`UNITS`), else steps.
    """
    for prefix, budget, unit in UNITS:
        columns = [c for c in runs.columns if c.startswith(prefix)]
        if columns and budget in runs.columns:
            break
    else:
        raise ValueError(f"the runs have no {LADDER_PREFIX}* columns (absolute targets)")
    hits = runs.set_index("run_id")[columns].astype(float)
    hits.columns = [float(c[len(prefix):]) for c in columns]
    hits = hits.where(np.isfinite(hits), np.inf)
    return hits, runs.set_index("run_id")[budget].astype(float), unit


def function_of(instance: str) -> str:
    """A problem instance's function: its label without the `instance` argument.

    'bbob(function=1, instance=2, dim=10)' -> 'bbob(function=1, dim=10)'.
    """
    m = re.fullmatch(r"([^(]*)\((.*)\)(.*)", instance)
    if m is None:
        return instance
    args = [a for a in m.group(2).split(", ") if a and not a.startswith("instance=")]
    return f"{m.group(1)}({', '.join(args)}){m.group(3)}"


def art_table(runs: pd.DataFrame, targets: Sequence[float] | None = None) -> pd.DataFrame:
    """COCO's aRT per (function, dim, optimizer, target) over the rows' runs (instances and seeds).

    Args:
      runs: rows of a runs table with absolute targets (e.g. each optimizer's
        tuned configuration), all of one implementation.
      targets: the targets to report (default: every one of the ladder).

    Returns:
      (function, dim, optimizer, target, art, successes, trials) rows; art in
      the unit of `ladder_runtimes`, +inf where no run reached the target.
    """
    hits, budgets, _ = ladder_runtimes(runs)
    chosen = list(hits.columns) if targets is None else [_column(hits, t) for t in targets]
    keys = runs.set_index("run_id").assign(function=lambda d: d["instance"].map(function_of))
    out = []
    for (function, dim, optimizer), part in keys.groupby(["function", "dim", "optimizer"], sort=False):
        h, b = hits.loc[part.index], budgets.loc[part.index]
        for t in chosen:
            out.append({"function": function, "dim": int(dim), "optimizer": optimizer, "target": t,
                        "art": tuning.average_running_time(h[t].to_numpy(), b.to_numpy()),
                        "successes": int(np.isfinite(h[t]).sum()), "trials": len(part)})
    return pd.DataFrame(out, columns=["function", "dim", "optimizer", "target", "art", "successes", "trials"])


def ecdf_table(runs: pd.DataFrame, budgets: Sequence[float] | None = None) -> pd.DataFrame:
    """The runtime ECDF per (dim, optimizer) over every (function, instance, seed, target) pair of the rows.

    Returns (dim, optimizer, budget, ecdf) rows at the `budgets` given, or by
    default at 0, every runtime reached and the longest budget (the whole step
    function), in the unit of `ladder_runtimes`; a miss never counts (no
    restarts are simulated).
    """
    hits, lengths, _ = ladder_runtimes(runs)
    if budgets is None:
        reached = hits.to_numpy(dtype=float)
        grid = np.unique(np.concatenate([[0.0, float(lengths.max())], reached[np.isfinite(reached)]]))
    else:
        grid = np.asarray(budgets, dtype=float)
    out = []
    keyed = runs.set_index("run_id")
    for (dim, optimizer), part in keyed.groupby(["dim", "optimizer"], sort=False):
        share = runtime_ecdf(hits.loc[part.index], grid)
        out += [{"dim": int(dim), "optimizer": optimizer, "budget": b, "ecdf": float(v)} for b, v in share.items()]
    return pd.DataFrame(out, columns=["dim", "optimizer", "budget", "ecdf"])


def _column(hits: pd.DataFrame, target: float) -> float:
    """The column of `hits` nearest `target` on a log scale (the names hold three digits)."""
    cols = np.asarray(hits.columns, dtype=float)
    best = cols[np.argmin(np.abs(np.log10(cols) - np.log10(target)))]
    if abs(np.log10(best) - np.log10(target)) > 0.01:
        raise ValueError(f"no target {target:g} among the runs' absolute targets")
    return float(best)
