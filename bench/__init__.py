"""gdbench's harness: sweeps compiled into one XLA program, results as tables.

    import bench
    df = bench.sweep(problem="rosenbrock", problem_args={"dim": 2}, optimizer="adam",
                     grid={"learning_rate": [1e-3, 1e-2, 1e-1]}, seeds=[0, 1, 2], steps=2000)
    spec = bench.SweepSpec("rosenbrock", "adam", problem_args={"dim": 2}, steps=2000)
    res = bench.run_sweep(spec)  # the same from a spec: runs, curves and paths tables

Importing `bench` changes JAX for the whole process. Before JAX has started
its backends, it adds gdbench's XLA:CPU settings to XLA_FLAGS: one CPU device
per core (so `jax.devices()` then lists several CPU devices) and whole-loop
compilation of small batched loops; CPU sweeps run several times faster with
them (results/PERFORMANCE.md). Imported after JAX has run something, it can
no longer apply them and warns once (`bench.core.xla.SettingsWarning`).
`bench.xla_settings()` tells what is in force; GDBENCH_XLA_TUNING=0 turns the
settings (and the warning) off. See docs/ARCHITECTURE.md for why the library,
not only the CLI, applies them.

`bench.enable_compile_cache()` stores compiled programs on disk for later
processes (see `bench.core.cache`; `gdbench run` does it by default, the library
only when asked, as it changes process-wide JAX settings).

The harness's modules are grouped by stage of the pipeline: `bench.core` (one
cell, compiled and run), `bench.runs` (a suite into a results folder),
`bench.stats` (its analysis), `bench.reporting` (the report) and
`bench.tracking` (CI's comparisons); see docs/ARCHITECTURE.md.
"""

import os

from bench.core import xla as _xla

_xla.apply()

from bench.errors import ConfigError  # noqa: E402
from bench.runs.results import ResultsError, read_run  # noqa: E402
from bench.core.cache import enable as enable_compile_cache  # noqa: E402
from bench.core.cells import PRIMARY_TARGET, TARGETS, SweepResult, SweepSpec, run_sweep, sweep  # noqa: E402


def xla_settings() -> dict:
    """gdbench's XLA settings in this process (`bench.core.xla.settings`): tuning on, flags in force, options."""
    return _xla.settings()


def curves(source) -> "pandas.DataFrame":  # noqa: F821
    """The long-format (run_id, step, loss) table of a `run_sweep` result or of a results folder.

    Its run_id matches the runs table's (`sweep` returns only that one: use
    `run_sweep` to get both from one run). A sweep's holds every recorded step;
    a results folder's the steps it keeps (`bench.runs.storage`: every first hit,
    the ends and the curve's shape).
    """
    if isinstance(source, SweepResult):
        return source.curves
    if isinstance(source, (str, os.PathLike)):
        return read_run(source)[0]["curves"]
    raise TypeError(f"curves: expected a SweepResult (from bench.run_sweep) or a results folder path, "
                    f"got {type(source).__name__}")


__all__ = ["ConfigError", "PRIMARY_TARGET", "ResultsError", "SweepResult", "SweepSpec", "TARGETS", "curves",
           "enable_compile_cache", "read_run", "run_sweep", "sweep", "xla_settings"]
