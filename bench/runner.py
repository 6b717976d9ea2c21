"""Runs a suite: every (problem, optimizer) cell, with progress, into a results folder."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

import optimizers
import problems
from bench import cache, cells, costs, results, storage, summary
from bench.suite import Suite

COMPILE_THREADS = 2


@dataclasses.dataclass(frozen=True)
class CellPlan:
    problem_index: int
    problem: problems.Problem
    optimizer: str
    impl: str  # "gdbench", "optax" or "both"
    batch_size: int | None = None  # None: full batch


def plan(suite: Suite) -> list[CellPlan]:
    """The suite's cells in run order: problem by problem (batch size by batch size), optimizer by optimizer."""
    out = []
    for i, entry in enumerate(suite.problems):
        p = entry.build()
        for b in suite.batch_sizes_for(entry):
            for name in suite.optimizers:
                if entry.optimizers is not None and name not in entry.optimizers:
                    continue
                spec = optimizers.resolve(name)
                impls = [m for m in suite.impls if m == "gdbench" or spec.twin is not None]
                if impls:
                    out.append(CellPlan(i, p, name, "both" if len(impls) == 2 else impls[0], b))
    return out


def _run_problem(suite: Suite, plans: list[CellPlan], say: Callable[[str, bool], None], run_id: int,
                 phases: dict[str, float]):
    """Runs one problem's cells; returns its tables. Without f*, the targets are
    relative to the best loss any of its cells reached (a last run of each).

    `say(text, advance)` reports progress: what is being done, and whether a
    cell has just finished. `phases` accumulates the wall seconds spent
    compiling, running and making tables.
    """
    def prepare(c: CellPlan) -> tuple[cells.CellRun, pd.DataFrame]:
        cell = cells.prepare(
            c.problem, c.optimizer, grid=suite.grid_for(optimizers.resolve(c.optimizer)), seeds=suite.seeds,
            steps=suite.steps, impl=c.impl, dtype=suite.dtype, targets=suite.targets, target=suite.target,
            record_every=suite.record_every, device=suite.device, batch_size=c.batch_size,
            record_path=True if suite.record_path == "all" else suite.record_path,
        )
        # the compiled cost of our step (optax's only in an optax-only suite): a compile of its own
        cost = costs.table(c.problem, c.optimizer, ("optax",) if c.impl == "optax" else ("gdbench",), suite.dtype,
                           cells.problem_label(c.problem, c.batch_size), cells.devices_for(suite.device)[0],
                           suite.grid_for(optimizers.resolve(c.optimizer)))
        return cell, cost

    # All of the problem's cells compile first, in 2 threads: one traces in
    # Python while XLA compiles the other's program (the quick suite compiled
    # in 31-34 s so, 37-41 s one by one). Then they run and are timed one by
    # one with nothing else running.
    label = cells.problem_label(plans[0].problem)
    say(f"{label}: compiling {len(plans)} cells", False)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=COMPILE_THREADS) as pool:
        done, cost_tables = zip(*pool.map(prepare, plans))
    phases["compile"] += time.perf_counter() - start
    start = time.perf_counter()
    for c, prepared in zip(plans, done):
        name = c.optimizer if c.batch_size is None else f"{c.optimizer} (batch {c.batch_size})"
        say(f"{label} / {name}", False)
        cells.run_cell(prepared, repeats=suite.repeats, settle_f_ref=False)  # f_ref: below, per problem
        say(f"{label} / {name}", True)
    f_ref = None
    if plans and plans[0].problem.f_star is None:
        reached = [cell.best_reached() for cell in done]
        f_ref = float(np.nanmin(reached)) if np.isfinite(reached).any() else float("nan")
        for cell in done:
            cell.execute(f_ref)
    phases["run"] += time.perf_counter() - start
    start = time.perf_counter()
    parts = {name: [] for name in results.TABLES}
    for cell in done:
        runs, curves, paths = cells.tables(cell, f_ref=f_ref, run_id_start=run_id)
        run_id += len(runs)
        for name, df in zip(results.TABLES, (runs, curves, paths)):
            parts[name].append(df)
    parts["costs"] = list(cost_tables)
    tables = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
    tables = storage.compact(tables, all_paths=suite.record_path == "all")  # what the folder keeps
    phases["tables"] += time.perf_counter() - start
    return tables, run_id


def run_suite(suite: Suite, out_root: str | Path = "results/runs", show_progress: bool = True,
              console=None) -> Path:
    """Runs every cell of a validated suite and writes its results folder."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = console or Console(stderr=True)
    devices = cells.devices_for(suite.device)
    todo_cells = plan(suite)
    started = results.utc_now()
    meta = {
        "suite": suite.to_dict(),
        "command": results.command_line(),
        "versions": results.versions(),
        "git": results.git_state(),
        "device": results.device_info(devices),
        "dtype": suite.dtype,
        "started_utc": started.isoformat(),
    }
    folder = results.RunFolder(Path(out_root), f"{results.stamp(started)}-{suite.name}", meta)
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("cells"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, disable=not show_progress,
        refresh_per_second=4,  # drawing it competes with compilation for the cores
    )
    all_runs = []
    status = "complete"
    phases = {"compile": 0.0, "run": 0.0, "tables": 0.0, "write": 0.0}
    wall = time.perf_counter()
    compile_cache = cache.Counter.start()
    try:
        with progress:
            task = progress.add_task("starting", total=len(todo_cells))

            def say(text: str, advance: bool) -> None:
                progress.update(task, description=text, advance=1 if advance else 0)

            run_id = 0
            for i in range(len(suite.problems)):
                todo = [c for c in todo_cells if c.problem_index == i]
                if not todo:
                    continue
                tables, run_id = _run_problem(suite, todo, say, run_id, phases)
                start = time.perf_counter()
                folder.add(tables)
                phases["write"] += time.perf_counter() - start
                all_runs.append(tables["runs"])
    except KeyboardInterrupt:
        status = "interrupted"
    except Exception:
        # Keep what finished, say the run failed, and let the error surface.
        _finish(folder, all_runs, suite, "failed", wall, len(todo_cells), phases, compile_cache)
        raise
    path = _finish(folder, all_runs, suite, status, wall, len(todo_cells), phases, compile_cache)
    runs = pd.concat(all_runs, ignore_index=True) if all_runs else pd.DataFrame()
    summary.show(runs, suite, status, console)
    console.print(f"results: {path}")
    _write_report(path, console)  # report.html and report.md (bench/report.py)
    if status == "interrupted":
        raise KeyboardInterrupt
    return path


def _finish(folder: results.RunFolder, all_runs: list[pd.DataFrame], suite: Suite, status: str, wall: float,
            n_cells: int, phases: dict[str, float], compile_cache: cache.Counter) -> Path:
    runs = pd.concat(all_runs, ignore_index=True) if all_runs else pd.DataFrame()
    text = summary.text(runs, suite, status)
    return folder.finish(status, text, {
        "ended_utc": results.utc_now().isoformat(),
        "wall_s": time.perf_counter() - wall,
        "phases_s": {k: round(v, 3) for k, v in phases.items()},  # wall seconds per phase
        "cells": n_cells,
        "compile_cache": compile_cache.stop(),  # folder, hits, misses (bench/cache.py)
    })


def _write_report(path: Path, console) -> None:
    """report.html and report.md, drawn from the stored results: a failure here loses nothing."""
    try:
        from bench import report

        written = report.write(path)
        console.print(f"report: {written['html']}")
    except Exception as e:  # noqa: BLE001 - the results are already saved
        console.print(f"report not written ({type(e).__name__}: {e}); retry with: gdbench report {path}",
                      style="yellow", markup=False)
