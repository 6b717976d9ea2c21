"""gdbench's harness: sweeps compiled into one XLA program, results as tables.

    import bench
    df = bench.sweep(problem="rosenbrock", problem_args={"dim": 2}, optimizer="adam",
                     grid={"learning_rate": [1e-3, 1e-2, 1e-1]}, seeds=[0, 1, 2], steps=2000)

Importing `bench` before JAX has started its backends applies gdbench's
XLA:CPU settings (see `bench.xla`; GDBENCH_XLA_TUNING=0 turns that off).
"""

from bench import xla as _xla

_xla.apply()

from bench.errors import ConfigError  # noqa: E402
from bench.results import ResultsError, read_run  # noqa: E402
from bench.cells import PRIMARY_TARGET, TARGETS, SweepResult, run_sweep, sweep  # noqa: E402


def curves(run_dir) -> "pandas.DataFrame":  # noqa: F821
    """The (run_id, step, loss) table of a results folder."""
    return read_run(run_dir)[0]["curves"]


__all__ = ["ConfigError", "PRIMARY_TARGET", "ResultsError", "SweepResult", "TARGETS", "curves", "read_run",
           "run_sweep", "sweep"]
