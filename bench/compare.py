"""Two runs side by side: did anything get slower?

    gdbench compare RUN_A RUN_B [--fail-above 1.10] [--on time|steps|both] [--impl gdbench]

Per (problem instance, optimizer) present in both runs: steps to the primary
target at each run's tuned configuration (median over seeds) and the time per
step (median over the cell's programs), each with the ratio B / A. A ratio
above 1 means B needs more steps or more time than A. Steps: a miss is +inf,
so B missing where A hit is a ratio of inf (a regression), both missing has no
ratio (`-`, never a regression).

Exit codes: 0 no regression (or no threshold given), 1 at least one ratio
above `--fail-above`, 2 bad input (a missing, corrupt or incompatible results
folder, nothing in common, a bad flag).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench import fmt, tuning

EXIT_OK = 0
EXIT_REGRESSION = 1
COLUMNS = ["instance", "optimizer", "steps_a", "steps_b", "steps_ratio", "step_time_a", "step_time_b", "time_ratio"]


def _cells(runs: pd.DataFrame, impl: str) -> pd.DataFrame:
    rows = runs[runs["impl"] == impl]
    best = tuning.best_configs(rows).set_index(["instance", "optimizer"])
    step_time = rows.groupby(["instance", "optimizer"], sort=False)["program_step_s"].median()
    return pd.DataFrame({"steps": tuning.as_cost(best["median_steps"]), "step_time": step_time.reindex(best.index)},
                        index=best.index)


def _ratio(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """b / a with a miss (inf) counted: inf/inf has no ratio, x/inf = 0, inf/x = inf."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = b / a
    return np.where(np.isinf(a) & np.isinf(b), np.nan, r)


def table(runs_a: pd.DataFrame, runs_b: pd.DataFrame, impl: str = "gdbench") -> pd.DataFrame:
    """The side-by-side table (columns in COLUMNS), in run A's order."""
    a, b = _cells(runs_a, impl), _cells(runs_b, impl)
    both = a.add_suffix("_a").join(b.add_suffix("_b"), how="inner")
    out = pd.DataFrame({
        "instance": both.index.get_level_values(0), "optimizer": both.index.get_level_values(1),
        "steps_a": both["steps_a"].to_numpy(), "steps_b": both["steps_b"].to_numpy(),
        "steps_ratio": _ratio(both["steps_b"].to_numpy(), both["steps_a"].to_numpy()),
        "step_time_a": both["step_time_a"].to_numpy(), "step_time_b": both["step_time_b"].to_numpy(),
        "time_ratio": _ratio(both["step_time_b"].to_numpy(), both["step_time_a"].to_numpy()),
    })
    return out[COLUMNS].reset_index(drop=True)


def regressions(t: pd.DataFrame, threshold: float, on: str = "both") -> pd.DataFrame:
    """The rows whose ratio (steps, time or both) exceeds `threshold`; NaN never does."""
    cols = {"steps": ["steps_ratio"], "time": ["time_ratio"], "both": ["steps_ratio", "time_ratio"]}[on]
    bad = np.zeros(len(t), dtype=bool)
    for c in cols:
        bad |= (t[c] > threshold).to_numpy()
    return t[bad]


def _fmt_ratio(v: float) -> str:
    return "-" if np.isnan(v) else ("inf" if np.isinf(v) else f"{v:.3f}")


def render(t: pd.DataFrame, name_a: str, name_b: str, flagged: pd.DataFrame | None = None) -> str:
    """The table as text, regressions marked with '!'."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    flagged_idx = set() if flagged is None else set(flagged.index)
    out = StringIO()
    console = Console(file=out, width=140, color_system=None, force_terminal=False)
    console.print(f"A: {name_a}\nB: {name_b}\nsteps: to the target at the tuned configuration, median over seeds; "
                  f"time/step: median over the cell's programs; B/A > 1: B is worse", soft_wrap=True)
    for instance, part in t.groupby("instance", sort=False):
        tab = Table(title=instance, title_justify="left")
        for col in ("optimizer", "steps A", "steps B", "B/A", "time/step A", "time/step B", "B/A", "regression"):
            tab.add_column(col, justify="left" if col == "optimizer" else "right")
        for i, r in part.iterrows():
            tab.add_row(r.optimizer, fmt.steps(r.steps_a), fmt.steps(r.steps_b), _fmt_ratio(r.steps_ratio),
                        fmt.seconds(r.step_time_a, "-"), fmt.seconds(r.step_time_b, "-"), _fmt_ratio(r.time_ratio),
                        "!" if i in flagged_idx else "")
        console.print(tab)
    return out.getvalue()


def run(path_a: str, path_b: str, fail_above: float | None = None, on: str = "both", impl: str = "gdbench") -> int:
    """`gdbench compare`: prints the table; the exit code (module docstring). Raises
    ResultsError for an unusable folder and ConfigError when the runs share nothing."""
    import sys

    from bench.errors import ConfigError
    from bench.results import read_run

    (ta, ma), (tb, mb) = read_run(path_a), read_run(path_b)
    t = table(ta["runs"], tb["runs"], impl)
    if t.empty:
        raise ConfigError("RUN_A, RUN_B", f"{path_a} and {path_b} have no (problem instance, optimizer) "
                                          f"of impl {impl} in common")
    flagged = regressions(t, fail_above, on) if fail_above is not None else None
    print(render(t, str(path_a), str(path_b), flagged), end="")
    da, db = (ma.get("device") or {}).get("device_kind"), (mb.get("device") or {}).get("device_kind")
    if da != db:
        print(f"note: the runs used different devices ({da} / {db}); time ratios compare the machines too")
    if flagged is not None:
        if len(flagged):
            print(f"{len(flagged)} regression(s) above {fail_above:g}x ({on}), marked '!'", file=sys.stderr)
            return EXIT_REGRESSION
        print(f"no regression above {fail_above:g}x ({on})")
    return EXIT_OK
