"""Batch size against steps to target: the stochastic regime's tables and the critical batch size.

A problem run at several batch sizes is one instance per size (`... batch=B`,
`batch_size` B; the full batch is 0). Per optimizer and batch size, the
tuning protocol (`bench.stats.tuning`) picks the best configuration as it does
for any instance, so "steps to target at batch B" is at the learning rate
best for B. The critical batch size (docs/METRICS.md, after Shallue et al.
2018 and McCandlish et al. 2018) is where a larger batch stops paying for
itself in steps.
"""

from __future__ import annotations

import math
import re
from typing import Mapping

import pandas as pd

from bench.stats import tuning

#: A doubling of the batch "still helps" when it cuts the steps to target by at least this
#: fraction. 25% is McCandlish et al.'s critical batch in their model S(B) = S_min (1 + B_noise / B):
#: there S(2B) / S(B) = 0.75 exactly at B = B_noise (= B_crit), less below it, more above it.
MIN_CUT = 0.25
_BATCH_SUFFIX = re.compile(r" batch=\d+$")


def base_instance(instance: str) -> str:
    """The instance without its ` batch=B` suffix: the problem all of its batch sizes share."""
    return _BATCH_SUFFIX.sub("", instance)


def batch_sizes(runs: pd.DataFrame) -> pd.Series:
    """The runs' batch sizes (0: full batch; a table without the column is all full batch)."""
    if "batch_size" not in runs:
        return pd.Series(0, index=runs.index)
    return runs["batch_size"].fillna(0).astype(int)


def stochastic_problems(runs: pd.DataFrame) -> list[str]:
    """The base instances run with at least one minibatch size, in run order."""
    b = batch_sizes(runs)
    return list(dict.fromkeys(runs.loc[b > 0, "instance"].map(base_instance)))


def critical_batch_size(steps: Mapping[int, float], min_cut: float = MIN_CUT) -> tuple[float, bool]:
    """The critical batch size of one optimizer from {batch size: steps to target}.

    With the batch sizes B_1 < B_2 < ... and their steps S_i, an increase from
    B_i to B_{i+1} *helps* when S_{i+1} <= (1 - min_cut)^{log2(B_{i+1} / B_i)} S_i:
    every doubling on the way cuts the steps by `min_cut` on average (a miss,
    S = +inf, never helps; a hit after a miss always does). Leading misses are
    skipped. The critical batch size is the B_i at which the first increase
    that does not help starts: the largest batch size up to which every larger
    batch still paid for itself.

    Returns:
      (batch size, lower bound): lower bound is True when every increase
      measured helped (the critical batch size is at least the largest one);
      (nan, False) with fewer than two batch sizes from the first hit on.
    """
    items = sorted((int(b), float(s)) for b, s in steps.items() if b and b > 0)
    while items and not math.isfinite(items[0][1]):
        items.pop(0)
    if len(items) < 2:
        return float("nan"), False
    for (b0, s0), (b1, s1) in zip(items, items[1:]):
        needed = s0 * (1.0 - min_cut) ** math.log2(b1 / b0)
        if not s1 <= needed:  # a miss (inf) or too little gain
            return float(b0), False
    return float(items[-1][0]), True


def steps_by_batch(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (problem, optimizer, batch size): the tuned configuration's median steps to target [95% CI]
    and its learning rate (`problem` the base instance; `batch_size` 0 = full batch)."""
    rows = runs.assign(problem=runs["instance"].map(base_instance), batch_size=batch_sizes(runs))
    tuned = tuning.tuned(rows, group=("problem", "batch_size", "optimizer", "impl"))
    return tuned.sort_values(["problem", "optimizer", "batch_size"], kind="stable").reset_index(drop=True)


def critical_batch_sizes(runs: pd.DataFrame, min_cut: float = MIN_CUT) -> pd.DataFrame:
    """Per (problem, optimizer, impl): the critical batch size and whether it is a lower bound."""
    table = steps_by_batch(runs)
    out = []
    for (problem, optimizer, impl), part in table.groupby(["problem", "optimizer", "impl"], sort=False):
        b, bound = critical_batch_size(dict(zip(part["batch_size"], part["steps"])), min_cut)
        out.append(dict(problem=problem, optimizer=optimizer, impl=impl, critical_batch_size=b, lower_bound=bound))
    return pd.DataFrame(out, columns=["problem", "optimizer", "impl", "critical_batch_size", "lower_bound"])


def lr_batch_grid(runs: pd.DataFrame, problem: str, optimizer: str) -> pd.DataFrame:
    """The median steps to target over seeds of every configuration (rows: its learning rate) at every
    batch size (columns; 0 = full batch), for one problem and optimizer (one implementation: the runs')."""
    rows = runs[(runs["instance"].map(base_instance) == problem) & (runs["optimizer"] == optimizer)]
    rows = rows.assign(batch_size=batch_sizes(rows))
    per = tuning.per_config(rows, group=("batch_size", "optimizer", "impl"))
    per["learning_rate"] = tuning.hyperparameter(per)
    grid = per.pivot_table(index="learning_rate", columns="batch_size", values="median_steps", aggfunc="min")
    return grid.sort_index().reindex(columns=sorted(grid.columns, key=lambda b: (b == 0, b)))
