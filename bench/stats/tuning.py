"""The tuning protocol: which configuration of a grid is best, and how good it is.

Criterion (DeepOBS-style, stated in docs/METRICS.md): for each (instance,
optimizer, impl), the configuration with the lowest median over seeds of
steps to the primary target; ties, and configurations that never hit it, are
broken by the lowest median final relative suboptimality (diverged or
undefined counts as +inf). Medians over seeds keep +inf (a miss) as a value.

Then (`tuned`) the winner's median and bootstrap confidence interval over
seeds (`bench.stats.bootstrap`), the result at the default hyperparameters
(`one_shot`), how much of the grid reaches the target (`lr_sensitivity`,
`attempts_to_success`) and what each optimizer was given to search (`budgets`).

Phases. A runs table may hold a `phase` column: "select" rows are the whole
grid on the selection seeds, "report" rows the chosen configuration re-run on
held-out report seeds. The choice is made on the select rows (`select_rows`);
the tuned result is measured on the report rows where a group has them, else
on the chosen configuration's select rows (`report_rows`: shared seeds). A
table without the column is all "select".
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from bench.stats import bootstrap

GROUP = ("instance", "optimizer", "impl")
PHASE, SELECT, REPORT = "phase", "select", "report"


def select_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows the choice is made on: phase "select" (all rows of a table without a `phase` column)."""
    if PHASE not in runs.columns:
        return runs
    return runs[runs[PHASE].fillna(SELECT) == SELECT]


def report_rows(runs: pd.DataFrame, group: tuple[str, ...] = GROUP) -> pd.DataFrame:
    """The rows each group's tuned result is measured on, with `phase` saying which seeds they are.

    The chosen configuration (`best_configs`, on the select rows) on the report
    seeds where the group has report rows of it ("report"), else on the
    selection seeds ("select": selection and report share seeds).
    """
    keys = [*group, "config_id"]
    best = best_configs(runs, group)[keys]
    chosen = select_rows(runs).merge(best, on=keys).assign(**{PHASE: SELECT})
    if PHASE in runs.columns:
        held = runs[runs[PHASE] == REPORT].merge(best, on=keys)
        if len(held):
            have = pd.MultiIndex.from_frame(held[list(group)].drop_duplicates())
            chosen = chosen[~pd.MultiIndex.from_frame(chosen[list(group)]).isin(have)]
            chosen = pd.concat([held, chosen], ignore_index=True)
    if chosen.empty:
        return chosen.reset_index(drop=True)
    # in the groups' order of the choice
    order = pd.MultiIndex.from_frame(best[list(group)])
    rank = order.get_indexer(pd.MultiIndex.from_frame(chosen[list(group)]))
    return chosen.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)


def shares_seeds(runs: pd.DataFrame, group: tuple[str, ...] = GROUP) -> bool:
    """Whether some group's tuned result is measured on its selection seeds (no report rows)."""
    return bool((report_rows(runs, group)[PHASE] == SELECT).any())


def per_config(runs: pd.DataFrame, group: tuple[str, ...] = GROUP) -> pd.DataFrame:
    """One row per (group, config_id) of the grid: medians over the selection seeds (`select_rows`)."""
    return _medians(select_rows(runs), group)


def reported(runs: pd.DataFrame, group: tuple[str, ...] = GROUP) -> pd.DataFrame:
    """One row per group: `per_config`'s medians of its chosen configuration over the rows it is
    reported on (`report_rows`), with their `phase`."""
    rows = report_rows(runs, group)
    out = _medians(rows, group)
    return out.merge(rows.drop_duplicates(list(group))[[*group, PHASE]], on=list(group))


def _medians(runs: pd.DataFrame, group: tuple[str, ...]) -> pd.DataFrame:
    df = runs.copy()
    df["final_subopt"] = df["final_subopt"].where(np.isfinite(df["final_subopt"]), np.inf)
    df["best_subopt"] = best_subopt(df)
    agg = df.groupby([*group, "config_id"], sort=False).agg(
        median_steps=("steps_to_target", "median"),
        median_time_s=("lane_time_to_target_s", "median"),
        median_subopt=("final_subopt", "median"),
        median_best_subopt=("best_subopt", "median"),
        seeds=("seed", "nunique"),
        hit_share=("steps_to_target", lambda s: float(np.isfinite(s).mean())),
        diverged_share=("diverged", "mean"),
        hyperparams=("hyperparams", "first"),
    )
    return agg.reset_index()


def best_subopt(runs: pd.DataFrame) -> pd.Series:
    """Each row's lowest relative suboptimality reached, (best_loss - f_ref) / (f(x_0) - f_ref): +inf where
    undefined or non-finite, NaN for a table without the losses (an analysis' own)."""
    if not {"initial_loss", "best_loss", "f_ref"} <= set(runs.columns):
        return pd.Series(np.nan, index=runs.index, dtype=float)
    gap0 = runs["initial_loss"] - runs["f_ref"]
    best = (runs["best_loss"] - runs["f_ref"]) / gap0.where(gap0 > 0)
    return best.where(np.isfinite(best), np.inf)


def best_configs(runs: pd.DataFrame, group: tuple[str, ...] = GROUP) -> pd.DataFrame:
    """The best configuration of each group by the criterion above, chosen on the select rows
    (its medians are over the selection seeds; `reported` gives those of the report)."""
    table = per_config(runs, group)
    table = table.sort_values([*group, "median_steps", "median_subopt", "config_id"], kind="stable")
    return table.groupby(list(group), sort=False).head(1).reset_index(drop=True)


# --------------------------------------------------------------------------- the protocol's report


def as_cost(values) -> np.ndarray:
    """Steps, times or suboptimalities as an array, every non-finite value a failure (+inf)."""
    x = np.asarray(values, dtype=float)
    return np.where(np.isfinite(x), x, np.inf)


def _summarise(rows: pd.DataFrame, level: float, n_boot: int, seed: int) -> dict:
    """Median and bootstrap CI over seeds of steps, time and final suboptimality."""
    out = {"seeds": int(rows["seed"].nunique()), "hit_share": float(np.isfinite(rows["steps_to_target"]).mean()),
           "diverged_share": float(rows["diverged"].mean())}
    for col, name in (("steps_to_target", "steps"), ("lane_time_to_target_s", "time_s"), ("final_subopt", "subopt")):
        median, low, high = bootstrap.median_ci(as_cost(rows[col]), level=level, n_boot=n_boot, seed=seed)
        out.update({name: median, f"{name}_low": low, f"{name}_high": high})
    out["art"] = average_running_time(rows["steps_to_target"], rows["steps"])
    return out


def average_running_time(first_hits, budgets) -> float:
    """COCO's aRT in steps: the steps of all runs (a hit's first-hit step, a miss's
    whole budget) over the number of hits; +inf without a hit."""
    hits = np.asarray(first_hits, dtype=float)
    ok = np.isfinite(hits)
    if not ok.any():
        return float("inf")
    return float((hits[ok].sum() + np.asarray(budgets, dtype=float)[~ok].sum()) / ok.sum())


def hyperparameter(runs: pd.DataFrame, name: str = "learning_rate") -> pd.Series:
    """One hyperparameter's value per row, read from the `hyperparams` JSON (NaN where absent)."""
    cache: dict[str, float] = {}
    values = []
    for text in runs["hyperparams"]:
        if text not in cache:
            v = json.loads(text).get(name)
            cache[text] = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
        values.append(cache[text])
    return pd.Series(values, index=runs.index, name=name, dtype=float)


def tuned(runs: pd.DataFrame, group: tuple[str, ...] = GROUP, level: float = bootstrap.LEVEL,
          n_boot: int = bootstrap.N_BOOT, seed: int = bootstrap.SEED) -> pd.DataFrame:
    """The tuning protocol's result: each group's best configuration, re-measured over seeds.

    Returns:
      One row per group: `config_id`, `hyperparams`, `learning_rate`, `seeds`,
      `hit_share`, `diverged_share`, and for steps to the primary target
      (`steps`), time to it (`time_s`) and final relative suboptimality
      (`subopt`) the median over seeds with its bootstrap confidence interval
      (`*_low`, `*_high`), and COCO's average running time in steps (`art`).
      A miss is +inf, and so may be a bound. `phase`: "report" where these are
      over held-out report seeds, "select" where over the selection seeds.
    """
    best = best_configs(runs, group)[[*group, "config_id", "hyperparams"]]
    keys = [*group, "config_id"]
    chosen = report_rows(runs, group)
    rows = []
    for key, part in chosen.groupby(keys, sort=False):
        rows.append({**dict(zip(keys, key)), **_summarise(part, level, n_boot, seed), PHASE: part[PHASE].iloc[0]})
    out = best.merge(pd.DataFrame(rows, columns=[*keys, *_SUMMARY_COLUMNS, PHASE]), on=keys)
    out.insert(len(keys) + 1, "learning_rate", hyperparameter(out))
    return out


_SUMMARY_COLUMNS = ["seeds", "hit_share", "diverged_share", "steps", "steps_low", "steps_high", "time_s",
                    "time_s_low", "time_s_high", "subopt", "subopt_low", "subopt_high", "art"]


def _jsonable(value):
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return repr(value)


def default_config(optimizer: str) -> dict | None:
    """The registered defaults of `optimizer` as they appear in `hyperparams` JSON,
    without the problem-supplied arguments (Polyak's `f_min`); None if unregistered."""
    import optimizers

    try:
        spec = optimizers.resolve(optimizer)
    except ValueError:
        return None
    return {k: _jsonable(v) for k, v in spec.defaults.items() if k not in spec.needs}


def _matches(hyperparams: str, defaults: dict) -> bool:
    config = json.loads(hyperparams)
    for k, v in defaults.items():
        if k not in config:
            return False
        c = config[k]
        if isinstance(v, float) and isinstance(c, (int, float)) and not isinstance(c, bool):
            if not (c == v or np.isclose(c, v, rtol=1e-12, atol=0.0)):
                return False
        elif c != v:
            return False
    return True


def one_shot(runs: pd.DataFrame, group: tuple[str, ...] = GROUP, level: float = bootstrap.LEVEL,
             n_boot: int = bootstrap.N_BOOT, seed: int = bootstrap.SEED) -> pd.DataFrame:
    """The result at the optimizer's default hyperparameters, where the grid holds them.

    A configuration is the default one when its `hyperparams` JSON equals
    `optimizers.resolve(name).defaults` (problem-supplied arguments aside). Where the
    grid has no such configuration, `in_grid` is False, the measures are NaN and
    `note` says why: nothing is interpolated. Measured on the selection seeds
    (`select_rows`): the grid runs there; the default is not chosen, so they are not biased for it.
    """
    rows = []
    for key, part in select_rows(runs).groupby(list(group), sort=False):
        row = dict(zip(group, key))
        defaults = default_config(row["optimizer"])
        ids = []
        if defaults is not None:
            configs = part.drop_duplicates("config_id")
            ids = [c for c, h in zip(configs["config_id"], configs["hyperparams"]) if _matches(h, defaults)]
        if ids:
            chosen = part[part["config_id"] == ids[0]]
            rows.append({**row, "in_grid": True, "config_id": int(ids[0]), "note": "",
                         **_summarise(chosen, level, n_boot, seed)})
        else:
            note = "optimizer not registered" if defaults is None else "default hyperparameters not in the grid"
            rows.append({**row, "in_grid": False, "config_id": -1, "note": note,
                         **{c: np.nan for c in _SUMMARY_COLUMNS}})
    return pd.DataFrame(rows, columns=[*group, "in_grid", "config_id", "note", *_SUMMARY_COLUMNS])


def lr_sensitivity(runs: pd.DataFrame, group: tuple[str, ...] = GROUP, name: str = "learning_rate") -> pd.DataFrame:
    """How much of the grid reaches the primary target, and over which learning rates.

    A configuration reaches the target when its median over seeds of steps to
    it is finite (more than half the seeds hit it).

    Returns:
      One row per group: `configs`, `reaching`, `reach_share`, the grid's
      learning rates `lr_min`, `lr_max`, and those of the configurations that
      reach the target, `reach_lr_min`, `reach_lr_max` (NaN if none does).
    """
    table = per_config(runs, group)
    table["lr"] = hyperparameter(table, name)
    table["reaches"] = np.isfinite(table["median_steps"])
    rows = []
    for key, part in table.groupby(list(group), sort=False):
        ok = part[part["reaches"]]
        rows.append({**dict(zip(group, key)), "configs": len(part), "reaching": len(ok),
                     "reach_share": len(ok) / len(part), "lr_min": part["lr"].min(), "lr_max": part["lr"].max(),
                     "reach_lr_min": ok["lr"].min() if len(ok) else np.nan,
                     "reach_lr_max": ok["lr"].max() if len(ok) else np.nan})
    return pd.DataFrame(rows, columns=[*group, "configs", "reaching", "reach_share", "lr_min", "lr_max",
                                       "reach_lr_min", "reach_lr_max"])


def attempts_to_success(runs: pd.DataFrame, group: tuple[str, ...] = GROUP) -> pd.DataFrame:
    """How many of the trials an optimizer was given succeed, per group (on the selection seeds).

    A trial (configuration) succeeds when its median over the selection seeds
    of steps to the primary target is finite (more than half of them hit), as
    in `lr_sensitivity`. `expected_attempts` is how many trials, drawn at random
    without replacement, it takes on average up to and including the first
    success: (trials + 1) / (successes + 1), +inf with no success.

    Returns:
      One row per group: `trials`, `successes`, `share`, `expected_attempts`.
    """
    table = per_config(runs, group)
    table["ok"] = np.isfinite(table["median_steps"])
    out = table.groupby(list(group), sort=False).agg(trials=("config_id", "size"), successes=("ok", "sum"))
    out = out.reset_index()
    out["successes"] = out["successes"].astype(int)
    out["share"] = out["successes"] / out["trials"]
    out["expected_attempts"] = np.where(out["successes"] > 0, (out["trials"] + 1) / (out["successes"] + 1), np.inf)
    return out


def budgets(runs: pd.DataFrame, group: tuple[str, ...] = ("optimizer", "impl")) -> pd.DataFrame:
    """What each optimizer was given to tune: its trials (configurations) per cell and its search space.

    Read from the select rows: a cell is an (instance, optimizer, impl); the
    swept hyperparameters are those whose value differs between the
    optimizer's configurations (`hyperparams` JSON).

    Returns:
      One row per group: `cells`, `trials_min`, `trials_max` (configurations
      per cell; equal unless cells differ), and `space`, {hyperparameter:
      (low, high, distinct values)} for numbers, {hyperparameter: (values...)}
      otherwise.
    """
    rows = select_rows(runs)
    configs = rows.drop_duplicates([*GROUP, "config_id"])
    out = []
    for key, part in configs.groupby(list(group), sort=False):
        per_cell = part.groupby(list(GROUP), sort=False)["config_id"].nunique()
        values: dict[str, list] = {}
        for text in part["hyperparams"].unique():
            for k, v in json.loads(text).items():
                values.setdefault(k, []).append(v)
        space = {}
        for k, vs in values.items():
            distinct = list(dict.fromkeys(json.dumps(v, sort_keys=True) for v in vs))
            if len(distinct) < 2 or len(vs) < part["hyperparams"].nunique():
                continue  # fixed, or absent from some configurations: not swept
            numbers = [v for v in vs if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if len(numbers) == len(vs):
                space[k] = (float(min(numbers)), float(max(numbers)), len(distinct))
            else:
                space[k] = tuple(json.loads(d) for d in distinct)
        out.append({**dict(zip(group, key)), "cells": len(per_cell), "trials_min": int(per_cell.min()),
                    "trials_max": int(per_cell.max()), "space": space})
    return pd.DataFrame(out, columns=[*group, "cells", "trials_min", "trials_max", "space"])


def equal_budgets(table: pd.DataFrame) -> bool:
    """Whether every optimizer of `budgets`' table was given the same number of trials in every cell."""
    return bool(len(table) == 0 or (table["trials_min"].min() == table["trials_max"].max()))
