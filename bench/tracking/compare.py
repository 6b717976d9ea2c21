"""Two runs side by side: did anything change, did anything get slower?

    gdbench compare RUN_A RUN_B [--fail-above 1.10] [--alpha 0.01] [--on time|steps|both] [--impl gdbench]
                               [--absolute-above 1.5]

RUN_A may be a baseline folder (`gdbench baseline`, bench/tracking/baseline.py): then
only the deterministic gates apply, as a baseline keeps no timings.

Deterministic gates (always; bench/tracking/gates.py): every change of a trajectory's
first hits of the target ladder, final loss or divergence, and of the compiled
cost of a cell's step (bench/tracking/costs.py), one line each. On the same platform
any change fails; across platforms a documented tolerance applies (gates.py).

Ratios (with `--fail-above`): per (problem instance, optimizer) present in
both runs, steps to the primary target at each run's tuned configuration
(median over seeds) and the time per step (median over the cell's programs),
each with the ratio B / A; above 1, B needs more steps or more time than A.
Steps: a miss is +inf, so B missing where A hit is a ratio of inf (a
regression), both missing has no ratio (`-`, never a regression). Time: a
regression only when the ratio exceeds `--fail-above` and a test on the timed
repeats says it is not noise at level `--alpha` (bench/tracking/timegate.py, which also
gives the noise seen: an interval of the ratio). That test needs optax's twin
timed in the same process (the "vs optax" basis); a cell without it (basis
"absolute", or "median only" without repeats) is reported and not gated,
unless `--absolute-above R` asks for its ratio of medians to stay under R.

`run` returns a `Comparison`; the command (bench/cli.py) prints it and exits with
0 no regression (or no threshold given and nothing flagged), 1 a flagged change
or a regression, 2 bad input (a missing, corrupt or incompatible results folder,
runs of different suites (gates.check_same_suite), nothing in common, a bad flag).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from bench.errors import ConfigError
from bench.reporting import fmt
from bench.stats import tuning
from bench.tracking import baseline, gates, timegate

DEFAULT_ALPHA = 0.01
COLUMNS = ["instance", "optimizer", "steps_a", "steps_b", "steps_ratio", "step_time_a", "step_time_b", "time_ratio"]


def _cells(runs: pd.DataFrame, impl: str) -> pd.DataFrame:
    rows = runs[runs["impl"] == impl]
    best = tuning.reported(rows).set_index(["instance", "optimizer"])  # chosen on select, measured on report seeds
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


def regressions(t: pd.DataFrame, threshold: float, on: str = "both",
                absolute_above: float | None = None) -> pd.DataFrame:
    """The rows whose ratio (steps, time or both) exceeds `threshold`; NaN never does.

    Where `t` holds the time gate's columns (`with_time_gate`), a time ratio
    counts only where the gate calls it a regression; a cell without repeats
    ("median only") only with `absolute_above`, when its ratio exceeds that.
    """
    bad = np.zeros(len(t), dtype=bool)
    if on in ("steps", "both"):
        bad |= (t["steps_ratio"] > threshold).to_numpy()
    if on in ("time", "both"):
        over = (t["time_ratio"] > threshold).to_numpy()
        if "gate_regression" in t:
            untested = (t["basis"] == "median only").to_numpy()
            medians = (t["time_ratio"] > absolute_above).to_numpy() if absolute_above is not None else False
            over = np.where(untested, medians, t["gate_regression"].to_numpy(dtype=bool))
        bad |= over
    return t[bad]


def with_time_gate(t: pd.DataFrame, runs_a: pd.DataFrame, runs_b: pd.DataFrame, fail_above: float | None,
                   alpha: float, impl: str = "gdbench", absolute_above: float | None = None) -> pd.DataFrame:
    """`t` with the time gate's columns: basis, gate_ratio, ci_low, ci_high, p, gated, gate_regression."""
    keys = list(zip(t["instance"], t["optimizer"]))
    g = timegate.gate(runs_a, runs_b, keys, fail_above, alpha, impl, absolute_above)
    g = g.rename(columns={"ratio": "gate_ratio", "regression": "gate_regression"})
    return pd.concat([t.reset_index(drop=True), g.drop(columns=["instance", "optimizer"])], axis=1)


def _fmt_ratio(v: float) -> str:
    return "-" if np.isnan(v) else ("inf" if np.isinf(v) else f"{v:.3f}")


NOT_GATED = "not gated"  # the p column of a cell without optax's twin, without --absolute-above


def _fmt_gate(r, alpha: float) -> tuple[str, str, str]:
    basis = r.get("basis", "median only")
    if basis != "vs optax":
        return basis, "-", ("-" if r.get("gated", False) else NOT_GATED)
    ci = f"{r.ci_low:.3f}-{r.ci_high:.3f}"
    return r.basis, ci, f"{r.p:.2g}"


def render(t: pd.DataFrame, name_a: str, name_b: str, flagged: pd.DataFrame | None = None,
           alpha: float = DEFAULT_ALPHA) -> str:
    """The table as text, regressions marked with '!'."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    flagged_idx = set() if flagged is None else set(flagged.index)
    out = StringIO()
    console = Console(file=out, width=140, color_system=None, force_terminal=False)
    console.print(f"A: {name_a}\nB: {name_b}\nsteps: to the target at the tuned configuration, median over seeds; "
                  f"time/step: median over the cell's programs; B/A > 1: B is worse", soft_wrap=True)
    if "basis" in t:
        console.print(f"time test: basis (vs optax: per-round ratio ours/optax, cancels machine speed; absolute: "
                      f"seconds), B/A of the tested samples' medians, its {1 - alpha:.0%} bootstrap interval (the "
                      f"noise), p: one-sided Mann-Whitney U, Holm-adjusted over the rows", soft_wrap=True)
        if (t["basis"] != "vs optax").any() and not t["gated"].all():
            console.print(f"{NOT_GATED}: absolute basis, no twin measured in the same process (the rounds of a "
                          "run share its machine's phase: their test would cry wolf; --absolute-above R gates the "
                          "ratio of medians, docs/CI.md)", soft_wrap=True)
    for instance, part in t.groupby("instance", sort=False):
        tab = Table(title=instance, title_justify="left")
        gated = "basis" in t
        cols = ["optimizer", "steps A", "steps B", "B/A", "time/step A", "time/step B", "B/A"]
        cols += ["basis", "tested B/A", "interval", "p"] if gated else []
        for col in (*cols, "regression"):
            tab.add_column(col, justify="left" if col in ("optimizer", "basis") else "right")
        for i, r in part.iterrows():
            extra = []
            if gated:
                basis, ci, p = _fmt_gate(r, alpha)
                extra = [basis, _fmt_ratio(r.gate_ratio), ci, p]
            tab.add_row(r.optimizer, fmt.steps(r.steps_a), fmt.steps(r.steps_b), _fmt_ratio(r.steps_ratio),
                        fmt.seconds(r.step_time_a, "-"), fmt.seconds(r.step_time_b, "-"), _fmt_ratio(r.time_ratio),
                        *extra, "!" if i in flagged_idx else "")
        console.print(tab)
    return out.getvalue()


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What `gdbench compare` found: `run`'s result, which `text` and `problems` put into words.

    `table` is the side-by-side table with the time gate's columns (None against a
    baseline, which keeps no timings); `flagged` its rows above `fail_above` (None
    without a threshold); `changes` every change of a deterministic metric
    (gates.CHANGE_COLUMNS); `notes` how they were judged.
    """

    name_a: str
    name_b: str
    table: pd.DataFrame | None
    flagged: pd.DataFrame | None
    changes: pd.DataFrame
    notes: list[str]
    fail_above: float | None
    on: str
    alpha: float
    absolute_above: float | None = None

    @property
    def n_flagged(self) -> int:
        """Flagged changes of deterministic metrics."""
        return int(self.changes["flagged"].sum()) if len(self.changes) else 0

    @property
    def failed(self) -> bool:
        """A flagged change or a regression above `fail_above`."""
        return self.n_flagged > 0 or (self.flagged is not None and len(self.flagged) > 0)

    def text(self) -> str:
        """The table, every change and the notes (the command's standard output)."""
        if self.table is not None:
            out = render(self.table, self.name_a, self.name_b, self.flagged, self.alpha)
        else:
            out = f"A: {self.name_a}\nB: {self.name_b}\n(a baseline: deterministic metrics only)\n"
        if len(self.changes):
            out += f"{len(self.changes)} change(s) of deterministic metrics, {self.n_flagged} flagged '!':\n"
            out += gates.render_changes(self.changes)
        else:
            out += "deterministic metrics (convergence, compiled cost): no change\n"
        out += "".join(f"{note}\n" for note in self.notes)
        if self.flagged is not None and not len(self.flagged):
            out += f"no regression above {self.fail_above:g}x ({self.on})\n"
        if self.table is not None and self.on != "steps" and not self.table["gated"].all():
            out += (f"time of {int((~self.table['gated']).sum())} cell(s) {NOT_GATED} (absolute basis, no twin "
                    "measured in the same process)\n")
        return out

    def problems(self) -> list[str]:
        """One line per reason the comparison failed (the command's standard error)."""
        lines = [f"{self.n_flagged} flagged change(s) of deterministic metrics, marked '!'"] if self.n_flagged else []
        if self.flagged is not None and len(self.flagged):
            lines.append(f"{len(self.flagged)} regression(s) above {self.fail_above:g}x ({self.on}), marked '!'")
        return lines


def run(path_a: str, path_b: str, fail_above: float | None = None, on: str = "both", impl: str = "gdbench",
        alpha: float = DEFAULT_ALPHA, absolute_above: float | None = None) -> Comparison:
    """`gdbench compare`: the comparison of two results folders (either may be a baseline).
    Raises ResultsError for an unusable folder and ConfigError for runs that cannot be compared
    (and for `absolute_above` without `fail_above`)."""
    if absolute_above is not None and fail_above is None:
        raise ConfigError("--absolute-above", "gates time with --fail-above only; give --fail-above too")
    (ta, ma), (tb, mb) = baseline.load(path_a), baseline.load(path_b)
    gates.check_same_suite(ma, mb, str(path_a), str(path_b))
    timed = not (ma.get("baseline") or mb.get("baseline"))
    t = table(ta["runs"], tb["runs"], impl) if timed else pd.DataFrame(columns=COLUMNS)
    common = ta["runs"].merge(tb["runs"][gates.KEY], on=gates.KEY) if len(ta["runs"]) and len(tb["runs"]) else []
    if t.empty and not len(common):
        raise ConfigError("RUN_A, RUN_B", f"{path_a} and {path_b} have no (problem instance, optimizer) "
                                          f"of impl {impl} in common")
    changes, notes = gates.deterministic_changes(ta, ma, tb, mb)
    flagged = None
    if not t.empty:
        t = with_time_gate(t, ta["runs"], tb["runs"], fail_above, alpha, impl, absolute_above)
        flagged = regressions(t, fail_above, on, absolute_above) if fail_above is not None else None
    da, db = (ma.get("device") or {}).get("device_kind"), (mb.get("device") or {}).get("device_kind")
    if da != db:
        notes.append(f"note: the runs used different devices ({da} / {db}); time ratios compare the machines too")
    return Comparison(str(path_a), str(path_b), None if t.empty else t, flagged, changes, notes, fail_above, on,
                      alpha, absolute_above)
