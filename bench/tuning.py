"""The tuning protocol's core: which configuration of a grid is best.

Criterion (DeepOBS-style, stated in docs/METRICS.md): for each (instance,
optimizer, impl), the configuration with the lowest median over seeds of
steps to the primary target; ties, and configurations that never hit it, are
broken by the lowest median final relative suboptimality (diverged or
undefined counts as +inf). Medians over seeds keep +inf (a miss) as a value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUP = ("instance", "optimizer", "impl")


def per_config(runs: pd.DataFrame, group: tuple[str, ...] = GROUP) -> pd.DataFrame:
    """One row per (group, config_id): medians over seeds."""
    df = runs.copy()
    df["final_subopt"] = df["final_subopt"].where(np.isfinite(df["final_subopt"]), np.inf)
    agg = df.groupby([*group, "config_id"], sort=False).agg(
        median_steps=("steps_to_target", "median"),
        median_time_s=("time_to_target_s", "median"),
        median_subopt=("final_subopt", "median"),
        seeds=("seed", "nunique"),
        hit_share=("steps_to_target", lambda s: float(np.isfinite(s).mean())),
        diverged_share=("diverged", "mean"),
        hyperparams=("hyperparams", "first"),
    )
    return agg.reset_index()


def best_configs(runs: pd.DataFrame, group: tuple[str, ...] = GROUP) -> pd.DataFrame:
    """The best configuration of each group by the criterion above."""
    table = per_config(runs, group)
    table = table.sort_values([*group, "median_steps", "median_subopt", "config_id"], kind="stable")
    return table.groupby(list(group), sort=False).head(1).reset_index(drop=True)
