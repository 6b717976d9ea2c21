"""What a results folder keeps: compact curves, the paths the report draws, Parquet settings.

The engine records a trajectory's loss at every step of its schedule
(`bench.core.schedule`; all 2,001 steps of the quick suite). A results folder keeps
of each trajectory's curve only (`thin_curves`):

- the first and the last recorded step, and about EVEN_POINTS evenly spaced
  and LOG_POINTS log-spaced recorded steps; between each two evenly spaced
  ones, the steps of the lowest and the highest loss of each seed of the
  configuration (for every seed): the curve's shape on linear and log step
  axes, spikes and oscillations included, at steps all seeds share (what a
  median over seeds is drawn at);
- each first hit of the target ladder (the runs table's `steps_to_*`, exact)
  and of the data-profile tolerances relative to the lowest loss of the
  problem per implementation (`profiles.convergence_costs`' f_L), each with the
  recorded step before it, so that a first hit read from the stored curve is
  exactly the one read from the full curve (same step, same resolution);
- the step at which it diverged.

Parameter paths are kept only for the tuned configuration of each optimizer
and implementation, every seed (`select_paths`): what the report draws.
Losses and parameters keep the run's dtype (float32 for a float32 run:
nothing is lost). The Parquet encodings (`write_parquet`) were chosen by
measuring the quick suite's tables (results/README.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench.stats import profiles, tuning

EVEN_POINTS = 64
LOG_POINTS = 32
INT32_COLUMNS = ("run_id", "step", "coord")
FLOAT_COLUMNS = ("loss", "value")  # stored in the run's dtype
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 9


def base_steps(stored: np.ndarray, even: int = EVEN_POINTS, log: int = LOG_POINTS) -> np.ndarray:
    """Indices into the sorted recorded steps `stored` kept for the curve's shape.

    The first and last recorded steps, and for each of `even` evenly spaced and
    `log` log-spaced (none for 0) steps in [first, last] the first recorded step at or after it.
    """
    n = len(stored)
    if n == 0:
        return np.zeros(0, np.int64)
    first, last = float(stored[0]), float(stored[-1])
    want = [np.linspace(first, last, max(even, 2))]
    if log > 0 and last >= 1:
        want.append(np.geomspace(max(first, 1.0), last, max(log, 2)))
    idx = np.searchsorted(stored, np.ceil(np.concatenate(want) - 1e-9))
    return np.unique(np.concatenate([[0, n - 1], np.minimum(idx, n - 1)]))


def extremes(loss: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mask (lanes, steps) of the lowest and the highest finite loss of each lane in each
    [edges[i], edges[i + 1]) (increasing indices): spikes and oscillations between the even steps."""
    lanes, n = loss.shape
    out = np.zeros((lanes, n), bool)
    if len(edges) < 2:
        return out
    finite = np.isfinite(loss)
    starts, stop = edges[:-1], edges[-1]
    position = np.broadcast_to(np.arange(stop), (lanes, stop))
    rows = np.arange(lanes)[:, None]
    for fill, reduce in ((np.inf, np.minimum), (-np.inf, np.maximum)):
        y = np.where(finite, loss, fill)[:, :stop]
        best = np.repeat(reduce.reduceat(y, starts, axis=1), np.diff(edges), axis=1)
        first = np.minimum.reduceat(np.where((y == best) & finite[:, :stop], position, n), starts, axis=1)
        found = first < n  # the first index of each segment's extreme; none in an all-NaN segment
        out[np.broadcast_to(rows, first.shape)[found], first[found]] = True
    return out


def _with_previous(keep: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    keep[rows, cols] = True
    keep[rows, np.maximum(cols - 1, 0)] = True


def lanes_keep(steps: np.ndarray, loss: np.ndarray, hit_steps: np.ndarray, thresholds: np.ndarray,
               base: np.ndarray) -> np.ndarray:
    """Boolean mask (lanes, steps) over trajectories of one schedule: what `thin_curves` keeps
    of each on its own (the shared extremes aside).

    Args:
      steps: the recorded steps, increasing.
      loss: (lanes, steps) the loss at each of them.
      hit_steps: (lanes, h) exact first-hit steps (inf or NaN: never) and the divergence step
        (-1: never); kept, with the recorded step before each, where they were recorded.
      thresholds: (lanes, t) losses whose first crossing (first recorded step with loss <=
        the threshold) is kept, with the recorded step before it.
      base: indices kept in any case (`base_steps`).
    """
    lanes, n = loss.shape
    keep = np.zeros((lanes, n), bool)
    keep[:, base] = True
    rows = np.broadcast_to(np.arange(lanes)[:, None], hit_steps.shape)
    valid = np.isfinite(hit_steps) & (hit_steps >= 0)
    pos = np.minimum(np.searchsorted(steps, np.where(valid, hit_steps, 0)), n - 1)
    valid &= steps[pos] == hit_steps  # a hit between recorded steps is not stored
    _with_previous(keep, rows[valid], pos[valid])
    if thresholds.shape[1]:
        below = loss[:, None, :] <= thresholds[:, :, None]  # NaN never is
        first = np.argmax(below, axis=2)
        hit = below.any(axis=2)
        _with_previous(keep, np.broadcast_to(np.arange(lanes)[:, None], first.shape)[hit], first[hit])
    return keep


def _profile_thresholds(runs: pd.DataFrame, taus=profiles.DATA_PROFILE_TAUS) -> pd.DataFrame:
    """Per run_id the data-profile thresholds f_L + tau (f(x_0) - f_L), f_L per (instance, impl)."""
    f_low = runs.groupby(["instance", "impl"])["best_loss"].transform("min").to_numpy(dtype=float)
    f0 = runs["initial_loss"].to_numpy(dtype=float)
    return pd.DataFrame({tau: f_low + tau * (f0 - f_low) for tau in taus}, index=runs["run_id"].to_numpy())


def thin_curves(runs: pd.DataFrame, curves: pd.DataFrame, even: int = EVEN_POINTS,
                log: int = LOG_POINTS) -> pd.DataFrame:
    """The rows of `curves` a results folder keeps (see the module docstring), in (run_id, step) order.

    Args:
      runs: the runs rows of the curves' trajectories (one problem, or more).
      curves: (run_id, step, loss) at every recorded step.
    """
    if curves.empty:
        return curves.reset_index(drop=True)
    run_ids, steps = curves["run_id"].to_numpy(), curves["step"].to_numpy()
    d_id, d_step = np.diff(run_ids), np.diff(steps)
    if not np.all((d_id > 0) | ((d_id == 0) & (d_step > 0))):  # the engine's tables come sorted
        order = np.lexsort((steps, run_ids))
        curves, run_ids, steps = curves.iloc[order], run_ids[order], steps[order]
    c = curves.reset_index(drop=True)
    loss = c["loss"].to_numpy(dtype=float)
    bounds = np.flatnonzero(np.diff(run_ids)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(c)]])
    lane_ids = run_ids[starts]
    hit_cols = [col for col in runs.columns if col.startswith("steps_to_")] + ["diverged_step"]
    by_id = runs.set_index("run_id")
    hits = by_id.reindex(index=lane_ids, columns=hit_cols).to_numpy(dtype=float)  # NaN: not in runs
    thresholds = _profile_thresholds(runs).reindex(lane_ids).to_numpy(dtype=float)
    group = runs.set_index("run_id")[[*tuning.GROUP, "config_id"]].reindex(lane_ids)
    group_of = group.groupby(list(group.columns), sort=False, dropna=False).ngroup().to_numpy()
    keep = np.zeros(len(c), bool)
    schedules: dict[bytes, list[int]] = {}  # trajectories of one schedule are processed together
    for k, (s, e) in enumerate(zip(starts, ends)):
        schedules.setdefault(steps[s:e].tobytes(), []).append(k)
    for ks in schedules.values():
        ks = np.asarray(ks)
        lane_steps = steps[starts[ks[0]]:ends[ks[0]]]
        matrix = np.stack([loss[starts[k]:ends[k]] for k in ks])
        mask = lanes_keep(lane_steps, matrix, hits[ks], thresholds[ks], base_steps(lane_steps, even, log))
        # the extremes of every seed of a configuration, for every seed: steps a band over seeds has
        shape = extremes(matrix, base_steps(lane_steps, even, 0))
        _, g = np.unique(group_of[ks], return_inverse=True)
        shared = np.zeros((g.max() + 1, len(lane_steps)), bool)
        np.logical_or.at(shared, g, shape)
        mask |= shared[g]
        for row, k in enumerate(ks):
            keep[starts[k]:ends[k]] = mask[row]
    return c[keep].reset_index(drop=True)


def select_paths(runs: pd.DataFrame, paths: pd.DataFrame) -> pd.DataFrame:
    """The paths of each (instance, optimizer, impl)'s tuned configuration (`tuning.best_configs`), every
    seed, and every report-phase row's (each is a chosen configuration on a held-out seed)."""
    if paths.empty or runs.empty:
        return paths.reset_index(drop=True)
    keys = [*tuning.GROUP, "config_id"]
    chosen = runs.merge(tuning.best_configs(runs)[keys], on=keys)["run_id"]
    if "phase" in runs.columns:
        chosen = pd.concat([chosen, runs.loc[runs["phase"] == "report", "run_id"]])
    return paths[paths["run_id"].isin(chosen)].reset_index(drop=True)


def compact(tables: dict[str, pd.DataFrame], all_paths: bool = False) -> dict[str, pd.DataFrame]:
    """One problem's (or a run's) tables as a results folder stores them: thinned curves,
    the tuned configurations' paths (every trajectory's with `all_paths`), losses and
    parameters in the run's dtype."""
    runs = tables["runs"]
    curves = thin_curves(runs, tables["curves"])
    paths = tables["paths"] if all_paths else select_paths(runs, tables["paths"])
    dtype = np.float32 if len(runs) and set(runs["dtype"]) == {"float32"} else np.float64
    return {**tables, "curves": _cast(curves, dtype), "paths": _cast(paths, dtype)}


def _cast(df: pd.DataFrame, float_dtype) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if col in INT32_COLUMNS:
            out[col] = out[col].astype(np.int32)
        elif col in FLOAT_COLUMNS:
            out[col] = out[col].astype(float_dtype)
    return out


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    """Writes a table as Parquet: zstd, dictionary encoding for run_id only, byte-stream-split floats.

    run_id repeats in long runs of equal values (dictionary + run-length
    encoding stores a run in a few bytes); steps and coordinates compress as
    plain integers; byte-stream-split groups the floats' exponent bytes, which
    zstd then compresses (sizes in results/README.md).
    """
    table = pa.Table.from_pandas(df, preserve_index=False)
    floats = [f.name for f in table.schema if pa.types.is_floating(f.type)]
    dictionary = [name for name in ("run_id",) if name in table.column_names]
    pq.write_table(table, path, compression=COMPRESSION, compression_level=COMPRESSION_LEVEL,
                   use_dictionary=dictionary or False, use_byte_stream_split=floats or False)
