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
- else a cost model: ~0.7 s of compilation per cell (results/PERFORMANCE.md,
  2-core x86 CPUs: the ci suite compiled 61 cells in 43 s, the quick suite
  76 in about half of ~100 s), and each problem's measured seconds per
  lane-step (LANE_STEPS_S: Adam on its default instance, 4 lanes, 300 steps,
  on a shared 2-core AMD EPYC at load ~2, where two such measurements differed
  by up to 2.4x; `python -m bench.runs.estimate` measures them),
  moved to the instance by `work` (a fixed cost, the parameters, the data)
  and to a minibatch by its share of the rows. Measured with 4 lanes, these
  overstate a cell of many lanes (the fixed cost of a step is shared): the
  quick suite's estimate, 148 s, is ~1.5x its measured 98-103 s (ci: 61 s
  for 58). Good to 0.5-2x on such a CPU; a GPU or another CPU differs more.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core import cells as cellmod

COMPILE_S = 0.7  # per cell, 2-core x86 CPU (results/PERFORMANCE.md: ci suite 43 s / 61 cells)
# `work`'s terms, seconds per lane-step, measured on 2-core x86 CPUs
LANE_STEP_S = 6e-9  # fixed (Rosenbrock 2-D, 256 lanes: 1.5-2e8 optimizer-steps/s)
PARAM_S = 1e-9  # per parameter (Adam, n = 1e7: ~10 ms per step)
DATA_S = 2e-10  # per element of the data (full-batch GD on logistic 10,000 x 100: ~5,000 steps/s)
#: seconds per lane-step of Adam on each problem's default instance (module docstring)
LANE_STEPS_S: dict[str, float] = {
    "ackley": 1.7e-07,
    "bbob": 1.3e-07,
    "beale": 1.4e-07,
    "booth": 1.4e-07,
    "deep_linear": 9.8e-06,
    "himmelblau": 1.4e-07,
    "least_squares": 5.8e-05,
    "logistic": 2.5e-05,
    "matrix_factorization": 2.7e-06,
    "matrix_sensing": 4.2e-06,
    "matyas": 1.2e-07,
    "mlp": 0.00019,
    "multi_output_least_squares": 3e-06,
    "noisy_quadratic": 1.7e-07,
    "powell_singular": 9.8e-08,
    "quadratic": 7.3e-07,
    "rastrigin": 1.5e-07,
    "rosenbrock": 1.4e-07,
    "softmax_regression": 2.6e-05,
    "styblinski_tang": 1.4e-07,
    "three_hump_camel": 1.4e-07,
    "transformer": 0.042,
    "zakharov": 1.2e-07,
}
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
            basis.append(f"{self.from_model} cells from a cost model of measurements on a 2-core x86 CPU, "
                         f"good to {MODEL_RANGE[0]:g}-{MODEL_RANGE[1]:g}x there; a GPU or another CPU differs more")
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


def _data(problem) -> tuple[int, int]:
    """(elements, rows) of a problem's data: its size, and the most rows of any of its arrays."""
    elements = rows = 0
    for leaf in _leaves(problem.data):
        elements += int(np.size(leaf))
        rows = max(rows, np.shape(leaf)[0] if np.ndim(leaf) >= 1 else 0)
    return elements, rows


def work(problem) -> float:
    """A full-batch lane-step's cost by the problem's size: a fixed cost, its parameters, its data."""
    return LANE_STEP_S + PARAM_S * int(problem.dim) + DATA_S * _data(problem)[0]


def lane_step_model(problem, batch_size: int | None = None) -> float:
    """The cost model's seconds per lane-step: the problem's measured figure (LANE_STEPS_S), plus
    `work`'s difference between this instance and the default one (`work` alone for a problem not
    measured); a minibatch of b of the data's rows pays b / rows of what is not the fixed cost or the
    parameters' (the loss and its gradient over the data)."""
    measured = LANE_STEPS_S.get(problem.name)
    full = work(problem) if measured is None else max(LANE_STEP_S, measured + work(problem)
                                                      - _default_work(problem.name))
    rows = _data(problem)[1]
    if not batch_size or not rows or batch_size >= rows:
        return full
    fixed = LANE_STEP_S + PARAM_S * int(problem.dim)
    return fixed + max(0.0, full - fixed) * batch_size / rows


@functools.cache
def _default_work(name: str) -> float:
    """`work` of a problem's default instance (built once per process)."""
    import problems

    return work(problems.get(name))


def _leaves(tree):
    import jax

    return jax.tree_util.tree_leaves(tree)


def _cell_lanes(suite, c) -> int:
    from bench.core import cells

    held_out = getattr(suite, "select_seeds", None)  # [tuning]: the grid on these, the chosen config on seeds
    configs = len(suite.configs_for(suite.spec_for(c.optimizer)))

    def n(seeds) -> int:  # a start that ignores the seed runs one of them (`cells.seeds_run`)
        return len(cells.seeds_run(c.problem, seeds, c.batch_size, suite.dtype))

    return configs * n(held_out or suite.seeds) + (n(suite.seeds) if held_out is not None else 0)


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


def measure_lane_steps(names=None, steps: int = 300, lanes: tuple[int, int] = (2, 2)) -> dict[str, float]:
    """{problem: seconds per lane-step} of Adam on each registered problem's default instance (LANE_STEPS_S):
    `lanes` = (learning rates, seeds), `steps` steps, median over 3 timed runs. `python -m bench.runs.estimate`."""
    import bench
    import problems

    out = {}
    for name in names or problems.names():
        try:
            problems.get(name)
        except (ValueError, TypeError):  # no default instance
            continue
        grid = {"learning_rate": [float(v) for v in np.geomspace(1e-3, 1e-2, lanes[0])]}
        df = bench.sweep(problem=name, optimizer="adam", grid=grid, seeds=lanes[1], steps=steps, impl="gdbench",
                         repeats=3)
        out[name] = float(df["lane_step_s"].median())
    return out


if __name__ == "__main__":
    for name, seconds in measure_lane_steps().items():
        print(f'    "{name}": {seconds:.2g},')
