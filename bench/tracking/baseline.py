"""A committed baseline: a run's deterministic metrics, small and readable in a diff.

    gdbench baseline RUN [--out results/baseline]

writes `convergence.csv` (one row per trajectory: its key, the target ladder's
first hits, final loss, divergence), `costs.csv` (the compiled cost of each
cell's step) and `meta.json` (the run's suite, versions and device, and
`"baseline": true`). Floats are written with 17 significant digits, so they
read back bit for bit. `gdbench compare BASELINE RUN` gates a new run against
it (bench/tracking/gates.py); the timings are not kept, as they belong to one machine.
Before replacing a baseline, `update` finds what changed (an `Update`, which the
command prints).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import ConfigError
from bench.runs import results
from bench.tracking import gates
from bench.tracking.costs import COLUMNS as COST_COLUMNS

FILES = {"runs": "convergence.csv", "costs": "costs.csv"}
RUN_COLUMNS = [*gates.KEY, "problem", "dtype", "steps", "initial_loss", "f_ref", "final_loss", "diverged",
               "diverged_step"]


def is_baseline(path: str | Path) -> bool:
    try:
        return bool(json.loads((Path(path) / "meta.json").read_text()).get("baseline"))
    except (OSError, ValueError, AttributeError):
        return False


def read(path: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """({runs, costs}, meta) of a baseline folder; ResultsError if unusable."""
    path = Path(path)
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError) as e:
        raise results.ResultsError(f"{path}/meta.json: unreadable ({e})") from None
    tables = {}
    for name, file in FILES.items():
        try:
            tables[name] = pd.read_csv(path / file, keep_default_na=False, na_values=["nan", "NaN"])
        except FileNotFoundError:
            raise results.ResultsError(f"{path}: not a baseline (missing {file})") from None
        except Exception as e:  # noqa: BLE001 - pandas raises several types for bad CSV
            raise results.ResultsError(f"{path}/{file}: unreadable ({type(e).__name__})") from None
    missing = [c for c in RUN_COLUMNS if c not in tables["runs"].columns]
    if missing:
        raise results.ResultsError(f"{path}/{FILES['runs']}: missing column {missing[0]}")
    return tables, meta


def load(path: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """A results folder or a baseline folder, as ({runs, costs, ...}, meta)."""
    return read(path) if is_baseline(path) else results.read_run(path)


def from_run(tables: dict[str, pd.DataFrame], meta: dict[str, Any]) -> tuple[dict[str, pd.DataFrame], dict]:
    """The baseline's tables and meta of a run's."""
    runs = tables["runs"]
    cols = [*RUN_COLUMNS, *(["phase"] if "phase" in runs else []), *gates.ladder_columns(runs)]
    out = {"runs": runs[cols].sort_values(gates.KEY[:4] + ["seed"], kind="mergesort").reset_index(drop=True),
           "costs": (tables["costs"] if len(tables.get("costs", [])) else pd.DataFrame(columns=list(COST_COLUMNS)))}
    keep = ("suite", "versions", "device", "dtype", "started_utc", "git", "schema_version")
    return out, {**{k: meta.get(k) for k in keep}, "baseline": True}


def write(run_path: str | Path, out: str | Path) -> Path:
    """Writes the baseline of the run at `run_path` into `out` (each file atomically)."""
    tables, meta = results.read_run(run_path)
    base, base_meta = from_run(tables, meta)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, file in FILES.items():
        results._write_atomic(out / file, lambda p, df=base[name]: df.to_csv(p, index=False, float_format="%.17g", na_rep="nan"))
    results.write_json(out / "meta.json", {**base_meta, "source_run": Path(run_path).name})
    return out


@dataclasses.dataclass(frozen=True)
class Update:
    """What `update` did: the baseline written at `out` from `run`, and what it replaced.

    `previous` is "none" (no baseline there before), "other suite" (one of
    another suite: `suite_change` says which field; nothing compared) or
    "compared" (`changes`: gates.CHANGE_COLUMNS; `new` and `gone`: trajectories).
    """

    run: str
    out: str
    previous: str
    suite_change: str = ""
    changes: pd.DataFrame | None = None
    new: int = 0
    gone: int = 0

    def text(self) -> str:
        """What changed, then where the baseline is (the command's output)."""
        if self.previous == "none":
            head = f"new baseline at {self.out}\n"
        elif self.previous == "other suite":
            head = f"the suite changed ({self.suite_change}); no comparison\n"
        else:
            n = len(self.changes)
            head = f"{n} change(s) against {self.out}" + (":" if n else "") + "\n" + gates.render_changes(self.changes)
            if self.new or self.gone:
                head += f"trajectories: {self.new} new, {self.gone} gone\n"
        return head + f"baseline: {self.out} (from {self.run})\n"


def update(run_path: str | Path, out: str | Path) -> Update:
    """`gdbench baseline`: replaces the baseline at `out` with the run's, and says what changed against it."""
    tables, meta = results.read_run(run_path)
    result = Update(str(run_path), str(out), "none")
    if is_baseline(out):
        old, old_meta = read(out)
        new, new_meta = from_run(tables, meta)
        try:
            gates.check_same_suite(old_meta, new_meta, str(out), str(run_path))
        except ConfigError as e:  # a new suite: a new baseline, nothing to compare trajectory by trajectory
            result = Update(str(run_path), str(out), "other suite", suite_change=e.message)
        else:
            changes, _ = gates.deterministic_changes(old, old_meta, new, new_meta)
            keys = [set(map(tuple, df[gates.KEY].astype(str).to_numpy())) for df in (old["runs"], new["runs"])]
            result = Update(str(run_path), str(out), "compared", changes=changes, new=len(keys[1] - keys[0]),
                            gone=len(keys[0] - keys[1]))
    write(run_path, out)
    return result
