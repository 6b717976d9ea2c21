"""Rankings of the optimizers per problem: to the target, and at a fixed budget; where they disagree.

To the target (`to_target`): by the tuned median over seeds of time (or steps)
to the primary target, the other measure breaking ties; every optimizer that
misses ties with the others that miss. At a fixed budget (`fixed_budget`): by the
median over seeds of the relative suboptimality at the end of the run
("final") or the lowest reached ("best"), at the same tuned configuration,
with its bootstrap confidence interval. Both read each configuration's report
rows (`tuning.report_rows`). Tied values share the average of their places
(ranks 1, 2.5, 2.5); an optimizer absent from a problem is last there, tied
with the others absent (its value +inf). Across problems, `mean_ranks`
averages each optimizer's ranks (Demsar 2006). Definitions: docs/METRICS.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.stats import bootstrap, tuning

COLUMNS = ["problem", "solver", "median", "low", "high", "rank"]
TARGET_MEASURES = {"time": ("time_s", "steps"), "steps": ("steps", "time_s")}
BUDGET_MEASURES = ("final", "best")


def _ranks(table: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Average ranks within each problem of the lexicographic order of `keys` (1 = lowest)."""
    out = pd.Series(np.nan, index=table.index, dtype=float)
    for _, part in table.groupby("problem", sort=False):
        part = part.sort_values(keys, kind="stable")
        new = np.zeros(len(part), dtype=bool)
        new[0] = True
        for k in keys:
            v = part[k].to_numpy(dtype=float)
            new[1:] |= v[1:] != v[:-1]
        out[part.index] = pd.Series(np.cumsum(new), index=part.index).rank(method="average")
    return out


def _square(table: pd.DataFrame) -> pd.DataFrame:
    """Every solver on every problem: a pair that did not run gets +inf values (and NaN bounds)."""
    full = pd.MultiIndex.from_product([list(dict.fromkeys(table["problem"])), list(dict.fromkeys(table["solver"]))],
                                      names=["problem", "solver"])
    out = table.set_index(["problem", "solver"]).reindex(full).reset_index()
    for c in ("median", "low", "high", "tiebreak"):
        if c in out:
            out[c] = out[c].fillna(np.inf)
    return out


def _rows(runs: pd.DataFrame, impl: str | None) -> pd.DataFrame:
    return runs if impl is None else runs[runs["impl"] == impl]


def to_target(runs: pd.DataFrame, measure: str = "time", impl: str | None = "gdbench",
              tuned: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each problem's optimizers ranked by the tuned median time (or steps) to the primary target.

    Args:
      runs: the runs table.
      measure: "time" (seconds to target, steps breaking ties) or "steps" (time breaking ties).
      impl: one implementation's rows, or None for both (solver "optimizer/impl").
      tuned: `tuning.tuned` of those rows, if already computed.

    Returns:
      (problem, solver, median, low, high, rank): the median over the report
      seeds and its bootstrap CI; +inf for a miss.
    """
    if measure not in TARGET_MEASURES:
        raise ValueError(f"measure must be one of {', '.join(TARGET_MEASURES)}, got {measure!r}")
    rows = _rows(runs, impl)
    t = tuning.tuned(rows) if tuned is None else tuned
    first, second = TARGET_MEASURES[measure]
    solver = t["optimizer"] if impl is not None else t["optimizer"] + "/" + t["impl"]
    table = pd.DataFrame({"problem": t["instance"].to_numpy(), "solver": solver.to_numpy(),
                          "median": tuning.as_cost(t[first]), "low": tuning.as_cost(t[f"{first}_low"]),
                          "high": tuning.as_cost(t[f"{first}_high"]), "tiebreak": tuning.as_cost(t[second])})
    if table.empty:
        return pd.DataFrame(columns=COLUMNS)
    table = _square(table)
    table["rank"] = _ranks(table, ["median", "tiebreak"])
    return table[COLUMNS]


def fixed_budget(runs: pd.DataFrame, measure: str = "final", impl: str | None = "gdbench",
                 level: float = bootstrap.LEVEL, n_boot: int = bootstrap.N_BOOT,
                 seed: int = bootstrap.SEED) -> pd.DataFrame:
    """Each problem's optimizers ranked by the relative suboptimality at the end of the run.

    Args:
      runs: the runs table.
      measure: "final" (at the last step) or "best" (the lowest reached).
      impl: one implementation's rows, or None for both (solver "optimizer/impl").
      level, n_boot, seed: the bootstrap's (`bootstrap.median_ci`).

    Returns:
      (problem, solver, median, low, high, rank): the median over the report
      seeds of the tuned configuration and its bootstrap CI; a diverged or
      undefined value is +inf.
    """
    if measure not in BUDGET_MEASURES:
        raise ValueError(f"measure must be one of {', '.join(BUDGET_MEASURES)}, got {measure!r}")
    chosen = tuning.report_rows(_rows(runs, impl))
    if chosen.empty:
        return pd.DataFrame(columns=COLUMNS)
    values = chosen["final_subopt"] if measure == "final" else tuning.best_subopt(chosen)
    chosen = chosen.assign(value=tuning.as_cost(values))
    out = []
    for (instance, optimizer, im), part in chosen.groupby(list(tuning.GROUP), sort=False):
        median, low, high = bootstrap.median_ci(part["value"].to_numpy(), level=level, n_boot=n_boot, seed=seed)
        out.append({"problem": instance, "solver": optimizer if impl is not None else f"{optimizer}/{im}",
                    "median": median, "low": low, "high": high})
    table = _square(pd.DataFrame(out))
    table["rank"] = _ranks(table, ["median"])
    return table[COLUMNS]


def winners(table: pd.DataFrame) -> pd.Series:
    """{problem: tuple of the solvers ranked first} (several on a tie); () where every value is +inf."""
    out = {}
    for problem, part in table.groupby("problem", sort=False):
        finite = part[np.isfinite(part["median"].to_numpy(dtype=float))]
        out[problem] = tuple(finite.loc[finite["rank"] == finite["rank"].min(), "solver"]) if len(finite) else ()
    return pd.Series(out, dtype=object)


def _clear(table: pd.DataFrame, problem: str, won: tuple) -> bool:
    """Whether a single winner's CI lies wholly below every other solver's."""
    if len(won) != 1:
        return False
    part = table[table["problem"] == problem]
    w = part[part["solver"] == won[0]].iloc[0]
    others = part[part["solver"] != won[0]]
    return bool(others.empty or w["high"] < others["low"].min())


def disagreements(target: pd.DataFrame, budget: pd.DataFrame) -> pd.DataFrame:
    """Per problem, the winners of the two rankings and whether they differ.

    Args:
      target: `to_target`'s table; budget: `fixed_budget`'s, of the same problems.

    Returns:
      (problem, target_winners, budget_winners, reached, differ, target_clear,
      budget_clear): `reached` False when no optimizer reached the target (then
      there is no to-target winner and `differ` is False); `differ` True when no
      optimizer wins both; `*_clear` whether the single winner's confidence
      interval lies below every other optimizer's.
    """
    tw, bw = winners(target), winners(budget)
    rows = []
    for problem in dict.fromkeys(list(target["problem"]) + list(budget["problem"])):
        a, b = tw.get(problem, ()), bw.get(problem, ())
        rows.append({"problem": problem, "target_winners": a, "budget_winners": b, "reached": bool(a),
                     "differ": bool(a) and bool(b) and not set(a) & set(b),
                     "target_clear": _clear(target, problem, a), "budget_clear": _clear(budget, problem, b)})
    return pd.DataFrame(rows, columns=["problem", "target_winners", "budget_winners", "reached", "differ",
                                       "target_clear", "budget_clear"])


def mean_ranks(table: pd.DataFrame) -> pd.DataFrame:
    """Across problems: each solver's mean rank (1 = first on every problem) and how often it ranks first.

    Returns:
      (solver, mean_rank, first, problems), best mean rank first.
    """
    if table.empty:
        return pd.DataFrame(columns=["solver", "mean_rank", "first", "problems"])
    won = winners(table)
    rows = [{"solver": s, "mean_rank": float(part["rank"].mean()),
             "first": int(sum(s in won.get(p, ()) for p in part["problem"])),
             "problems": int(part["problem"].nunique())}
            for s, part in table.groupby("solver", sort=False)]
    out = pd.DataFrame(rows)
    return out.sort_values(["mean_rank", "solver"], kind="stable").reset_index(drop=True)
