"""How long a suite's run will take, estimated for `gdbench run --dry-run` (nothing is compiled or run).

A cell costs its compilation and its programs' runs: one program per
implementation, each run once for the results, then warmed up and timed
(`CellRun.time`: at least `repeats` timed runs, each phase at least
MIN_TIME_S / WARMUP_S long, a program of LONG_RUN_S or more run once). Its
execution time is lanes x steps x the cost of one lane-step.

Two sources, per cell:
- earlier runs of the same cell (instance, optimizer, implementation) on this
  machine (same CPU, backend and device kind), found in the results folders
  under the run's output folder: their compile_s, and exec_s scaled by steps
  and lanes; each such run's wall time over the sum of its own cells'
  predictions scales them (tables, storing, the report). Within 0.7-1.4x: a
  warm compile cache, another load, another grid change it.
- else a cost model from the committed measurements (results/PERFORMANCE.md,
  2-core x86 CPUs): ~0.7 s of compilation per cell (the ci suite: 43 s for 61
  cells; the quick suite: about half of ~100 s for 76), and a lane-step of
  LANE_STEP_S plus PARAM_S per parameter (Adam at n = 1e7: ~10 ms a step) plus
  ROW_PARAM_S per parameter and row of data a step reads (full-batch logistic
  regression on 10,000 x 100: ~5,000 steps/s); within 0.5-2x on such a CPU for
  the dense problems it was measured on, more elsewhere and for the transformer.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core import cells as cellmod

COMPILE_S = 0.7  # per cell, 2-core x86 CPU (results/PERFORMANCE.md: ci suite 43 s / 61 cells)
LANE_STEP_S = 6e-9  # a lane-step's fixed cost (Rosenbrock 2-D, 256 lanes: 1.5-2e8 optimizer-steps/s)
PARAM_S = 1e-9  # per parameter (Adam, n = 1e7: ~10 ms per step)
ROW_PARAM_S = 2e-10  # per data row x parameter (full-batch GD, logistic 10,000 x 100: ~5,000 steps/s)
OVERHEAD = 1.15  # tables, storing and the report over the cells' own time (quick suite)
MODEL_RANGE = (0.5, 2.0)
HISTORY_RANGE = (0.7, 1.4)
RECENT_RUNS = 10  # the latest folders read for earlier times of the same cells
COLUMNS = ["instance", "optimizer", "impl", "lanes", "steps", "exec_s", "compile_s"]


@dataclasses.dataclass(frozen=True)
class Estimate:
    seconds: float  # the central estimate
    low: float
    high: float
    from_history: int  # cells timed from earlier runs
    from_model: int  # cells from the cost model
    runs: tuple[str, ...]  # the earlier results folders used

    def text(self) -> str:
        """One line: the range, and what it is based on."""
        basis = []
        if self.from_history:
            basis.append(f"{self.from_history} cells from {len(self.runs)} earlier run(s) of them on this machine "
                         f"({', '.join(self.runs)}), good to {HISTORY_RANGE[0]:g}-{HISTORY_RANGE[1]:g}x")
        if self.from_model:
            basis.append(f"{self.from_model} cells from a cost model of results/PERFORMANCE.md's 2-core CPU "
                         f"measurements, good to {MODEL_RANGE[0]:g}-{MODEL_RANGE[1]:g}x there; a GPU or another "
                         "CPU differs more")
        return f"estimated run time: ~{span(self.low, self.high)} (an estimate: {'; '.join(basis)})"


def span(low: float, high: float) -> str:
    """'20-50 s', '2-4 min', '1.5-3 h'."""
    for unit, size in (("s", 1), ("min", 60), ("h", 3600)):
        if high < 120 * size or unit == "h":
            lo, hi = low / size, high / size
            return f"{_round(lo)}-{_round(max(hi, lo))} {unit}"
    raise AssertionError("unreachable")


def _round(v: float) -> str:
    return f"{v:.2g}" if v < 10 else f"{v:.0f}"


def program_seconds(exec_s: float, repeats: int) -> float:
    """A program's run time in `CellRun.time`: its first run, warm-up and timed rounds (see there)."""
    if exec_s >= cellmod.LONG_RUN_S:
        return exec_s
    warm = max(exec_s, cellmod.WARMUP_S)
    timed = min(max(repeats * exec_s, cellmod.MIN_TIME_S), cellmod.MAX_ROUNDS * exec_s)
    return warm + max(timed, repeats * exec_s)


def lane_step_model(problem, batch_size: int | None = None) -> float:
    """The cost model's seconds per lane-step of a problem: a fixed cost, its parameters, and its
    parameters times the rows of its data that a step reads (a minibatch's, else the largest table's:
    a dense model touches every parameter for every sample)."""
    tables = [np.shape(leaf)[0] for leaf in _leaves(problem.data) if np.ndim(leaf) >= 2]
    rows = batch_size if batch_size else max(tables, default=0)
    dim = int(problem.dim)
    return LANE_STEP_S + PARAM_S * dim + ROW_PARAM_S * rows * dim


def _leaves(tree):
    import jax

    return jax.tree_util.tree_leaves(tree)


def _cell_lanes(suite, c) -> int:
    import optimizers

    return len(suite.configs_for(optimizers.resolve(c.optimizer))) * len(suite.seeds)


def _impls(impl: str) -> tuple[str, ...]:
    return ("gdbench", "optax") if impl == "both" else (impl,)


def earlier_runs(root: str | Path, machine: dict) -> list[tuple[str, pd.DataFrame, float]]:
    """(folder name, runs rows, wall-time factor) of the latest complete runs under `root` on this machine."""
    from bench.runs import results

    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    folders = sorted((p for p in root.iterdir() if (p / "meta.json").is_file() and (p / "runs.parquet").is_file()),
                     key=lambda p: p.name, reverse=True)
    for folder in folders:
        if len(out) == RECENT_RUNS:
            break
        try:
            meta = json.loads((folder / "meta.json").read_text())
            device = meta.get("device") or {}
            if (meta.get("status") != "complete" or meta.get("schema_version") != results.SCHEMA_VERSION
                    or any(device.get(k) != v for k, v in machine.items())):
                continue
            runs = pd.read_parquet(folder / "runs.parquet", columns=COLUMNS)
        except (OSError, ValueError, KeyError, TypeError):  # an unreadable folder gives no times
            continue
        repeats = int((meta.get("suite") or {}).get("repeats") or 1)
        own = _history_seconds(runs.groupby(["instance", "optimizer"]), repeats)
        wall = float(meta.get("wall_s") or 0.0)
        out.append((folder.name, runs, min(3.0, max(1.0, wall / own)) if own > 0 and wall > 0 else OVERHEAD))
    return out


def _history_seconds(groups, repeats: int) -> float:
    total = 0.0
    for _, rows in groups:
        firsts = rows.groupby("impl")[["exec_s", "compile_s"]].first()
        total += float(firsts["compile_s"].max()) + sum(program_seconds(float(e), repeats) for e in firsts["exec_s"])
    return total


def machine(device) -> dict:
    """What an earlier run's device must match for its times to count: this host's CPU and `device`
    (a JAX device: its platform and kind)."""
    from bench.runs import results

    return {"backend": device.platform, "device_kind": device.device_kind, "host_cpu_id": results.host_cpu_id()}


def estimate(suite, todo, runs_root: str | Path | None = None, this_machine: dict | None = None) -> Estimate:
    """The run time of the suite's cells `todo` (`runner.plan`): from the earlier runs under `runs_root`
    that timed the same cells on `this_machine` (`machine(device)`), else from the cost model."""
    history = earlier_runs(runs_root, this_machine) if runs_root is not None and this_machine else []
    known: dict[tuple[str, str, str], tuple[pd.Series, float, str]] = {}
    for name, runs, factor in history:  # the latest run first: its rows win
        for key, rows in runs.groupby(["instance", "optimizer", "impl"]):
            known.setdefault(key, (rows.iloc[0], factor, name))
    central = low = high = 0.0
    n_hist = n_model = 0
    used: dict[str, None] = {}
    for c in todo:
        instance = cellmod.problem_label(c.problem, c.batch_size)
        lanes = _cell_lanes(suite, c)
        rows = [known.get((instance, c.optimizer, impl)) for impl in _impls(c.impl)]
        if all(r is not None for r in rows):
            compile_s = max(float(r[0]["compile_s"]) for r in rows)
            run_s = sum(program_seconds(float(r[0]["exec_s"]) * suite.steps / max(1, int(r[0]["steps"]))
                                        * lanes / max(1, int(r[0]["lanes"])), suite.repeats) for r in rows)
            seconds = (compile_s + run_s) * max(r[1] for r in rows)
            used.update((r[2], None) for r in rows)
            bounds, n_hist = HISTORY_RANGE, n_hist + 1
        else:
            exec_s = lanes * suite.steps * lane_step_model(c.problem, c.batch_size)
            seconds = (COMPILE_S + len(rows) * program_seconds(exec_s, suite.repeats)) * OVERHEAD
            bounds, n_model = MODEL_RANGE, n_model + 1
        if not math.isfinite(seconds):
            continue
        central += seconds
        low += seconds * bounds[0]
        high += seconds * bounds[1]
    return Estimate(central, low, high, n_hist, n_model, tuple(used))
