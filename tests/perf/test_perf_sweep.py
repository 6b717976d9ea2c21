"""The sweep engine (`bench.core.cells`, what `bench.sweep` runs): one cell's grid x seeds as one compiled program.

Cases: Rosenbrock-2D and a rotated 100-D quadratic, with Adam (elementwise:
hyperparameters broadcast along the lanes) and gradient descent with an
Armijo line search (vmapped lane by lane), ours and optax's twin. A cell holds
both implementations in one program (compiled once per case, before timing);
a benchmark times one of them. extra_info holds the median time per
lane-step, the steps to the primary target at the best learning rate (median
over seeds; null: missed), XLA's flops and bytes accessed of the whole program
(as XLA estimates them: a loop's body counted once), the device and JAX's version.
"""

from __future__ import annotations

import numpy as np
import pytest
from perfkit import QUICK, device_fields, timed, xla_cost

from bench.core import cells
from bench.stats import tuning

CASES = {
    "rosenbrock2-adam": ("rosenbrock", {"dim": 2}, "adam"),
    "rosenbrock2-gd_armijo": ("rosenbrock", {"dim": 2}, "gd_armijo"),
    "quadratic100-adam": ("quadratic", {"dim": 100}, "adam"),
    "quadratic100-gd_armijo": ("quadratic", {"dim": 100}, "gd_armijo"),
}
if QUICK:  # one elementwise case and one vmapped one
    CASES = {k: CASES[k] for k in ("rosenbrock2-adam", "quadratic100-gd_armijo")}
LEARNING_RATES = np.geomspace(1e-4, 1e-1, 4 if QUICK else 16).tolist()
SEEDS = [0, 1] if QUICK else [0, 1, 2, 3]
STEPS = 100 if QUICK else 2000


@pytest.fixture(scope="module")
def prepared():
    """Compiles a case's cell (both implementations) on first use, runs it once for its results."""
    done = {}

    def get(case: str) -> tuple[cells.CellRun, dict[str, float]]:
        if case not in done:
            problem, args, optimizer = CASES[case]
            cell = cells.prepare(cells.SweepSpec(problem, optimizer, grid={"learning_rate": LEARNING_RATES},
                                                 seeds=SEEDS,
                                 steps=STEPS, impl="both", problem_args=args))
            cell.execute()
            runs = cells.tables(cell)[0]
            best = tuning.best_configs(runs).set_index("impl")["median_steps"]
            # JSON has no infinity: a missed target is null
            done[case] = cell, {impl: float(v) if np.isfinite(v) else None for impl, v in best.items()}
        return done[case]

    return get


@pytest.mark.parametrize("impl", cells.IMPLS)
@pytest.mark.parametrize("case", list(CASES))
def test_sweep(benchmark, prepared, case, impl):
    benchmark.group = "sweep"
    cell, steps_to_target = prepared(case)
    group = next(g for g in cell.groups if g.impl == impl)
    lane_steps = len(group.configs) * len(SEEDS) * STEPS
    timed(benchmark, lambda: group.program.launch(), per_call=lane_steps, unit="lane_step")
    optimizer = CASES[case][2]
    benchmark.extra_info.update(
        problem=cells.problem_label(cell.problem), optimizer=optimizer, impl=impl,
        lanes=len(group.configs) * len(SEEDS),
        steps=STEPS, target=cell.target, steps_to_target=steps_to_target[impl], **xla_cost(group.program.compiled),
        **device_fields(list(group.program.mesh.devices.flat)))
