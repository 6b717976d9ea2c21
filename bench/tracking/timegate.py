"""The statistical time gate of `gdbench compare`: is B slower than A, beyond the noise?

Each cell's timed repeats (runs.parquet `program_step_times_s`: one figure per timed
round, seconds per step, in run order) are two samples, A's and B's. A cell
is a time regression only when both hold:

* its ratio of medians B / A exceeds `--fail-above` (the size that matters), and
* a one-sided Mann-Whitney U test says B's repeats are larger than A's at
  level `--alpha`, after Holm's correction over all the cells tested (so a
  suite of 50 cells has the same 1% chance of one false alarm as a single
  cell: without it, at alpha 0.01, pure noise fails a 50-cell run 40% of the time).

The U test assumes nothing about the shape of the noise (timing noise on a
shared machine is skewed: it mostly adds time) and only that repeats are
exchangeable. Its p-value (scipy.stats.mannwhitneyu) is exact for small samples
without ties, and the normal approximation (tie-corrected, continuity-corrected) otherwise.

Only rounds that share their machine are samples of one thing. Where both
runs hold optax's twin in the cell (impl "optax" rows; ours and optax's rounds
are interleaved, so round i of each ran under the same conditions), the
samples are the per-round ratios ours / optax's, which cancel a faster or
slower machine, and its phases (clock frequency, a neighbour's load) within a
run; the `basis` column says "vs optax", and only this basis is tested.

Otherwise ("absolute": seconds, or "median only": a run without repeats) the
rounds of one run are not independent samples: a machine phase shifts all of
them together, so a test over rounds would call a 15% shift between two
back-to-back runs of the same code significant at p < 0.01 (it did, on a
run of 88 rounds per cell). The unit is then the run, and one pair of runs
says nothing about the spread between runs: such a cell is not gated
(`gated` False: reported, never a regression) unless `absolute_above` is
given, a threshold on its ratio of medians alone (no p-value, no interval),
whose false alarms are exactly the back-to-back runs of unchanged code that
differ by more than it on that machine (docs/CI.md: measure it there).

The noise seen is reported as a bootstrap percentile interval of the ratio of
medians at level 1 - alpha (scipy.stats.bootstrap, 2,000 resamples, seeded: the
same runs give the same interval).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats

TIMES = "program_step_times_s"
BOOTSTRAP_RESAMPLES = 2000
EXACT_MAX = 400  # exact U distribution up to this many (n * m) pairs, when there are no ties


def mann_whitney_greater(a: np.ndarray, b: np.ndarray) -> float:
    """One-sided p-value of the Mann-Whitney U test that b tends to be larger than a
    (scipy.stats.mannwhitneyu: exact up to EXACT_MAX pairs without ties, else the normal
    approximation with tie and continuity corrections)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    ties = len(np.unique(np.concatenate([a, b]))) < len(a) + len(b)
    method = "exact" if not ties and len(a) * len(b) <= EXACT_MAX else "asymptotic"
    return float(scipy.stats.mannwhitneyu(b, a, alternative="greater", method=method).pvalue)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), NaN left as NaN.

    Written here: SciPy has no Holm correction (`false_discovery_control` controls the
    false discovery rate, a weaker promise), and statsmodels is a large dependency for ten lines."""
    p = np.asarray(p, float)
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="mergesort")]
    k = len(order)
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (k - i) * p[idx]))
        out[idx] = running
    return out


def ratio_interval(a: np.ndarray, b: np.ndarray, level: float, seed: int = 0) -> tuple[float, float]:
    """Bootstrap percentile interval of median(b) / median(a) at `level` (scipy.stats.bootstrap,
    each sample resampled on its own); a sample of one repeat has no spread: the ratio itself."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if min(len(a), len(b)) < 2:
        r = float(np.median(b) / np.median(a))
        return r, r
    res = scipy.stats.bootstrap((a, b), lambda x, y, axis: np.median(y, axis=axis) / np.median(x, axis=axis),
                                n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=level, method="percentile",
                                rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _per_round(rows: pd.DataFrame) -> np.ndarray | None:
    """A cell's seconds per step per round: the sum over its programs (their rows share one list)."""
    if TIMES not in rows:
        return None
    lists = {tuple(np.asarray(v, float)) for v in rows[TIMES] if isinstance(v, (list, tuple, np.ndarray)) and len(v)}
    if not lists:
        return None
    lengths = {len(t) for t in lists}
    if len(lengths) != 1:  # programs with different numbers of rounds: no per-round sum
        return np.concatenate([np.asarray(t) for t in sorted(lists)])
    return np.sum([np.asarray(t) for t in sorted(lists)], axis=0)


def samples(runs: pd.DataFrame, impl: str) -> dict[tuple[str, str], tuple[np.ndarray, str]]:
    """Per (instance, optimizer): the samples the gate compares, and their basis."""
    out = {}
    if TIMES not in runs.columns:
        return out
    for (instance, optimizer), cell in runs.groupby(["instance", "optimizer"], sort=False):
        ours = _per_round(cell[cell["impl"] == impl])
        if ours is None:
            continue
        twin = _per_round(cell[cell["impl"] == "optax"]) if impl == "gdbench" else None
        if twin is not None and len(twin) == len(ours):
            out[(instance, optimizer)] = (ours / twin, "vs optax")
        else:
            out[(instance, optimizer)] = (ours, "absolute")
    return out


def gate(runs_a: pd.DataFrame, runs_b: pd.DataFrame, keys: list[tuple[str, str]], fail_above: float | None,
         alpha: float, impl: str = "gdbench", absolute_above: float | None = None) -> pd.DataFrame:
    """The time gate of each (instance, optimizer) in `keys`.

    Returns columns instance, optimizer, basis ("vs optax", "absolute" or "median
    only"), ratio (B / A of the medians of the samples), ci_low, ci_high (the
    noise: bootstrap interval at 1 - alpha), p (Holm-adjusted one-sided U test),
    gated, regression. On the "vs optax" basis: gated, and a regression when
    ratio > fail_above and p < alpha (False without a threshold). On the
    others (see the module's docstring) no interval nor p: gated only with
    `absolute_above`, a regression when ratio > absolute_above ("median only"
    has no ratio here: the caller has the medians, compare.regressions).
    A cell whose two runs do not share a basis is compared on absolute seconds.
    """
    sa, sb = samples(runs_a, impl), samples(runs_b, impl)
    rows = []
    for key in keys:
        if key in sa and key in sb:
            (xa, basis_a), (xb, basis_b) = sa[key], sb[key]
            if basis_a != basis_b:  # one run lacks the twin: compare seconds
                xa = samples(runs_a[runs_a["impl"] == impl], impl)[key][0]
                xb = samples(runs_b[runs_b["impl"] == impl], impl)[key][0]
                basis_a = "absolute"
            relative = basis_a == "vs optax"
            lo, hi = ratio_interval(xa, xb, 1 - alpha) if relative else (np.nan, np.nan)
            rows.append(dict(instance=key[0], optimizer=key[1], basis=basis_a,
                             ratio=float(np.median(xb) / np.median(xa)), ci_low=lo, ci_high=hi,
                             p=mann_whitney_greater(xa, xb) if relative else np.nan))
        else:
            rows.append(dict(instance=key[0], optimizer=key[1], basis="median only", ratio=np.nan,
                             ci_low=np.nan, ci_high=np.nan, p=np.nan))
    out = pd.DataFrame(rows, columns=["instance", "optimizer", "basis", "ratio", "ci_low", "ci_high", "p"])
    out["p"] = holm(out["p"].to_numpy())  # over the tested rows alone: the others have no p
    relative = out["basis"] == "vs optax"
    out["gated"] = relative | (absolute_above is not None)
    out["regression"] = (relative & (out["ratio"] > fail_above) & (out["p"] < alpha)) if fail_above else False
    if absolute_above is not None:
        out["regression"] |= (out["basis"] == "absolute") & (out["ratio"] > absolute_above)
    return out
