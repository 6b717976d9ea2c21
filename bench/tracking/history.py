"""The history of many runs: each tracked metric over commits, per suite and machine, with its change points.

    gdbench history [RUNS_DIR] [--out DIR]     # RUNS_DIR: results/runs by default

Reads every results folder at any depth below RUNS_DIR (a folder holding
meta.json, with runs.parquet: `runs/<stamp>` and `runs/<branch>/<stamp>` alike;
folders still being written, `*.partial`, and unreadable ones are passed over,
each with a note) and writes, into --out (default RUNS_DIR):

  history.csv   one row per (run, series): the long table below
  history.html  self-contained (no network; interactive figures,
                bench/reporting/history_page.py): per suite and machine, the
                change points found, a figure per problem instance, and the
                runs, each linked to its results folder

Series. Runs are grouped by suite and machine (`device_kind` x
`device_count` and the host CPU model from meta.json's `device`; "unknown CPU"
for runs written before it was recorded): a series never mixes suites or
machines, and each group is a section of the page. A suite is what makes runs
comparable, the same notion `gdbench compare` refuses runs by
(`gates.suite_identity`: name, steps, seeds, dtype, targets, grid): a 500-step
and a 1000-step run of one suite name are two series, labelled by the fields
that tell them apart (`quick-custom (steps 500)`). Within a group, per
(problem instance, optimizer, implementation), two metrics:

  steps        steps to the primary target at the tuned configuration
               (bench.stats.tuning: median over seeds; a miss is inf)
  program_step_s  time per step of the compiled program, the median over the cell's programs

optax's twin, measured in the same runs, is drawn dashed beside ours: when
both move together, the machine moved, not our code.

Points. A group's runs in order of start time; consecutive runs of the same
commit (a dirty checkout counted apart from its clean commit) form one
point, the median of their values.

Change points (`bench.tracking.changepoints`): a penalised least-squares segmentation
of log10 of each series' finite points, the noise level pooled over all
series of one metric in the group; a series that moves between hitting and
missing the target changes there too.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import ConfigError
from bench.reporting import history_page
from bench.runs.results import ResultsError, read_meta, read_table
from bench.stats import tuning
from bench.tracking import changepoints, gates

METRICS = {"steps": "steps to target (tuned)", "program_step_s": "time per step (s)"}
COLUMNS = ["suite", "machine", "instance", "optimizer", "impl", "metric", "point", "commit", "started_utc", "run",
           "value", "point_value", "level", "change_point"]


@dataclasses.dataclass(frozen=True)
class Run:
    """One results folder's facts the history needs."""

    path: Path
    name: str  # its path below RUNS_DIR
    suite: str  # its series' suite label (`suite_labels`)
    machine: str
    commit: str  # short hash, '+dirty' for uncommitted changes, 'unknown' without git
    started: pd.Timestamp
    metrics: pd.DataFrame  # instance, optimizer, impl, steps, program_step_s


def machine_label(meta: dict[str, Any]) -> str:
    """'<device kind> x<count> | <CPU model>[ (<widest vector ISA>)]' from meta.json's device.

    The widest x86 vector instruction set is named because one model name
    may cover machines with and without AVX-512, whose times differ.
    """
    d = meta.get("device") or {}
    isa = set((d.get("host_isa") or "").split())
    widest = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2")) if flag in isa), None)
    cpu = (d.get("host_cpu") or "unknown CPU") + (f" ({widest})" if widest else "")
    return f"{d.get('device_kind', '?')} x{d.get('device_count', '?')} | {cpu}"


def commit_label(meta: dict[str, Any]) -> str:
    g = meta.get("git") or {}
    if not g.get("commit"):
        return "unknown"
    return str(g["commit"])[:10] + ("+dirty" if g.get("dirty") else "")


def run_metrics(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (instance, optimizer, impl): tuned steps to target and the median time per step."""
    cols = ["instance", "optimizer", "impl", "steps", "program_step_s"]
    if runs.empty:
        return pd.DataFrame(columns=cols)
    best = tuning.reported(runs).set_index(list(tuning.GROUP))  # chosen on select, measured on report seeds
    step_time = runs.groupby(list(tuning.GROUP), sort=False)["program_step_s"].median()
    out = pd.DataFrame({"steps": tuning.as_cost(best["median_steps"]),
                        "program_step_s": step_time.reindex(best.index).to_numpy()}, index=best.index)
    return out.reset_index()[cols]


def _read(path: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """meta.json and runs.parquet of a results folder (the rest of `read_run`'s tables are not needed)."""
    return read_meta(path), read_table(path, "runs")


def _folders(root: Path) -> tuple[list[Path], int]:
    """The results folders at any depth below `root` (a folder holding meta.json, or a `.partial`
    one: not looked into), in path order, and how many other folders were looked in (root included)."""
    out, looked = [], 0
    for here, dirs, files in os.walk(root):
        here = Path(here)
        if here != root and (here.name.endswith(".partial") or "meta.json" in files):
            out.append(here)
            dirs.clear()
            continue
        looked += 1
        dirs.sort()
    return sorted(out), looked


def suite_labels(metas: list[dict[str, Any]]) -> list[str]:
    """Each run's series name: its suite's name, and where runs of one name are not comparable
    (`gates.suite_identity`: steps, seeds, ...), the fields in which they differ."""
    identities = [gates.suite_identity(m) for m in metas]
    names = [str(i["name"]) if i["name"] is not None else "?" for i in identities]
    labels = []
    for name, identity in zip(names, identities):
        same_name = [j for n, j in zip(names, identities) if n == name]
        differ = [f for f in gates.SUITE_FIELDS if f != "name" and any(j[f] != identity[f] for j in same_name)]
        shown = ", ".join(f"{f} {_short(identity[f])}" for f in differ)
        labels.append(f"{name} ({shown})" if differ else name)
    return labels


def _short(value, width: int = 40) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= width else text[:width - 3] + "..."


def collect(runs_dir: str | Path) -> tuple[list[Run], list[str]]:
    """The complete runs at any depth below RUNS_DIR (runs/<branch>/<stamp> too), in start-time
    order, and a note per folder passed over.

    Raises ConfigError when RUNS_DIR is not a folder, is itself a results
    folder, or holds no complete run (saying how many folders were looked in).
    """
    root = Path(runs_dir)
    if not root.is_dir():
        raise ConfigError("RUNS_DIR", f"{root} is not a folder")
    if (root / "meta.json").exists():
        raise ConfigError("RUNS_DIR", f"{root} is one results folder: give the folder that holds the runs")
    found, metas, notes = [], [], []
    folders, looked = _folders(root)
    for path in folders:
        name = path.relative_to(root).as_posix()
        if path.name.endswith(".partial"):
            notes.append(f"{name}: still being written (or interrupted hard), passed over")
            continue
        try:
            meta, runs = _read(path)
        except ResultsError as e:
            notes.append(f"{e}; passed over")
            continue
        if meta.get("status") != "complete":
            notes.append(f"{name}: status {meta.get('status')!r}, passed over (only complete runs count)")
            continue
        started = pd.to_datetime(meta.get("started_utc"), utc=True, errors="coerce")
        if pd.isna(started):
            notes.append(f"{name}: no valid started_utc, passed over")
            continue
        found.append(Run(path, name, "", machine_label(meta), commit_label(meta), started, run_metrics(runs)))
        metas.append(meta)
    if not found:
        where = f"{root} and the {looked - 1} folder(s) below it" if looked > 1 else f"{root}"
        raise ConfigError("RUNS_DIR", f"{root} holds no complete results folder (gdbench run writes them; "
                                      f"looked in {where})")
    found = [dataclasses.replace(r, suite=label) for r, label in zip(found, suite_labels(metas))]
    found.sort(key=lambda r: (r.started, r.name))
    return found, notes


def _points(runs: list[Run]) -> list[int]:
    """Each run's point index: consecutive runs of one commit share a point."""
    out, point = [], -1
    for i, r in enumerate(runs):
        if i == 0 or r.commit != runs[i - 1].commit:
            point += 1
        out.append(point)
    return out


def _log(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(values)


def _change_points(values: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(level per point, change-point flags) of one series of point values (inf: missed, NaN: absent)."""
    n = len(values)
    levels, flags = np.full(n, np.nan), np.zeros(n, dtype=bool)
    present = ~np.isnan(values)
    finite = np.isfinite(values) & (values > 0)
    idx = np.flatnonzero(finite)
    if len(idx):
        seg = changepoints.segment(_log(values[idx]), sigma=sigma)
        levels[idx] = 10.0 ** seg.levels
        flags[idx[list(seg.change_points)]] = True
    levels[present & ~finite] = values[present & ~finite]
    kept = np.flatnonzero(present)
    hit = np.isfinite(values[kept])
    flags[kept[1:][hit[1:] != hit[:-1]]] = True  # between hitting and missing the target
    return levels, flags


def table(runs: list[Run]) -> pd.DataFrame:
    """The long table (COLUMNS) of the runs `collect` returned."""
    frames = []
    for (suite, machine), idx in _groups(runs).items():
        group = [runs[i] for i in idx]
        points = _points(group)
        parts = []
        for r, point in zip(group, points):
            m = r.metrics.melt(id_vars=["instance", "optimizer", "impl"], value_vars=list(METRICS),
                               var_name="metric", value_name="value")
            m["point"], m["commit"], m["started_utc"], m["run"] = point, r.commit, r.started.isoformat(), r.name
            parts.append(m)
        long = pd.concat(parts, ignore_index=True)
        long.insert(0, "suite", suite)
        long.insert(1, "machine", machine)
        long["value"] = long["value"].astype(float)
        key = ["instance", "optimizer", "impl", "metric"]
        med = long.groupby([*key, "point"], sort=False)["value"].median().rename("point_value").reset_index()
        n_points = points[-1] + 1
        out = []
        for metric, mpart in med.groupby("metric", sort=False):
            series = {}
            for k, s in mpart.groupby(key, sort=False):
                v = np.full(n_points, np.nan)
                v[s["point"].to_numpy()] = s["point_value"].to_numpy()
                series[k] = v
            logs = [_log(v[np.isfinite(v) & (v > 0)]) for v in series.values()]
            sigma = changepoints.noise_level(*logs)
            for k, v in series.items():
                levels, flags = _change_points(v, sigma)
                present = np.flatnonzero(~np.isnan(v))
                out.append(pd.DataFrame({**dict(zip(key, k)), "point": present, "level": levels[present],
                                         "change_point": flags[present]}))
        fitted = pd.concat(out, ignore_index=True)
        frames.append(long.merge(med, on=[*key, "point"]).merge(fitted, on=[*key, "point"]))
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def _groups(runs: list[Run]) -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(runs):
        out.setdefault((r.suite, r.machine), []).append(i)
    return out


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def write(runs_dir: str | Path = "results/runs", out: str | Path | None = None) -> dict[str, Any]:
    """Writes history.csv and history.html; returns their paths and the notes on folders passed over."""
    runs, notes = collect(runs_dir)  # first: bad input is reported before anything is written
    out = Path(out) if out is not None else Path(runs_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = table(runs)
    page = history_page.render(runs, t, out, notes, _groups(runs), _points, METRICS)
    paths = {"csv": out / "history.csv", "html": out / "history.html"}
    _write_atomic(paths["csv"], lambda p: t.to_csv(p, index=False))
    _write_atomic(paths["html"], lambda p: p.write_text(page, encoding="utf-8"))
    return {**paths, "notes": notes, "runs": len(runs)}
