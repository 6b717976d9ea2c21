"""Runs a suite: every (problem, optimizer) cell, with progress, into a results folder.

A cell that fails (a user's optimizer failing while traced or compiled, an
error of XLA or of the engine while it compiles or runs) is recorded as
failed with its error in one line (`RunFolder.fail`), and the other cells run
and are kept: the folder's status is then "complete_with_failures" and
`gdbench run --resume` retries the failed cells. Bad input of the whole run
(`ConfigError`) still stops it before anything runs; so does a suite whose
every cell fails its trace check (there is nothing to keep).

With held-out seeds (a suite's [tuning]) each cell runs in two phases: its
grid (or trials) on the selection seeds, then each implementation's chosen
configuration (`bench.stats.tuning.best_configs` on those rows) on the suite's
seeds, a second compiled program (`_report_problem`). The selection phase of
cell k is stored as part k, its report phase as part n + k (n cells), so a
resumed run goes on from either; the runs table's `phase` column tells them apart.
A failed selection phase has no report phase; a failed report phase is
recorded as its part's failure and retried on resume like any other.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

import optimizers
import problems
from bench.core import cache, cells, distributed, memory, protocol, search
from bench.errors import ConfigError
from bench.runs import results, storage, summary
from bench.runs.suite import Suite
from bench.stats import tuning
from bench.tracking import costs

COMPILE_THREADS = 2
COMPLETE_WITH_FAILURES = "complete_with_failures"  # a folder's status: every cell ran, some failed


@dataclasses.dataclass(frozen=True)
class CellPlan:
    problem_index: int
    problem: problems.Problem
    optimizer: str
    impl: str  # "gdbench", "optax" or "both"
    batch_size: int | None = None  # None: full batch


def cell_keys(suite: Suite):
    """(problem index, batch size, optimizer, impl) of each of the suite's cells, in run order: problem by
    problem (batch size by batch size), optimizer by optimizer; impl "both" where the optimizer has a twin."""
    for i, entry in enumerate(suite.problems):
        for b in suite.batch_sizes_for(entry):
            for name in suite.optimizers:
                if entry.optimizers is not None and name not in entry.optimizers:
                    continue
                spec = optimizers.resolve(name)
                impls = [m for m in suite.impls if m == "gdbench" or spec.twin is not None]
                if impls:
                    yield i, b, name, "both" if len(impls) == 2 else impls[0]


def plan(suite: Suite) -> list[CellPlan]:
    """The suite's cells in run order (`cell_keys`), their problems built."""
    built = [entry.build() for entry in suite.problems]
    return [CellPlan(i, built[i], name, impl, b) for i, b, name, impl in cell_keys(suite)]


def fails_its_cell(error: Exception) -> bool:
    """Whether `error` fails only the cell it came from: a user's optimizer failing while traced or
    compiled (`protocol.OptimizerFailed`), or any error but bad input of the whole run (a ConfigError)
    and a lost process of a distributed run. With several processes, only the first kind (the same in
    every process): any other may be one process's alone, which the others would wait for."""
    if isinstance(error, protocol.OptimizerFailed):
        return True
    return (not isinstance(error, (ConfigError, distributed.DistributedError))
            and distributed.process_count() == 1)


def failure(index: int, c: CellPlan, stage: str, error: Exception) -> dict:
    """The record of a failed cell (meta.json's `failures`): which cell, at what stage, the error in one line."""
    doing = {"trace": "traced", "compile": "compiled", "run": "running"}[stage]
    # a user's optimizer's error says what failed and when; any other one gets that said
    text = (str(error) if isinstance(error, protocol.OptimizerFailed)
            else f"failed while {doing}: {protocol.one_line(error)}")
    return {"cell": index, "problem": cells.problem_label(c.problem, c.batch_size), "optimizer": c.optimizer,
            "impl": c.impl, "stage": stage, "error": text}


def _run_problem(suite: Suite, plans: list[tuple[int, CellPlan]], say: Callable[[str, bool], None],
                 phases: dict[str, float], store: Callable[[int, dict], None], f_ref_stored: float | None = None,
                 fail: Callable[[dict, Exception], None] | None = None):
    """Runs some of one problem's cells, `store(index, tables)` for each as it is done.

    A cell that fails (`fails_its_cell`) while compiled or run is passed to
    `fail(record, error)` (`failure`) and left out; the others go on (none
    given: the error is raised).

    With f*, a cell's tables are stored as soon as it has run. Without it, the
    targets are relative to the best loss any of the problem's cells reached
    (a last run of each), so its cells are stored together once that is
    settled; `f_ref_stored` is the one of its cells stored before (a resumed
    run), whose best losses it already holds: the result is the same as if
    all of them had run now (the runs are deterministic).

    `say(text, advance)` reports progress: what is being done, and whether a
    cell has just finished. `phases` accumulates the wall seconds spent
    compiling, running, making tables and storing them.
    """
    def attempt(index: int, c: CellPlan, stage: str, work: Callable):
        """work(), or None where it failed its cell (then recorded with `fail`)."""
        try:
            return work()
        except Exception as e:
            if fail is None or not fails_its_cell(e):
                raise
            fail(failure(index, c, stage, e), e)
            return None

    def prepare(c: CellPlan) -> tuple[cells.CellRun, pd.DataFrame]:
        sweep = suite.sweep_spec(c.problem, c.optimizer, c.impl, c.batch_size)
        grid = search.as_grid(sweep.grid)  # the configurations' values, for the cost table
        cell = cells.prepare(sweep)
        # the compiled cost of our step (optax's only in an optax-only suite): a compile of its own
        cost = costs.table(c.problem, c.optimizer, ("optax",) if c.impl == "optax" else ("gdbench",), suite.dtype,
                           cells.problem_label(c.problem, c.batch_size),
                           distributed.local(cells.devices_for(suite.device))[0], grid)
        return cell, cost

    def finish(index: int, cell: cells.CellRun, cost: pd.DataFrame, f_ref: float | None) -> None:
        start = time.perf_counter()
        tables = dict(zip(("runs", "curves", "paths"), cells.tables(cell, f_ref=f_ref)), costs=cost)
        tables = storage.compact(tables, all_paths=suite.record_path == "all")  # what the folder keeps
        phases["tables"] += time.perf_counter() - start
        start = time.perf_counter()
        store(index, tables)
        phases["write"] += time.perf_counter() - start

    # All of the problem's cells compile first, in 2 threads: one traces in
    # Python while XLA compiles the other's program (the quick suite compiled
    # in 31-34 s so, 37-41 s one by one). Then they run and are timed one by
    # one with nothing else running.
    label = cells.problem_label(plans[0][1].problem)
    say(f"{label}: compiling {len(plans)} cells", False)
    start = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=COMPILE_THREADS)
    try:
        compiled = list(pool.map(lambda item: attempt(*item, "compile", lambda: prepare(item[1])), plans))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # an interrupt does not wait for the queued cells
    phases["compile"] += time.perf_counter() - start
    known_optimum = plans[0][1].problem.f_star is not None
    ran = []  # (index, cell, cost) of the cells that compiled and ran
    for (index, c), prepared in zip(plans, compiled):
        name = c.optimizer if c.batch_size is None else f"{c.optimizer} (batch {c.batch_size})"
        say(f"{label} / {name}", False)
        start = time.perf_counter()
        done = prepared is not None and attempt(index, c, "run", lambda: cells.run_cell(
            prepared[0], repeats=suite.repeats, settle_f_ref=False)) is not None  # f_ref: below, per problem
        phases["run"] += time.perf_counter() - start
        if done:
            ran.append((index, *prepared))
            if known_optimum:
                finish(index, *prepared, None)
        say(f"{label} / {name}", True)
    if not known_optimum and ran:
        start = time.perf_counter()
        reached = [cell.best_reached() for _, cell, _ in ran] + ([f_ref_stored] if f_ref_stored is not None else [])
        f_ref = cells.settled_f_ref(reached)
        for index, cell, cost in ran:
            cell.execute(f_ref)
        phases["run"] += time.perf_counter() - start
        for index, cell, cost in ran:
            finish(index, cell, cost, f_ref)


# --------------------------------------------------------------------------- held-out seeds ([tuning])


def report_index(n_cells: int, index: int) -> int:
    """The part that holds cell `index`'s report phase: after every cell's selection phase."""
    return n_cells + index


def _keeping(store: Callable[[int, dict], None], kept: dict[int, pd.DataFrame]) -> Callable[[int, dict], None]:
    """`store`, keeping each stored cell's runs table in `kept` (every process: the report phase needs them)."""
    def add(index: int, tables: dict) -> None:
        kept[index] = tables["runs"]
        store(index, tables)

    return add


def _stored_rows(folder, index: int) -> pd.DataFrame | None:
    """A cell's stored selection rows; None where this process cannot read them (process 0 can)."""
    if isinstance(folder, _Follower) or index not in folder.done():
        return None
    return folder.read_part(index)


def choices(runs: pd.DataFrame | None) -> dict[str, int]:
    """{impl: config_id} chosen on a cell's selection rows (`tuning.best_configs`): each
    implementation its own choice, as each would be tuned alone."""
    if runs is None or runs.empty or "config_id" not in runs.columns:
        return {}
    best = tuning.best_configs(runs)
    return {str(i): int(c) for i, c in zip(best["impl"], best["config_id"])}


def report_tables(tables: dict[str, pd.DataFrame], grid_ids: list[int],
                  chosen: dict[str, int]) -> dict[str, pd.DataFrame]:
    """A report cell's tables: `config_id` that of the selection phase (`grid_ids[i]` for its
    grid's i-th configuration), each implementation's rows of its own choice only, run ids from 0.

    Where ours and optax's chose differently, the program ran both configurations
    under both; the rows of the other's choice are dropped.
    """
    runs = tables["runs"].copy()
    runs["config_id"] = np.asarray(grid_ids, np.int64)[runs["config_id"].to_numpy()]
    runs = runs[runs["config_id"].to_numpy() == runs["impl"].map(chosen).to_numpy()]
    renumber = dict(zip(runs["run_id"].tolist(), range(len(runs))))
    out = {**tables, "runs": runs.assign(run_id=np.arange(len(runs))).reset_index(drop=True)}
    for name in ("curves", "paths"):
        df = tables[name]
        df = df[df["run_id"].isin(renumber)]
        out[name] = df.assign(run_id=df["run_id"].map(renumber).astype(df["run_id"].dtype)).reset_index(drop=True)
    return out


def _report_problem(suite: Suite, plans: list[tuple[int, CellPlan]], n_cells: int,
                    selection: dict[int, pd.DataFrame | None], say: Callable[[str, bool], None],
                    phases: dict[str, float], store: Callable[[int, dict], None],
                    fail: Callable[[dict, Exception], None] | None = None) -> None:
    """The report phase of some of one problem's cells: each implementation's configuration
    chosen on the selection seeds, run on the suite's seeds, stored as part `n_cells + index`.
    One that fails (`fails_its_cell`) goes to `fail` as that part's failure, as in `_run_problem`.

    `selection` holds the problem's selection rows per cell (None where this
    process cannot read them: process 0's choices and f_ref are every
    process's). Without f*, the targets stay relative to the selection phase's
    f_ref (the best loss of the problem's selection runs): both phases measure
    against one reference, and what is reported plays no part in choosing it.
    """
    if not plans:
        return
    impls = list(cells.IMPLS)
    ids = np.full((len(plans), len(impls)), -1, np.int64)
    for row, (k, _) in enumerate(plans):
        for impl, config_id in choices(selection.get(k)).items():
            ids[row, impls.index(impl)] = config_id
    ids = distributed.agree(ids)
    f_ref = None
    if plans[0][1].problem.f_star is None:
        refs = [float(r["f_ref"].iloc[0]) for r in selection.values() if r is not None and len(r)]
        f_ref = float(distributed.agree(np.float64(refs[0] if refs else np.nan)))
    todo = []
    for row, (k, c) in enumerate(plans):
        chosen = {impl: int(ids[row, j]) for j, impl in enumerate(impls) if ids[row, j] >= 0}
        if chosen:  # a cell without selection rows has nothing to report
            todo.append((k, c, chosen))
    if not todo:
        return

    def attempt(k: int, c: CellPlan, stage: str, work: Callable):
        """work(), or None where it failed (recorded with `fail` as the report part's failure)."""
        try:
            return work()
        except Exception as e:
            if fail is None or not fails_its_cell(e):
                raise
            fail({**failure(k, c, stage, e), "part": report_index(n_cells, k), "phase": "report"}, e)
            return None

    def compiled(c: CellPlan, chosen: dict[str, int]) -> tuple[cells.CellRun, list[int]]:
        grid_ids = sorted(set(chosen.values()))
        configs = suite.configs_for(suite.spec_for(c.optimizer))
        impl = "both" if len(chosen) == 2 else next(iter(chosen))
        sweep = suite.sweep_spec(c.problem, c.optimizer, impl, c.batch_size, phase="report",
                                 configs=[configs[i] for i in grid_ids])
        return cells.prepare(sweep), grid_ids

    def prepare(item) -> tuple[cells.CellRun, list[int]] | None:
        k, c, chosen = item
        return attempt(k, c, "compile", lambda: compiled(c, chosen))

    label = cells.problem_label(todo[0][1].problem)
    say(f"{label}: compiling {len(todo)} cells' chosen configurations", False)
    start = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=COMPILE_THREADS)
    try:
        prepared = list(pool.map(prepare, todo))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    phases["compile"] += time.perf_counter() - start
    for (k, c, chosen), ready in zip(todo, prepared):
        name = c.optimizer if c.batch_size is None else f"{c.optimizer} (batch {c.batch_size})"
        say(f"{label} / {name}: held-out seeds", False)
        start = time.perf_counter()

        def run(cell: cells.CellRun) -> cells.CellRun:
            cells.run_cell(cell, repeats=suite.repeats, settle_f_ref=False)
            if f_ref is not None:
                cell.execute(f_ref)  # the selection phase's reference
            return cell

        done = ready is not None and attempt(k, c, "run", lambda: run(ready[0])) is not None
        phases["run"] += time.perf_counter() - start
        if not done:
            say(f"{label} / {name}: held-out seeds", True)
            continue
        cell, grid_ids = ready
        start = time.perf_counter()
        tables = dict(zip(("runs", "curves", "paths"), cells.tables(cell, f_ref=f_ref, phase="report")))
        tables = report_tables(tables, grid_ids, chosen)
        tables = storage.compact({**tables, "costs": pd.DataFrame()}, all_paths=suite.record_path == "all")
        phases["tables"] += time.perf_counter() - start
        start = time.perf_counter()
        store(report_index(n_cells, k), tables)  # the step's compiled cost is the selection part's
        phases["write"] += time.perf_counter() - start
        say(f"{label} / {name}: held-out seeds", True)


def run_suite(suite: Suite, out_root: str | Path = "results/runs", show_progress: bool = True,
              console=None, resume: str | Path | None = None) -> Path | None:
    """Runs every cell of a validated suite and writes its results folder: its path
    (None in a distributed run's other processes, which write nothing).

    The run stage only: the report is drawn from the folder afterwards
    (`bench.reporting.report.write`, which `gdbench run` calls unless --no-report).

    With `resume` (an unfinished run's folder, see `bench.runs.resume`), the cells
    stored there are skipped and the folder is finished with the others;
    ConfigError if it ran another suite or on other code or devices.
    An interruption (KeyboardInterrupt) keeps the finished cells and is
    raised again, with the folder as its `results_path` attribute.

    A failed cell (see the module's docstring) is in meta.json's `failures`,
    and the folder's status is COMPLETE_WITH_FAILURES; ConfigError, before
    anything is written, when every cell fails its trace check.
    """
    from rich.console import Console

    from bench.runs import resume as resuming

    console = console or Console(stderr=True)
    devices = cells.devices_for(suite.device)
    todo_cells = list(enumerate(plan(suite)))
    untraced = _preflight(suite, todo_cells, devices)
    started = results.utc_now()
    meta = _metadata(suite, devices, started)
    n_parts = len(todo_cells) * (1 if suite.tuning is None else 2)  # [tuning]: report phases after the cells

    def open_folder() -> results.RunFolder:
        if resume is None:
            return results.RunFolder(Path(out_root), f"{results.stamp(started)}-{suite.name}", meta)
        stored = resuming.recorded(resume)
        resuming.check_suite(stored, suite, resume)
        resuming.check_same(stored, meta, resume)
        return results.RunFolder.reopen(Path(resume), {"command": meta["command"], "started_utc": meta["started_utc"]})

    # process 0 writes the folder; the others only run their lanes (and learn which cells it holds)
    folder = distributed.on_writer(open_folder, _Follower())
    stored_cells = _stored_parts(folder, todo_cells, untraced, n_parts)
    for k, record in untraced.items():
        if k not in stored_cells:
            folder.fail(k, record)

    def fail(record: dict, error: Exception) -> None:
        folder.fail(record.get("part", record["cell"]), record)
        if not optimizers.custom.is_users(optimizers.resolve(record["optimizer"])):  # a bug: its traceback helps
            console.print("".join(traceback.format_exception(error)).rstrip(), markup=False, highlight=False,
                          style="red")
        console.print(f"cell failed: {summary.failure_line(record)}", markup=False, highlight=False, style="red",
                      soft_wrap=True)
    progress = _progress(console, show_progress)
    status = "complete"
    phases = {"compile": 0.0, "run": 0.0, "tables": 0.0, "write": 0.0}
    compile_cache = cache.Counter.start()
    wall = time.perf_counter()
    try:
        with progress:
            task = progress.add_task("starting", total=n_parts, completed=len(stored_cells))

            lines = show_progress and not console.is_terminal  # a log, not a bar: one line per step

            def say(text: str, advance: bool) -> None:
                progress.update(task, description=text, advance=1 if advance else 0)
                if lines and not advance:
                    console.print(text, markup=False, highlight=False)

            for i in range(len(suite.problems)):
                mine = [(k, c) for k, c in todo_cells if c.problem_index == i]
                todo = [(k, c) for k, c in mine if k not in stored_cells and k not in untraced]
                selection: dict[int, pd.DataFrame] = {}  # [tuning]: the selection rows stored now
                if todo:
                    f_ref_stored = float(distributed.agree(cells.settled_f_ref(
                        folder.read_part(k)["f_ref"].iloc[0] for k, c in mine
                        if k in stored_cells and c.problem.f_star is None)))
                    add = folder.add if suite.tuning is None else _keeping(folder.add, selection)
                    _run_problem(suite, todo, say, phases, add, None if np.isnan(f_ref_stored) else f_ref_stored,
                                 fail)
                reports = [(k, c) for k, c in mine
                           if suite.tuning is not None and report_index(len(todo_cells), k) not in stored_cells]
                if reports:  # a cell without selection rows (failed) has no report phase
                    rows = {k: selection[k] if k in selection else _stored_rows(folder, k) for k, _ in mine}
                    _report_problem(suite, reports, len(todo_cells), rows, say, phases, folder.add, fail)
    except KeyboardInterrupt as e:
        status = "interrupted"
        if isinstance(folder, _Follower):
            raise
        e.results_path, runs = _finish(folder, suite, status, wall, len(todo_cells), phases, compile_cache)
        summary.show(runs, suite, status, console, folder.failures())
        console.print(f"results: {e.results_path}")
        raise  # no report: an interrupted run ends at once (`gdbench report` writes it later)
    except Exception:
        if isinstance(folder, _Follower):
            raise
        # Keep what finished, say the run failed, and let the error surface.
        _finish(folder, suite, "failed", wall, len(todo_cells), phases, compile_cache)
        raise
    if isinstance(folder, _Follower):
        return None
    failed = folder.failures()
    if failed:
        status = COMPLETE_WITH_FAILURES
    path, runs = _finish(folder, suite, status, wall, len(todo_cells), phases, compile_cache)
    summary.show(runs, suite, status, console, failed)
    console.print(f"results: {path}")
    return path


def _preflight(suite: Suite, todo_cells: list[tuple[int, CellPlan]], devices: list) -> dict[int, dict]:
    """Checks before anything is written: a problem too large for even one lane (ConfigError), and each
    cell's optimizer traced once. Returns the failure records of the cells whose (user's) optimizer
    cannot be traced; raises the error if no cell could run (one line, nothing written)."""
    memory.check_one_lane_fits([(cells.problem_label(c.problem, c.batch_size), c.problem) for _, c in todo_cells],
                               suite.dtype, suite.max_memory, distributed.local(devices))
    untraced: dict[int, dict] = {}
    for k, c in todo_cells:
        spec = suite.spec_for(c.optimizer)
        try:
            protocol.check_traces(c.problem, spec, suite.configs_for(spec)[0], suite.dtype)
        except protocol.OptimizerFailed as e:
            if len(untraced) == len(todo_cells) - 1:
                raise
            untraced[k] = failure(k, c, "trace", e)
    return untraced


def _metadata(suite: Suite, devices: list, started) -> dict:
    """meta.json's record of the run: what makes it reproducible (suite, command, versions, code, devices)."""
    meta = {
        "suite": suite.to_dict(),
        "command": results.command_line(),
        "versions": results.versions(),
        "git": results.git_state(),
        "device": results.device_info(devices),
        "dtype": suite.dtype,
        "started_utc": started.isoformat(),
    }
    if distributed.process_count() > 1:  # every process and its devices (bench/core/distributed.py)
        meta["distributed"] = distributed.describe()
    # whether the configurations were chosen on the seeds they are reported on (docs/METRICS.md)
    meta["tuning"] = {"select_seeds": None if suite.tuning is None else list(suite.select_seeds),
                      "shared_seeds": suite.tuning is None}
    return meta


def _stored_parts(folder, todo_cells: list[tuple[int, CellPlan]], untraced: dict[int, dict],
                  n_parts: int) -> set[int]:
    """The parts a (resumed) folder holds that need not run again, as every process agrees on them.

    A cell that failed in an earlier session is tried again; where its problem has no f*, it may
    reach a lower loss than the problem's other cells, whose targets are relative to the best of
    them: those run again with it (they are deterministic), all settled together.
    """
    stored = {int(k) for k in np.flatnonzero(distributed.agree(np.isin(np.arange(n_parts), sorted(folder.done()))))}
    retried = {int(k) for k in np.flatnonzero(distributed.agree(np.isin(
        np.arange(len(todo_cells)), [r["cell"] for r in folder.failures()])))} - untraced.keys() - stored
    for k, c in todo_cells:
        if k in retried and c.problem.f_star is None:
            again = {j for j, d in todo_cells if d.problem_index == c.problem_index}
            stored -= again | {report_index(len(todo_cells), j) for j in again}
    return stored


def _progress(console, show_progress: bool):
    """The progress bar (rich), drawn on `console` unless `show_progress` is False."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("cells"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, disable=not show_progress,
        refresh_per_second=4,  # drawing it competes with compilation for the cores
    )


class _Follower:
    """The results folder as a process other than 0 sees it: it writes nothing (process 0 does)."""

    def done(self) -> set[int]:
        return set()  # process 0's answer comes with `distributed.agree`

    def read_part(self, index: int) -> pd.DataFrame:
        return pd.DataFrame({"f_ref": [np.nan]})  # likewise

    def add(self, index: int, tables: dict) -> None:
        pass

    def fail(self, index: int, record: dict) -> None:
        pass

    def failures(self) -> list[dict]:
        return []


def _finish(folder: results.RunFolder, suite: Suite, status: str, wall: float,
            n_cells: int, phases: dict[str, float], compile_cache: cache.Counter) -> tuple[Path, pd.DataFrame]:
    tables = folder.merged()
    failed = folder.failures()
    text = summary.text(tables["runs"], suite, status, failed)
    path = folder.finish(status, text, {
        "ended_utc": results.utc_now().isoformat(),
        "wall_s": time.perf_counter() - wall,  # of this session, when resumed
        "phases_s": {k: round(v, 3) for k, v in phases.items()},  # wall seconds per phase
        "cells": n_cells,
        "compile_cache": compile_cache.stop(),  # folder, hits, misses (bench/core/cache.py)
        "failures": failed,  # the failed cells, one record each (`failure`)
    }, tables)
    return path, tables["runs"]
