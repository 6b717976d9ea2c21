"""Across problems: performance profiles, data profiles and the AlgoPerf score.

Every function takes a long table with one row per (problem, solver) and a
`cost` column (steps or seconds to a target; for data profiles the optimizer's
evaluations, docs/METRICS.md, with the problem's `dim`). A failure is +inf: a missed target, a NaN,
and a solver absent from a problem all count as +inf, so nothing non-finite ever
reaches a mean or an integral. Problems where every solver failed stay in the
denominator. Formulas and sources: docs/METRICS.md.

    costs = profiles.solver_costs(runs, "steps")   # tuned configs, median over seeds
    ratios = profiles.performance_ratios(costs)
    profiles.performance_profile(ratios)           # rho_s(tau)
    profiles.algoperf_scores(ratios)               # integral of rho_s over [1, 4] / 3
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.core import cells
from bench.stats import tuning

R_MAX = 4.0
MEASURES = {"steps": "median_steps", "time": "median_time_s"}
DATA_PROFILE_TAUS = (1e-1, 1e-3, 1e-6)


def main_impl(runs: pd.DataFrame) -> str:
    """The implementation the comparisons are about: ours when present."""
    impls = list(dict.fromkeys(runs["impl"])) if len(runs) else []
    return "gdbench" if "gdbench" in impls or not impls else impls[0]


def solver_costs(runs: pd.DataFrame, measure: str = "steps", impl: str | None = "gdbench") -> pd.DataFrame:
    """(problem, solver, cost): each optimizer's tuned median over seeds of steps or time to target.

    Args:
      runs: the runs table.
      measure: "steps" (steps to the primary target) or "time" (seconds to it).
      impl: one implementation's rows ("gdbench" or "optax"), or None for both
        with the solver named "optimizer/impl".
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    rows = runs if impl is None else runs[runs["impl"] == impl]
    best = tuning.reported(rows)  # chosen on the selection seeds, measured on the report's
    solver = best["optimizer"] if impl is not None else best["optimizer"] + "/" + best["impl"]
    return pd.DataFrame({"problem": best["instance"].to_numpy(), "solver": solver.to_numpy(),
                         "cost": tuning.as_cost(best[MEASURES[measure]])})


def _square(costs: pd.DataFrame) -> pd.DataFrame:
    """problems x solvers, a missing pair and every non-finite cost +inf."""
    table = costs.assign(cost=tuning.as_cost(costs["cost"])).pivot(index="problem", columns="solver", values="cost")
    return table.fillna(np.inf)


def performance_ratios(costs: pd.DataFrame) -> pd.DataFrame:
    """r_ps = t_ps / min_s t_ps (Dolan & More 2002); +inf for a failure.

    Returns:
      (problem, solver, cost, ratio), one row per pair of the square table.
    """
    t = _square(costs)
    best = t.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = t.div(best, axis=0)
    r = r.where(np.isfinite(t), np.inf)  # a failure, whatever the others did
    r = r.mask(t.eq(best, axis=0) & np.isfinite(t), 1.0)  # the best (also when its cost is 0)
    r = r.where(np.isfinite(r), np.inf)
    long = t.stack().rename("cost").to_frame().join(r.stack().rename("ratio"))
    return long.reset_index()


def performance_profile(ratios: pd.DataFrame, taus=None) -> pd.DataFrame:
    """rho_s(tau) = |{p : r_ps <= tau}| / n_p, at each tau.

    Args:
      ratios: `performance_ratios`' table.
      taus: where to evaluate; by default 1, every finite ratio and R_MAX, so
        that drawing it as a step function (steps-post) is exact.

    Returns:
      (solver, tau, rho).
    """
    n_p = ratios["problem"].nunique()
    if taus is None:
        finite = ratios["ratio"][np.isfinite(ratios["ratio"])]
        taus = np.unique(np.concatenate([[1.0, R_MAX], finite.to_numpy()]))
    taus = np.asarray(taus, dtype=float)
    rows = []
    for solver, part in ratios.groupby("solver", sort=False):
        r = part["ratio"].to_numpy()
        rho = (r[None, :] <= taus[:, None]).sum(axis=1) / n_p
        rows.append(pd.DataFrame({"solver": solver, "tau": taus, "rho": rho}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["solver", "tau", "rho"])


def algoperf_scores(ratios: pd.DataFrame, r_max: float = R_MAX) -> pd.DataFrame:
    """The integrated performance profile: (1 / (r_max - 1)) * integral_1^r_max rho_s(tau) dtau.

    rho_s is a step function, so the integral is exact: each problem adds
    (r_max - r_ps) / n_p when r_ps <= r_max and nothing otherwise (a miss,
    r = inf, adds nothing). Scores lie in [0, 1]; 1 = best on every problem.

    Returns:
      (solver, score, solved, problems) sorted by score, best first; `solved`
      counts the problems with a finite ratio.
    """
    if not r_max > 1:
        raise ValueError(f"r_max must be > 1, got {r_max!r}")
    n_p = ratios["problem"].nunique()
    rows = []
    for solver, part in ratios.groupby("solver", sort=False):
        r = part["ratio"].to_numpy(dtype=float)
        r = np.where(np.isfinite(r), r, np.inf)
        gain = np.where(r <= r_max, r_max - np.maximum(r, 1.0), 0.0)
        rows.append({"solver": solver, "score": float(gain.sum() / (n_p * (r_max - 1.0))),
                     "solved": int(np.isfinite(r).sum()), "problems": n_p})
    out = pd.DataFrame(rows, columns=["solver", "score", "solved", "problems"])
    return out.sort_values(["score", "solver"], ascending=[False, True], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- data profiles


def first_hits(curves: pd.DataFrame, thresholds: pd.Series) -> pd.DataFrame:
    """Each run's first recorded step with loss <= its threshold.

    Args:
      curves: (run_id, step, loss).
      thresholds: loss thresholds indexed by run_id.

    Returns:
      (run_id, step, resolution) indexed like `thresholds`: `step` is +inf
      where no recorded loss is under the threshold; `resolution` is the gap to
      the previous recorded step (1: the first hit is exact; k > 1: the true
      first hit is one of the k steps up to `step`).
    """
    c = curves[curves["run_id"].isin(thresholds.index)].sort_values(["run_id", "step"], kind="stable")
    prev = c.groupby("run_id")["step"].shift(1)
    c = c.assign(resolution=(c["step"] - prev).fillna(1.0))
    hit = c[c["loss"].to_numpy() <= thresholds.reindex(c["run_id"]).to_numpy()]
    first = hit.groupby("run_id").first()
    out = pd.DataFrame(index=thresholds.index)
    out["step"] = first["step"].reindex(out.index).astype(float).fillna(np.inf)
    out["resolution"] = first["resolution"].reindex(out.index).fillna(1.0)
    return out.reset_index(names="run_id")


def convergence_costs(runs: pd.DataFrame, curves: pd.DataFrame, taus=DATA_PROFILE_TAUS,
                      impl: str | None = "gdbench", measure: str = "evals") -> pd.DataFrame:
    """More-Wild's t_ps: evaluations until f(x) <= f_L + tau (f(x_0) - f_L).

    f_L is the lowest loss any trajectory of the problem reached (`best_loss`,
    all configurations of the solvers compared). Each solver runs its tuned
    configuration (`tuning.report_rows`); t_ps is the median over seeds of
    t + 1, t the first step passing the test: reaching x_t takes the t + 1
    evaluations of (f, grad f) at x_0, ..., x_t. Where f_L equals the run's
    f_ref and tau is on the target ladder the exact first-hit column is used;
    otherwise the first recorded step of curves.parquet (`resolution` > 1
    where it is not exact; the default schedule records every step up to 1,000).

    `measure`: "evals" counts the optimizer's evaluations (the runs table's
    `evals_to_<tau>`, docs/METRICS.md), so that a line search's trials count:
    t_ps is the evaluations up to x_t plus the one at x_t. A first hit read from
    the curve has no count for an optimizer of other than one evaluation per
    step: its cost is then NaN (unknown, a failure in the profile). "steps"
    takes each step as one evaluation (t + 1), whatever the optimizer does.

    Returns:
      (problem, solver, tau, dim, cost, resolution): `cost` in evaluations
      (+inf for a miss), `resolution` the largest gap between
      recorded steps behind a finite per-seed first hit (1 = exact).
    """
    if measure not in ("evals", "steps"):
        raise ValueError(f"measure must be 'evals' or 'steps', got {measure!r}")
    rows = runs if impl is None else runs[runs["impl"] == impl]
    if rows.empty:
        return pd.DataFrame(columns=["problem", "solver", "tau", "dim", "cost", "resolution"])
    counted = measure == "evals" and "evals" in rows
    if counted:  # per run: whether it made other than one evaluation per step
        ran = np.where(rows["diverged"], rows["diverged_step"], rows["steps"])
        several = pd.Series(rows["evals"].to_numpy() != ran, index=rows["run_id"])
    f_low = rows.groupby("instance")["best_loss"].min()
    chosen = tuning.report_rows(rows).set_index("run_id")  # the tuned configurations on the report seeds
    f_l = f_low.reindex(chosen["instance"]).to_numpy()
    out = []
    for tau in taus:
        threshold = pd.Series(f_l + tau * (chosen["initial_loss"].to_numpy() - f_l), index=chosen.index)
        column = cells.target_column(tau)
        exact = (f_l == chosen["f_ref"].to_numpy()) & (column in chosen.columns)
        step = pd.Series(np.inf, index=chosen.index)
        resolution = pd.Series(1.0, index=chosen.index)
        evals_col = cells.evals_column(tau)
        if exact.any():
            source = evals_col if counted and evals_col in chosen.columns else column
            step[exact] = chosen.loc[exact, source].to_numpy(dtype=float)
        if not exact.all():
            hits = first_hits(curves, threshold[~exact]).set_index("run_id").reindex(chosen.index[~exact])
            step[~exact] = hits["step"].to_numpy()
            resolution[~exact] = hits["resolution"].to_numpy()
            if counted:  # no count at a step read from the curve: unknown where it is not the step
                unknown = ~exact & several.reindex(chosen.index).to_numpy() & np.isfinite(step.to_numpy())
                step[unknown] = np.nan
        frame = chosen[["instance", "optimizer", "impl", "dim"]].assign(
            evals=tuning.as_cost(step + 1.0), resolution=np.where(np.isfinite(step), resolution, 1.0))
        for (instance, optimizer, im), part in frame.groupby(["instance", "optimizer", "impl"], sort=False):
            out.append({"problem": instance, "solver": optimizer if impl is not None else f"{optimizer}/{im}",
                        "tau": tau, "dim": int(part["dim"].iloc[0]), "cost": float(np.median(part["evals"])),
                        "resolution": float(part["resolution"].max())})
    return pd.DataFrame(out, columns=["problem", "solver", "tau", "dim", "cost", "resolution"])


def data_profile(costs: pd.DataFrame, alphas=None) -> pd.DataFrame:
    """d_s(alpha) = |{p : t_ps / (n_p + 1) <= alpha}| / |P| (More & Wild 2009), per tau.

    Args:
      costs: (problem, solver, tau, dim, cost), cost in gradient evaluations;
        n_p is `dim`, so alpha is in units of n_p + 1 evaluations.
      alphas: where to evaluate; by default every finite budget and 0.

    Returns:
      (tau, solver, alpha, d).
    """
    rows = []
    for tau, by_tau in costs.groupby("tau", sort=False):
        n_problems = by_tau["problem"].nunique()
        square = _square(by_tau)  # problems x solvers, failures +inf
        dims = by_tau.groupby("problem", sort=False)["dim"].first().reindex(square.index).to_numpy(dtype=float)
        budget = square.to_numpy() / (dims[:, None] + 1.0)
        a = alphas
        if a is None:
            a = np.unique(np.concatenate([[0.0], budget[np.isfinite(budget)]]))
        a = np.asarray(a, dtype=float)
        for j, solver in enumerate(square.columns):
            d = (budget[None, :, j] <= a[:, None]).sum(axis=1) / n_problems
            rows.append(pd.DataFrame({"tau": tau, "solver": solver, "alpha": a, "d": d}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["tau", "solver", "alpha", "d"])
