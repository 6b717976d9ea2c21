"""Ours against optax: the same trajectories, and how fast each step runs.

Each of our optimizers with an optax twin runs the same grid, seeds and steps
under both implementations. Parity per optimizer:

- steps-to-target ratio, ours / optax, per paired trajectory (instance,
  configuration, seed), over the pairs where both hit the primary target. It
  should be 1: the implementations are meant to be the same arithmetic. Pairs
  where only one of the two hit are counted apart (`hit_mismatch`), and
  `identical_share` is the share of pairs with the same first-hit step (both
  missing counts as the same).
- time-per-step ratio, ours / optax, of each cell (`time_ratio_vs_optax`: the
  programs timed interleaved), summarised over the cells (problems): median,
  min and max. NaN (no twin) is left out, never averaged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["optimizer", "pairs", "steps_ratio", "steps_ratio_min", "steps_ratio_max", "identical_share",
           "hit_mismatch", "cells", "time_ratio", "time_ratio_min", "time_ratio_max"]


def parity(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per optimizer run by both implementations (columns in COLUMNS)."""
    keys = ["instance", "optimizer", "config_id", "seed"]
    ours = runs[runs["impl"] == "gdbench"]
    theirs = runs[runs["impl"] == "optax"]
    pairs = ours[keys + ["steps_to_target"]].merge(theirs[keys + ["steps_to_target"]], on=keys,
                                                   suffixes=("_ours", "_optax"))
    rows = []
    for optimizer, part in pairs.groupby("optimizer", sort=True):
        a = part["steps_to_target_ours"].to_numpy(dtype=float)
        b = part["steps_to_target_optax"].to_numpy(dtype=float)
        fa, fb = np.isfinite(a), np.isfinite(b)
        both = fa & fb & (b > 0)
        ratio = a[both] / b[both]
        cells = runs[(runs["optimizer"] == optimizer) & (runs["impl"] == "gdbench")]
        t = cells.groupby("instance")["time_ratio_vs_optax"].first().to_numpy(dtype=float)
        t = t[np.isfinite(t)]
        rows.append({
            "optimizer": optimizer,
            "pairs": len(part),
            "steps_ratio": float(np.median(ratio)) if len(ratio) else np.nan,
            "steps_ratio_min": float(ratio.min()) if len(ratio) else np.nan,
            "steps_ratio_max": float(ratio.max()) if len(ratio) else np.nan,
            "identical_share": float(np.mean((a == b) | (~fa & ~fb))),
            "hit_mismatch": int((fa != fb).sum()),
            "cells": len(t),
            "time_ratio": float(np.median(t)) if len(t) else np.nan,
            "time_ratio_min": float(t.min()) if len(t) else np.nan,
            "time_ratio_max": float(t.max()) if len(t) else np.nan,
        })
    return pd.DataFrame(rows, columns=COLUMNS)
