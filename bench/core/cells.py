"""Cells: one problem x one optimizer, a grid x seeds, as a results table.

A sweep is one *cell* of a suite: (problem instance, optimizer) run by our
implementation, by optax's, or by both. Each implementation's whole grid runs
as one compiled program (`bench.core.engine`); hyperparameters that cannot be traced
(booleans, strings, integers) split the grid into one program per value.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import numbers
from typing import Any, Iterable, Mapping, Sequence

import jax
import numpy as np
import pandas as pd

import optimizers
import problems
from bench.core import chunking, compiled, engine, lr_schedule, minibatch, protocol, schedule, sweepspec
from bench.core.sweepspec import (  # noqa: F401 - a sweep's options and inputs, as cells names them
    DTYPES, IMPLS, MAX_ROUNDS, MINIBATCH_RECORD_EVERY, PRIMARY_TARGET, TARGETS, SweepSpec, check_batch_size, devices_for,
    precision, resolve_optimizer, resolve_problem,
)
from bench.errors import ConfigError

#: Up to this many parameters a step's loss comes with its gradient (shared forward
#: pass); above it, right after the update (see engine.ProgramSpec).
LOSS_FIRST_MAX_DIM = 100_000
#: From this many lane-steps per program (lanes x steps) the engine does its
#: block bookkeeping in one pass (engine.ProgramSpec.one_pass): that costs ~0.1 s more
#: compilation per program and saves up to ~20% of the run time where the step
#: loops are compiled whole (small problems, many lanes); below it compilation
#: dominates (results/PERFORMANCE.md).
ONE_PASS_MIN_LANE_STEPS = 1_000_000
#: Timing: a program shorter than this gets more rounds than `repeats`, until
#: it has run this long in all (at most MAX_ROUNDS rounds).
MIN_TIME_S = 0.025
#: seeds the order in which a round runs a cell's programs (`CellRun.time`)
ROUND_ORDER_SEED = 0
#: Warm-up before timing, untimed: at least one run of each program (whose
#: outputs are the results), and more until it has run WARMUP_S in all. A
#: program's first runs are slower than its steady state (its output buffers
#: and threads are new): measured up to 13x the median for the first run, up
#: to ~3x for the next few of a few-millisecond program (docs/METRICS.md).
WARMUP_S = 0.025
#: Timing: when every program of a cell ran this long the first time, those
#: first runs (which give the results) are its timed runs and nothing runs again
#: (`CellRun.time`): a round costs a whole run, and each further one would add
#: that cost again for a median a run this long hardly needs.
LONG_RUN_S = 1.0


def target_column(target: float, kind: str = "relative") -> str:
    """`steps_to_1e-6` for the relative target 1e-6; `steps_to_df_1e+2` for the absolute 100
    (`sweepspec.target_column`)."""
    return sweepspec.target_column(target, kind)


def evals_column(target: float, kind: str = "relative") -> str:
    """`evals_to_1e-6` for 1e-6 (`evals_to_df_...` absolute): the optimizer's evaluations up to its first hit."""
    return "evals" + target_column(target, kind)[len("steps"):]


# --------------------------------------------------------------------------- grids


def expand_grid(spec: optimizers.OptimizerSpec, grid: Mapping[str, Sequence[Any]] | None) -> list[dict[str, Any]]:
    """The cartesian product of the grid, in order; each entry a hyperparameter.

    A list of configurations ({hyperparameter: value}, all naming the same
    ones, e.g. `bench.core.search.configs`) is taken as it is.
    """
    if isinstance(grid, (list, tuple)):
        return _config_list(spec, grid)
    if grid is not None and not isinstance(grid, Mapping):
        raise ConfigError("grid", f"must be {{hyperparameter: [values]}} or a list of configurations, got {grid!r}")
    grid = dict(grid or {})
    check_hyperparameters(spec, grid)
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise ConfigError(f"grid.{name}", f"must be a list of values, got {values!r}")
        if len(list(values)) == 0:
            raise ConfigError(f"grid.{name}", "must list at least one value")
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(list(grid[n]) for n in names))]


def check_hyperparameters(spec: optimizers.OptimizerSpec, names: Iterable[str], where=lambda name: f"grid.{name}"):
    """ConfigError at `where(name)` for the first name that is not a hyperparameter of `spec`, with a close match."""
    for name in names:
        if name not in spec.defaults:
            close = difflib.get_close_matches(str(name), list(spec.defaults), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(where(name), f"not a hyperparameter of {spec.name}{hint} "
                                           f"(allowed: {', '.join(spec.defaults)})")


def _config_list(spec: optimizers.OptimizerSpec, configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if not configs or not all(isinstance(c, Mapping) for c in configs):
        raise ConfigError("grid", "a list of configurations must hold at least one {hyperparameter: value}")
    names = set(configs[0])
    for c in configs:
        if set(c) != names:
            raise ConfigError("grid", f"every configuration must name the same hyperparameters, got {sorted(c)} "
                                      f"and {sorted(names)}")
    expand_grid(spec, {n: [c[n] for c in configs] for n in configs[0]})  # the names' checks
    return [dict(c) for c in configs]


def traced_names(grid_configs: list[Mapping[str, Any]]) -> list[str]:
    """The swept hyperparameters that become traced lanes of one program: floats.

    Everything else stays a Python constant of the program, as a user would
    write it: integers, booleans and strings (one program per value), and every
    hyperparameter left at its default (XLA folds it, and the arithmetic is
    exactly that of a hand-written loop).
    """
    names = list(grid_configs[0]) if grid_configs else []
    return [n for n in names
            if all(isinstance(c[n], numbers.Real) and not isinstance(c[n], (bool, numbers.Integral))
                   for c in grid_configs)]


def _static_key(config: Mapping[str, Any], traced: list[str]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in config.items() if k not in traced))


# --------------------------------------------------------------------------- cells


@dataclasses.dataclass
class Group:
    """One program: the configurations sharing their static hyperparameters."""

    impl: str
    configs: list[dict[str, Any]]  # full hyperparameters (defaults merged) per config
    config_ids: list[int]
    program: compiled.Runnable  # a Program, or a ChunkedProgram over its lanes in chunks
    times: list[float] = dataclasses.field(default_factory=list)
    outputs: dict[str, np.ndarray] | None = None


@dataclasses.dataclass
class CellRun:
    """A prepared cell: compiled programs for each implementation, ready to run.

    `sweep` is its validated `SweepSpec`; the cell reads the sweep's options
    as its own attributes (`cell.steps` is `cell.sweep.steps`, `cell.spec` the
    optimizer's `OptimizerSpec`).
    """

    sweep: SweepSpec  # validated: problem a Problem, optimizer an OptimizerSpec, batch_size one size
    swept: list[str]
    schedule: schedule.Schedule
    device_kind: str
    groups: list[Group]
    f_ref: float | None  # None: relative to the best loss reached (problem without f*)
    # the problem's start does not depend on the seed and the cell is deterministic (full batch): of the
    # seeds asked only the first ran (`sweep.seeds` is then that one; `seeds_asked` all of them)
    fixed_start: bool = False
    seeds_asked: tuple[int, ...] = ()

    def __getattr__(self, name: str):
        if name != "sweep" and name in sweepspec.options():
            return getattr(self.sweep, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def spec(self) -> optimizers.OptimizerSpec:
        return self.sweep.optimizer

    def execute(self, f_ref: float | None = None) -> None:
        """Runs every program once more (results only), e.g. with a new f_ref."""
        with precision(self.dtype):
            for g in self.groups:
                g.outputs = g.program(f_ref)

    def best_reached(self) -> float:
        """The lowest finite loss any lane of this cell reached (NaN if none): `settled_f_ref` of its lanes."""
        return settled_f_ref(np.concatenate([np.ravel(g.outputs["best_loss"]) for g in self.groups]))

    def time(self, repeats: int, keep_outputs: bool = False, min_time: float = MIN_TIME_S,
             warmup: float = WARMUP_S, long_run: float = LONG_RUN_S) -> None:
        """Runs and times the programs: their first runs, then warm-up and timed rounds (A B, B A, ...).

        Each round runs every program once, in an order drawn afresh per
        round (a fixed pseudo-random sequence): with a fixed order, a
        disturbance that recurs in step with the rounds (another process's
        time slices, a frequency change) would fall on the same program every
        time and bias their ratio; in random order it falls on each alike.

        Long programs: when every program's first run took at least
        `long_run` seconds, those first runs are the timed runs, one each, and
        nothing runs again. A first run is slower than the steady state by a
        roughly fixed cost (fresh output buffers and threads: measured up to
        ~0.1 s), which is within the noise of a run that long, while each
        further round would cost a whole run again (results/PERFORMANCE.md).

        Otherwise the first runs are untimed warm-up, with more untimed rounds
        until each program has run `warmup` seconds, so that what is timed is
        the compiled program's steady state; then at least `repeats` timed
        rounds, and more (up to MAX_ROUNDS) until each program has run for
        `min_time` seconds in all, so that a program of a millisecond gets a
        median of many runs, as timeit does. Every timed run's seconds are kept
        (`Group.times`, in run order); their median is the execution time.

        With `keep_outputs`, each program's first run's outputs become the
        results (copied from the device after all the timing), saving a run of
        its own. Every other run's path buffer serves the program's next run
        (`compiled.Program.recycle`); the last is freed at the end.
        """
        kept, first = {}, [0.0] * len(self.groups)
        with precision(self.dtype):
            order = np.random.default_rng(ROUND_ORDER_SEED)
            for i in order.permutation(len(self.groups)):
                first[i], out = self.groups[i].program.launch()
                if keep_outputs:
                    kept[i] = out
                else:
                    self.groups[i].program.recycle(out)
            if min(first) >= long_run:
                for g, seconds in zip(self.groups, first):
                    g.times.append(seconds)
            else:
                self._rounds(order, list(first), False, 0, warmup)  # the first runs were the first round
                self._rounds(np.random.default_rng(ROUND_ORDER_SEED), [0.0] * len(self.groups), True, repeats,
                             min_time)
            for g in self.groups:
                g.program.release()
            for i, out in kept.items():
                self.groups[i].outputs = self.groups[i].program.fetch(out)

    def _rounds(self, order: np.random.Generator, spent: list[float], timed: bool, least: int,
                enough: float) -> None:
        """Rounds of every program in a drawn order: at least `least`, and more (up to MAX_ROUNDS)
        until each has run `enough` seconds in all (counting `spent`); timed ones kept in `Group.times`."""
        r = 0
        while r < least or (r < MAX_ROUNDS and min(spent) < enough):
            for i in order.permutation(len(self.groups)):
                g = self.groups[i]
                seconds, out = g.program.launch()
                spent[i] += seconds
                if timed:
                    g.times.append(seconds)
                g.program.recycle(out)  # its buffers serve the next run
            r += 1


def prepare(sweep: SweepSpec) -> CellRun:
    """Validates one cell's sweep (`SweepSpec.validated`) and compiles its programs (nothing run yet)."""
    sweep = sweep.validated()
    p, spec, seeds, batch_size = sweep.problem, sweep.optimizer, list(sweep.seeds), sweep.batch_size
    impls = IMPLS if sweep.impl == "both" else (sweep.impl,)
    sched = schedule.make(sweep.steps, sweep.record_every)
    devices = devices_for(sweep.device)

    configs = expand_grid(spec, sweep.grid)
    swept = list(configs[0])
    extra = {}
    if "f_min" in spec.needs and p.f_star is not None:
        extra["f_min"] = float(p.f_star)
    full = [{**spec.defaults, **extra, **c} for c in configs]
    with precision(sweep.dtype):
        np_dtype = np.dtype(sweep.dtype)
        for c in full:  # concrete values: out-of-range ones fail here, before compiling
            try:
                with protocol.guarded(spec, "built"):
                    spec.make(**c)
            except ValueError as e:
                raise ConfigError(f"grid ({spec.name})", str(e)) from None
        traced = [n for n in traced_names(configs) if not (lr_schedule.is_scheduled(spec) and n in lr_schedule.STATIC)]
        by_static: dict[tuple, list[int]] = {}
        for i, c in enumerate(full):
            by_static.setdefault(_static_key(c, traced), []).append(i)
        f_ref = p.f_star
        groups = []
        keys = [jax.random.PRNGKey(s) for s in seeds]
        mb = None
        if batch_size is not None:
            mb = minibatch.Minibatch(p.fn, _sampler(p, batch_size), eval_every=sweep.record_every)
        starts = [jax.tree.map(np.asarray, p.init(k, np_dtype)) for k in keys]
        fixed = fixed_start(starts, mb)
        if fixed:  # every seed would run the same trajectory: one runs, and the tables say so
            seeds, keys, starts = seeds[:1], keys[:1], starts[:1]
        for ids in by_static.values():
            static = {k: v for k, v in full[ids[0]].items() if k not in traced}
            # lanes: configuration-major, seed-minor
            hp = {n: np.repeat(np.asarray([full[i][n] for i in ids], np_dtype), len(seeds)) for n in traced}
            x0 = jax.tree.map(lambda *xs: np.stack(xs * len(ids), axis=-1), *starts)
            needs, eval_params = protocol.of_cell(spec, impls, full[ids[0]], starts[0])
            # Ours and optax's run in one compiled program (everything but the
            # optimizer step is shared, and compiling is about half a quick
            # suite's time), each call running one of them: timed apart, interleaved.
            pspec = engine.ProgramSpec(
                loss_fn=_full_batch(p.fn),
                make_txs=tuple(_tx_maker(spec.make if i == "gdbench" else spec.baseline, static) for i in impls),
                needs=needs,
                schedule=sched,
                record_path=sweep.record_path,
                elementwise=spec.elementwise,
                loss_first=p.dim <= LOSS_FIRST_MAX_DIM or mb is not None,
                one_pass=len(ids) * len(seeds) * sweep.steps >= ONE_PASS_MIN_LANE_STEPS,
                minibatch=mb,
                eval_params=eval_params,
                evals=_counters(protocol.counters(spec, impls, full[ids[0]], starts[0]), static),
                absolute_targets=sweep.target_kind == "absolute",
            )
            protocol.check_layout(spec, pspec, starts[0], hp, p.data)  # a plain factory marked elementwise
            with protocol.guarded(spec):
                program = chunking.compile_program(
                    pspec, x0, hp, p.data, np.asarray(sweep.targets), 0.0 if f_ref is None else f_ref, devices,
                    np_dtype, seeds=np.tile(np.asarray(seeds), len(ids)), max_memory=sweep.max_memory,
                    label=problem_label(p, batch_size),
                )
            for k, i in enumerate(impls):
                groups.append(Group(i, [full[j] for j in ids], ids, program.running(k)))
    asked = tuple(sweep.seeds)
    if fixed:
        sweep = dataclasses.replace(sweep, seeds=tuple(seeds))
    return CellRun(sweep, swept, sched, devices[0].device_kind, groups, f_ref, fixed, asked)


def fixed_start(starts: list, mb: minibatch.Minibatch | None) -> bool:
    """Whether several seeds would all run one trajectory: their starting points are equal, bit for bit
    (the problem's `init` ignores the key, e.g. Rosenbrock without `perturb`, Powell's singular
    function), and nothing else depends on the seed (full batch: no minibatches drawn from it).

    The program is deterministic, so such seeds' trajectories are copies: a median over them and its
    interval would claim a spread that was never sampled (docs/METRICS.md).
    """
    if mb is not None or len(starts) < 2:
        return False
    first = jax.tree.leaves(starts[0])
    return all(jax.tree.structure(s) == jax.tree.structure(starts[0])
               and all(np.array_equal(a, b) for a, b in zip(first, jax.tree.leaves(s))) for s in starts[1:])


def seeds_run(p: problems.Problem, seeds: Sequence[int], batch_size: int | None, dtype: str) -> tuple[int, ...]:
    """The seeds a cell of `p` runs: `seeds`, or the first alone where they would all run one
    trajectory (`fixed_start`), as `prepare` decides it (for a plan or an estimate, before compiling)."""
    seeds = tuple(seeds)
    if batch_size is not None or len(seeds) < 2:
        return seeds
    with precision(dtype):
        starts = [jax.tree.map(np.asarray, p.init(jax.random.PRNGKey(s), np.dtype(dtype))) for s in seeds]
    return seeds[:1] if fixed_start(starts, None) else seeds


def _sampler(p: problems.Problem, batch_size: int):
    def sample(key, data):
        return p.sample_batch_fn(key, batch_size, data)

    return sample


def _tx_maker(factory, static: Mapping[str, Any]):
    def make_tx(hp):
        return factory(**static, **hp)

    return make_tx


def _counters(counters, static: Mapping[str, Any]):
    """Each evaluation counter given the cell's static hyperparameters with the lane's traced ones."""
    if counters is None:
        return None
    bind = lambda f: None if f is None else (lambda state, hp: f(state, {**static, **hp}))  # noqa: E731
    return tuple(bind(f) for f in counters)


def _full_batch(fn):
    def loss(x, data):
        return fn(x, data, None)

    return loss


def settled_f_ref(reached) -> float:
    """The loss relative targets are measured from where f* is unknown: the lowest finite loss
    reached by any of the runs that share the reference (a cell's lanes, a problem's cells or
    batch sizes, with those a resumed run stored); NaN where none reached a finite one.
    The one rule: sweeps, suites and resumed suites settle f_ref with it (a report phase takes
    its selection phase's)."""
    values = np.ravel(np.asarray(reached if isinstance(reached, np.ndarray) else list(reached), dtype=float))
    finite = values[np.isfinite(values)]
    return float(finite.min()) if finite.size else float("nan")


def run_cell(cell: CellRun, repeats: int = 5, settle_f_ref: bool = True) -> CellRun:
    """Runs a prepared cell: a warm-up, whose first run gives the results, then
    at least `repeats` timed runs interleaved (see `CellRun.time`).

    Without a known optimum the targets are relative to the best loss reached
    here, so the programs run once more with it, unless `settle_f_ref` is
    False (the runner does it once for all the cells of a problem).
    """
    if isinstance(repeats, bool) or not isinstance(repeats, numbers.Integral) or repeats < 1:
        raise ConfigError("repeats", f"must be an integer >= 1, got {repeats!r}")
    cell.time(repeats, keep_outputs=True)
    if cell.f_ref is None and settle_f_ref:
        cell.execute(cell.best_reached())
    return cell


# --------------------------------------------------------------------------- tables


RATIO_QUANTILE = 25  # percent; see `time_ratio`


def time_ratio(groups: list[Group]) -> float:
    """Ours over optax's execution time in a cell, from their interleaved rounds.

    Each round's time per implementation is the sum over its programs; the
    ratio compares a low quantile (RATIO_QUANTILE) of the two. Timing noise on a
    shared machine mostly adds time, so a low quantile is steadier than the
    median (a median of a few 20 ms runs moved by 20% here), and unlike the
    minimum one unusually fast run cannot move it (a quick run's table once
    read 1.81x from minima for two programs of the same arithmetic). NaN
    without both implementations.
    """
    per_round = {impl: [g.times for g in groups if g.impl == impl and g.times] for impl in IMPLS}
    if not per_round["gdbench"] or not per_round["optax"]:
        return float("nan")
    ours, twin = (np.percentile(np.sum(per_round[impl], axis=0), RATIO_QUANTILE) for impl in IMPLS)
    return float(ours / twin)


def tables(cell: CellRun, f_ref: float | None = None, run_id_start: int = 0,
           phase: str = "select") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(runs, curves, paths) DataFrames of an executed cell; one runs row per lane.

    `phase` fills the runs' `phase` column: "select" (a grid's configurations, the
    only phase of a sweep or of a suite without [tuning]) or "report" (a chosen
    configuration run again on held-out seeds: bench/runs/runner.py).
    """
    f_ref_value = cell.f_ref if cell.f_ref is not None else (f_ref if f_ref is not None else cell.best_reached())
    f_ref_source = "f_star" if cell.f_ref is not None else "best_reached"
    ratio = time_ratio(cell.groups)
    instance = problem_label(cell.problem, cell.batch_size)
    points = cell.schedule.points()
    rows, curves, paths = [], [], []
    run_id = run_id_start
    n_seeds = len(cell.seeds)
    for g in cell.groups:
        out = g.outputs
        exec_s = float(np.median(g.times)) if g.times else float("nan")
        n_lanes = out["final_loss"].shape[-1]
        program_step = exec_s / cell.steps
        lane_step = program_step / n_lanes  # one trajectory's share of the program's step
        program_step_times = [t / cell.steps for t in g.times]
        for lane in range(n_lanes):
            c, s = divmod(lane, n_seeds)
            config = g.configs[c]
            hits = out["hits"][:, lane]
            first = {t: (float(h) if h >= 0 else float("inf")) for t, h in zip(cell.targets, hits)}
            first_evals = {t: (float(e) if e >= 0 else float("inf"))
                           for t, e in zip(cell.targets, out["hit_evals"][:, lane])}
            f0 = float(out["losses"][0, lane])
            final = float(out["final_loss"][lane])
            gap0 = f0 - f_ref_value
            row = dict(
                run_id=run_id,
                problem=cell.problem.name,
                instance=instance,
                dim=cell.problem.dim,
                batch_size=cell.batch_size or 0,
                optimizer=cell.spec.name,
                impl=g.impl,
                config_id=g.config_ids[c],
                seed=cell.seeds[s],
                phase=phase,
                **{name: config[name] for name in cell.swept},
                hyperparams=json.dumps(_jsonable(config), sort_keys=True),
                schedule=lr_schedule.describe(cell.sweep.schedule, config, lr_schedule.exempt_reason(cell.spec)),  # cell.schedule: the stored steps'
                steps=cell.steps,
                initial_loss=f0,
                final_loss=final,
                best_loss=float(out["best_loss"][lane]),
                final_subopt=(final - f_ref_value) / gap0 if gap0 > 0 else float("nan"),
                final_df=final - cell.f_ref if cell.f_ref is not None else float("nan"),  # Delta f, f* known
                grad_norm=float(out["grad_norm"][lane]),
                f_ref=f_ref_value,
                f_ref_source=f_ref_source,
                target=cell.target,
                target_kind=cell.target_kind,
                steps_to_target=first[cell.target],
                lane_time_to_target_s=first[cell.target] * lane_step,
                program_time_to_target_s=first[cell.target] * program_step,
                evals_to_target=first_evals[cell.target],
                evals=int(out["evals"][lane]),
                **{target_column(t, cell.target_kind): first[t] for t in cell.targets},
                **{evals_column(t, cell.target_kind): first_evals[t] for t in cell.targets},
                diverged=bool(out["diverged_step"][lane] >= 0),
                diverged_step=int(out["diverged_step"][lane]),
                lane_step_s=lane_step,
                program_step_s=program_step,
                program_step_times_s=list(program_step_times),
                exec_s=exec_s,
                compile_s=g.program.compile_s,
                time_ratio_vs_optax=ratio,
                lanes=n_lanes,
                chunks=getattr(g.program, "chunks", 1),
                layout=layout(cell.spec),
                fixed_start=cell.fixed_start,
                dtype=cell.dtype,
                device=cell.device_kind,
            )
            rows.append(row)
            curves.append(pd.DataFrame({"run_id": run_id, "step": points, "loss": out["losses"][:, lane]}))
            if "path" in out:
                leaves = [np.asarray(a)[..., lane].reshape(len(points), -1) for a in jax.tree.leaves(out["path"])]
                coords = np.concatenate(leaves, axis=1)
                paths.append(pd.DataFrame({
                    "run_id": run_id,
                    "step": np.repeat(points, coords.shape[1]),
                    "coord": np.tile(np.arange(coords.shape[1]), len(points)),
                    "value": coords.reshape(-1),
                }))
            run_id += 1
    runs = pd.DataFrame(rows)
    curves_df = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=["run_id", "step", "loss"])
    paths_df = (pd.concat(paths, ignore_index=True) if paths
                else pd.DataFrame({"run_id": pd.Series(dtype="int64"), "step": pd.Series(dtype="int64"),
                                   "coord": pd.Series(dtype="int64"), "value": pd.Series(dtype="float64")}))
    return runs, curves_df, paths_df


def layout(spec: optimizers.OptimizerSpec) -> str:
    """How a cell's lanes ran (the runs table's `layout`): "lanes_last" (an elementwise optimizer, all lanes
    at once, hyperparameters broadcast) or "vmap" (lane by lane); the layout is part of the measured time."""
    return "lanes_last" if spec.elementwise else "vmap"


def problem_label(p: problems.Problem, batch_size: int | None = None) -> str:
    """A readable instance name, e.g. 'rosenbrock(dim=10)', 'logistic(...) batch=32'.

    A minibatch size makes another instance: every analysis keeps it apart.
    """
    args = ", ".join(f"{k}={v}" for k, v in p.args.items())
    return f"{p.name}({args})" + ("" if batch_size is None else f" batch={batch_size}")


def _jsonable(config: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in config.items():
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        elif isinstance(v, numbers.Real):
            out[k] = float(v)
        else:
            out[k] = repr(v)
    return out


# --------------------------------------------------------------------------- API


@dataclasses.dataclass(frozen=True)
class SweepResult:
    runs: pd.DataFrame
    curves: pd.DataFrame
    paths: pd.DataFrame


def run_sweep(sweep: SweepSpec, repeats: int | None = None) -> SweepResult:
    """Runs a `SweepSpec` as `sweep` does, returning the runs, curves and paths tables together.

    `repeats` (default: the spec's) is the number of timed executions.
    """
    if repeats is not None:
        sweep = dataclasses.replace(sweep, repeats=repeats)
    sizes = sweepspec.check("batch_size", sweep.batch_size)
    p = resolve_problem(sweep.problem, sweep.problem_args)
    prepared = [prepare(dataclasses.replace(sweep, problem=p, problem_args=None, batch_size=b)) for b in sizes]
    for cell in prepared:
        run_cell(cell, repeats=cell.repeats, settle_f_ref=len(prepared) == 1)
    f_ref = None
    if len(prepared) > 1 and p.f_star is None:  # one reference for every batch size: the same objective
        f_ref = settled_f_ref(cell.best_reached() for cell in prepared)
        for cell in prepared:
            cell.execute(f_ref)
    parts, run_id = [], 0
    for cell in prepared:
        parts.append(tables(cell, f_ref=f_ref, run_id_start=run_id))
        run_id += len(parts[-1][0])
    if len(parts) == 1:
        return SweepResult(*parts[0])
    return SweepResult(*(pd.concat([part[k] for part in parts], ignore_index=True) for k in range(3)))


def sweep(*args, **kwargs) -> pd.DataFrame:
    return run_sweep(SweepSpec(**sweep.__signature__.bind(*args, **kwargs).arguments)).runs


sweep.__signature__ = sweepspec.signature()
sweep.__doc__ = f"""Runs one cell's grid x seeds as one compiled program; one row per trajectory.

Args (the fields of `SweepSpec`):
{sweepspec.args_doc()}

Returns:
  The runs table (columns documented in results/README.md).
"""
