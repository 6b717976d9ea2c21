"""The `gdbench` command (also `python -m bench`).

    gdbench run [--suite quick|standard|full|ci|stochastic|bbob|modern | --config FILE] [overrides]
                [--out DIR] [--dry-run]
        overrides: --problems rosenbrock:dim=50,beale --optimizers adam,sgd --impl gdbench|optax|both
                   --grid learning_rate=1e-3,1e-2 --trials N --select-seeds 5,6 (held-out seeds), and a flag
                   for each sweep option a suite shares (bench/core/sweepspec.py): --steps N --seeds 3|0,1,2
                   --dtype float64
                   --device gpu --repeats N --targets 1e-2,1e-6 --target 1e-6 --record-every K
                   --record-path true|false|all --batch-size 16,full --max-memory 2GB
                   (a bad value is blamed on its flag)
    gdbench run --resume RUN_DIR
    gdbench run --distributed [--coordinator HOST:PORT --num-processes N --process-id I] [run flags]
                   (every process runs the suite, process 0 writes the results: docs/SCALING.md)
    gdbench list
    gdbench report RESULTS_DIR [--out DIR] [--formats png,svg,pdf,csv,tex]
    gdbench compare RUN_A RUN_B [--fail-above RATIO] [--on time|steps|both] [--impl gdbench|optax]
    gdbench compare A.json B.json [--fail-above RATIO]   (pytest-benchmark JSON: bench/tracking/benchjson.py)
    gdbench history [RUNS_DIR] [--out DIR]
    gdbench compare RUN_A RUN_B [--fail-above RATIO] [--alpha 0.01] [--on time|steps|both] [--impl gdbench|optax]
                   [--absolute-above RATIO]   (time without optax's twin: not gated unless given)
    gdbench baseline RUN [--out results/baseline]

Bad input gets one line on stderr naming the field and what is allowed, exit
code 2, and nothing written to results/. A results folder that is missing,
corrupt or of another schema version is bad input too, and so are two runs of
different suites. `compare` exits with 1 when a deterministic metric changed
beyond what the platforms allow, or a ratio B/A exceeds --fail-above (for time,
significantly at --alpha): a regression; 0 otherwise (bench/tracking/compare.py).

`run` stores each cell in the run's folder as soon as it finishes. Ctrl-C
(SIGINT) or SIGTERM stops it within a fraction of a second (a program being
compiled is waited for), keeps the finished cells, prints the command that
resumes it, and exits with 130 (143 for SIGTERM). `run --resume RUN_DIR` goes
on with an interrupted or killed run (`<name>.partial`): its recorded suite,
code version, libraries and devices must be this run's (else exit 2); the
cells it stored are skipped, and the folder ends as an uninterrupted run's
would, the same convergence columns included. `run --dry-run` validates
everything and prints the plan and an estimate of its run time (from earlier
runs of the same cells in --out's folder, else a cost model: bench/runs/estimate.py),
writing nothing (a cell whose optimizer cannot be traced is marked "would fail").

A cell that fails while it is traced, compiled or run (a user's optimizer
raising, an error of XLA) does not stop `run`: it is recorded in meta.json's
`failures` with its error in one line, the other cells run and are kept, the
summary ends with a line per failed cell, the folder's status is
"complete_with_failures", and `run` exits with 1; `run --resume RUN_DIR`
retries the failed cells (after the optimizer is fixed). A suite none of whose
cells can be traced is bad input (exit 2, nothing written).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
import threading
from pathlib import Path

from bench.core import xla

EXIT_REGRESSION = 1  # compare: a flagged change or a regression
EXIT_CELLS_FAILED = 1  # run: some cells failed, the others are kept (status "complete_with_failures")
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM
DEFAULT_OUT = "results/runs"


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (the finished cells kept), with its own exit code."""


def one_line(text: str) -> str:
    """`text` with its unprintable characters escaped (a key of the input may hold a line break)."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {one_line(message)}\n")


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _value(text: str):
    """A command-line value as TOML reads it (integer, float, boolean), else the string itself."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _problems(text: str) -> list:
    """`rosenbrock,quadratic:dim=100:condition_number=1e3`: names, each with optional `:key=value` arguments."""
    out = []
    for item in _names(text):
        name, *pairs = item.split(":")
        if not pairs:
            out.append(name)
            continue
        args = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise argparse.ArgumentTypeError(f"problem arguments are name:key=value[:key=value], got {item!r}")
            args[key] = _value(value)
        out.append((name, args))
    return out


def _grid_item(text: str) -> tuple[str, list]:
    name, sep, values = text.partition("=")
    if not sep or not name or not values:
        raise argparse.ArgumentTypeError(f"must be NAME=V1,V2,..., got {text!r}")
    return name, [_value(v) for v in _names(values)]


def _flag_type(from_text):
    """An option's `from_text` as an argparse type: its ValueError says why the text is bad."""
    def parse(text: str):
        try:
            return from_text(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = from_text.__name__
    return parse


def _flag_help(name: str) -> str:
    """A sweep option's help: its own, or its doc's first sentence."""
    from bench.core import sweepspec

    m = sweepspec.meta(name)
    return m.flag_help or m.doc.split(". ")[0].split("; ")[0].rstrip(".")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}")


def _formats(text: str) -> tuple[str, ...]:
    from bench.reporting import report

    names = _names(text)
    if not names or any(n not in report.FORMATS for n in names):
        raise argparse.ArgumentTypeError(f"must be one or more of {', '.join(report.FORMATS)}, "
                                         f"comma-separated, got {text!r}")
    return tuple(names)


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a ratio > 0, e.g. 1.10, got {text!r}")
    return value


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("gdbench")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"
def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a level in (0, 1), e.g. 0.01, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    from bench.core import sweepspec
    from bench.runs import suite as suites

    p = _Parser(prog="gdbench", description="Benchmark gradient-descent optimizers in JAX.")
    p.add_argument("--version", action="version", version=f"gdbench {_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run a benchmark suite (default: quick)",
                         epilog="exit codes: 0 every cell ran; 1 some cells failed (meta.json's failures; the "
                                "others are kept, --resume retries them); 2 bad input, nothing run; "
                                "130/143 interrupted (--resume goes on)")
    src = run.add_mutually_exclusive_group()
    known = ", ".join(n + " (default)" if n == "quick" else n for n in suites.builtin_names())
    src.add_argument("--suite", default=None, help=f"a built-in suite: {known}")
    src.add_argument("--config", default=None, help="a suite TOML file")
    run.add_argument("--problems", type=_problems,
                     help="comma-separated problem names (the suite's entries of them), each optionally with "
                          "arguments: rosenbrock:dim=50,quadratic:dim=100:condition_number=1e3")
    run.add_argument("--optimizers", type=_names, help="comma-separated optimizer names")
    for name in sweepspec.suite_options():  # the sweep options a suite shares: each overrides its key
        m = sweepspec.meta(name)
        run.add_argument(suites.flag(name), type=_flag_type(m.from_text) if m.from_text else None,
                         metavar=m.metavar, help=_flag_help(name))
    run.add_argument("--impl", choices=["gdbench", "optax", "both"],
                     help="whose implementation runs: ours, optax's twin, or both (the suite's impls)")
    run.add_argument("--grid", type=_grid_item, action="append", metavar="NAME=V1,V2,...",
                     help="sweep these values of a hyperparameter instead of the suite's grid for it "
                          "(repeatable), e.g. --grid learning_rate=1e-3,1e-2")
    run.add_argument("--trials", type=_int, default=None, metavar="N",
                     help="N quasi-random trials over each optimizer's search space instead of the suite's grid "
                          "(bench/core/search.py; --grid values are crossed with them)")
    run.add_argument("--select-seeds", type=_flag_type(sweepspec.seeds_text), default=None, metavar="N|S1,S2,...",
                     help="held-out seeds: choose each optimizer's configuration on these seeds (a list, or a count n: "
                          "the n smallest integers >= 0 not in --seeds), then report it on the suite's seeds "
                          "(the suite's [tuning] select_seeds; docs/METRICS.md)")
    run.add_argument("--out", default=None, help=f"folder for the results (default: {DEFAULT_OUT})")
    run.add_argument("--resume", default=None, metavar="RUN_DIR",
                     help="go on with an interrupted or killed run: skip its stored cells, run the others")
    run.add_argument("--dry-run", action="store_true", help="validate and print the plan; run and write nothing")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--no-report", action="store_true",
                     help="write the tables only, no report.html (a CI gate; `gdbench report` writes it later)")
    run.add_argument("--distributed", action="store_true",
                     help="one of several processes (JAX's distributed runtime: SLURM, Open MPI and cloud TPU "
                          "are detected); process 0 writes the results (docs/SCALING.md)")
    run.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                     help="process 0's address (with --num-processes and --process-id; implies --distributed)")
    run.add_argument("--num-processes", type=_int, default=None, help="how many processes run the suite")
    run.add_argument("--process-id", type=_int, default=None, help="this process's index, 0..N-1")
    sub.add_parser("list", help="list the registered optimizers, problems and suites")
    rep = sub.add_parser("report", help="write report.html and report.md of a results folder")
    rep.add_argument("results_dir", help="a results folder written by gdbench run")
    rep.add_argument("--out", default=None, help="folder for the report (default: the results folder)")
    rep.add_argument("--formats", type=_formats, default=None,
                     help="comma-separated: figure formats png (default), svg, pdf (report.html embeds png or "
                          "svg), and csv, tex: the summary table as summary.csv, summary.tex")
    cmp = sub.add_parser(
        "compare", help="compare two results folders side by side",
        epilog="exit codes: 0 no regression, 1 a flagged change of convergence or compiled cost, or a ratio B/A "
               "above --fail-above (time: also significant at --alpha, on the basis of optax's twin timed in the "
               "same process; a cell without it is not gated unless --absolute-above), 2 bad input",
    )
    cmp.add_argument("run_a", help="the reference results folder (A)")
    cmp.add_argument("run_b", help="the results folder compared with it (B)")
    cmp.add_argument("--fail-above", type=_threshold, default=None,
                     help="exit with code 1 when a ratio B/A exceeds this, e.g. 1.10 (time: and is significant)")
    cmp.add_argument("--alpha", type=_alpha, default=0.01,
                     help="significance level of the time test, Holm-corrected over the rows (default 0.01)")
    cmp.add_argument("--absolute-above", type=_threshold, default=None,
                     help="also gate the time of cells without optax's twin (absolute basis): a regression when "
                          "their ratio of medians B/A exceeds this; its false alarms are the back-to-back runs of "
                          "unchanged code that differ by more on your machine (docs/CI.md). Default: not gated")
    cmp.add_argument("--on", choices=["time", "steps", "both"], default="both",
                     help="which ratios --fail-above checks: time per step, steps to target, or both (default)")
    cmp.add_argument("--impl", choices=["gdbench", "optax"], default="gdbench", help="which implementation's rows")
    hist = sub.add_parser("history", help="every tracked metric over commits, with change points (history.html)")
    hist.add_argument("runs_dir", nargs="?", default="results/runs",
                      help="the folder of results folders (default: results/runs)")
    hist.add_argument("--out", default=None, help="folder for history.html and history.csv (default: RUNS_DIR)")
    base = sub.add_parser("baseline", help="write a run's deterministic metrics as a baseline folder")
    base.add_argument("run", help="a results folder written by gdbench run")
    base.add_argument("--out", default="results/baseline", help="the baseline folder (default: results/baseline)")
    return p


def _overrides() -> list[str]:
    """The run flags that override a suite key of the same name (--impl, --grid and --trials map onto
    impls, grid and search): problems, optimizers, and the suite's sweep options."""
    from bench.core import sweepspec

    return ["problems", "optimizers", *sweepspec.suite_options()]


def _load_suite(args):
    from bench.runs import resume
    from bench.runs import suite as suites

    overrides = _overrides()
    given = (args.config or args.suite or args.impl or args.grid or args.trials is not None
             or args.select_seeds is not None or any(getattr(args, k) is not None for k in overrides))
    if args.resume is not None:
        if args.out is not None:
            raise _bad("--out", "not with --resume (the run goes on in RUN_DIR)")
        if not given:  # the recorded suite (the overrides were applied when it was recorded)
            return resume.recorded_suite(resume.recorded(args.resume))
    flags = (args.impl or args.grid or args.trials is not None or args.select_seeds is not None
             or any(getattr(args, k) is not None for k in overrides))
    # A suite file the flags complete (a grid for a hyperparameter without default) is checked once they apply.
    s = suites.load(args.config, checked=not flags) if args.config else suites.builtin(args.suite or "quick")
    impls = {"both": ["gdbench", "optax"], None: None}.get(args.impl, [args.impl])
    grid = dict(args.grid) if args.grid else None  # these hyperparameters' values replace the suite's
    search = None
    if args.trials is not None:  # the trials replace the suite's grid; --grid values are crossed with them
        grid, search = dict(args.grid or {}), {**(s.search or {}), "trials": args.trials}
    tuning = None if args.select_seeds is None else {"select_seeds": args.select_seeds}
    return suites.override(s, **{k: getattr(args, k) for k in overrides}, impls=impls, grid=grid, search=search,
                           tuning=tuning)


def _bad(where: str, message: str):
    from bench.errors import ConfigError

    return ConfigError(where, message)


def _check_out(out: str) -> None:
    """ConfigError unless the results folder can be made (nothing is left here)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise _bad("--out", f"{out!r} exists and is not a directory")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise _bad("--out", f"{out!r} cannot be written ({existing} is not a writable directory)")
    try:  # permissions do not tell everything (root, /proc, a read-only mount): make a folder there and remove it
        os.rmdir(tempfile.mkdtemp(prefix=".gdbench-", dir=existing))
    except OSError as e:
        raise _bad("--out", f"{out!r} cannot be created ({existing}: {e.strerror or e})") from None


def _dry_run(suite, out: str) -> None:
    """Prints the cells the suite would run, after checking every configuration of each (a cell whose
    user's optimizer cannot be traced is marked: the run would record it as failed), and an estimate
    of the run time (bench/runs/estimate.py: earlier runs in `out`, else a cost model)."""
    from bench.core import cells, protocol
    from bench.runs import estimate, runner

    todo = runner.plan(suite)
    for c in todo:  # every configuration of every cell, as prepare checks them
        spec = suite.spec_for(c.optimizer)
        for config in suite.configs_for(spec):
            try:
                spec.make(**{**spec.defaults, **config})
            except ValueError as e:
                raise _bad(f"{suite.source}: grid ({spec.name})", str(e)) from None
    print(f"suite {suite.name} ({suite.source}): {len(suite.problems)} problems, {len(todo)} cells, "
          f"{suite.steps} steps, seeds {list(suite.seeds)}, dtype {suite.dtype}")
    held_out = suite.select_seeds
    if held_out is not None:
        print(f"  configurations chosen on seeds {list(held_out)}, the chosen one re-run on seeds {list(suite.seeds)}")
    for c in todo:
        spec = suite.spec_for(c.optimizer)
        n = len(suite.configs_for(spec)) * len(cells.seeds_run(c.problem, held_out or suite.seeds, c.batch_size,
                                                               suite.dtype))
        report = "" if held_out is None else f", then the chosen configuration on {len(suite.seeds)} seeds"
        try:
            protocol.check_traces(c.problem, spec, suite.configs_for(spec)[0], suite.dtype)
            fails = ""
        except protocol.OptimizerFailed as e:
            fails = f"; would fail: {one_line(str(e))}"
        print(f"  {cells.problem_label(c.problem, c.batch_size)} / {c.optimizer} ({c.impl}): {n} trajectories"
              f"{report}{fails}")
    device = cells.devices_for(suite.device)[0]
    print(estimate.estimate(suite, todo, out, estimate.machine(device)).text())


def engine_busy() -> bool:
    """Whether a program abandoned by an interrupt is still running (`compiled._wait`)."""
    from bench.core import compiled

    return any(t.name == compiled.PROGRAM_THREAD and t.is_alive() for t in threading.enumerate())


def _raise_terminated(signum, frame):
    raise Terminated


def _twin_label(twin) -> str:
    """`optax.adam` for an optax function, `optax (composed)` for a wrapper around optax's pieces."""
    if twin is None:
        return "no optax twin"
    name = getattr(twin, "__name__", "")
    if name.isidentifier() and not name.startswith("_") and getattr(twin, "__module__", "").startswith("optax"):
        return f"optax.{name}"
    return "optax (composed)"


def _list() -> None:
    import inspect

    import optimizers
    import problems
    from bench.runs import runner
    from bench.runs import suite as suites

    print("optimizers (name, update rule, optax twin):")
    for name in optimizers.names():
        spec = optimizers.get(name)
        twin = _twin_label(spec.twin)
        print(f"  {name:18s} {spec.rule}  [{twin}]")
    print("problems (name, dimension with the default arguments, arguments):")
    for name in problems.names():
        params = inspect.signature(problems.factory(name)).parameters.values()
        args = ", ".join(f"{q.name}={q.default!r}" for q in params if q.default is not inspect.Parameter.empty)
        try:
            dim = str(problems.get(name).dim)
        except ValueError:  # no default instance (arguments required)
            dim = "-"
        print(f"  {name:18s} dim {dim:>5s}  {args}")
    print("suites (cells: problem x optimizer pairs, steps, seeds):")
    for name in suites.builtin_names():
        s = suites.builtin(name)
        print(f"  {name:18s} {len(list(runner.cell_keys(s)))} cells of {len(s.problems)} problems and "
              f"{len(s.optimizers)} optimizers, {s.steps} steps, {len(s.seeds)} seeds  {s.description}")


def main(argv: list[str] | None = None) -> int:
    """Runs a command; its exit code.

    A process of a distributed run that ends with an error leaves at once: at
    a normal exit JAX would wait for the other processes (`bench.core.distributed`).
    """
    try:
        code = _main(argv)
    except BaseException:
        if not _joined():
            raise
        import traceback

        traceback.print_exc()
        code = 1
    if code and _joined():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _joined() -> bool:
    """Whether this process joined a distributed run."""
    return "jax" in sys.modules and sys.modules["jax"].distributed.is_initialized()


def _report_after_run(path) -> None:
    """`gdbench run`'s report stage: report.html and report.md from the results just stored.
    A failure here loses nothing (the results are saved): a warning with the command that retries."""
    from bench.reporting import report

    try:
        written = report.write(path)
    except Exception as e:  # noqa: BLE001 - the results are already saved
        print(f"gdbench: warning: report not written ({type(e).__name__}: {one_line(str(e))}); "
              f"retry with: gdbench report {shlex.quote(str(path))}", file=sys.stderr)
        return
    print(f"report: {written['html']}", file=sys.stderr)


def _main(argv: list[str] | None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # --help, or a bad flag (already reported in one line)
        return e.code
    xla.apply()
    from bench.core import distributed
    from bench.errors import ConfigError
    from bench.runs.results import ResultsError, read_meta

    try:
        if args.command == "list":
            _list()
            return 0
        if args.command == "report":
            from bench.reporting import report

            written = report.write(args.results_dir, args.out, args.formats or report.DEFAULT_FORMATS)
            print(f"report: {written.pop('html')}\nreport: {written.pop('md')}")
            for path in written.values():  # the summary tables asked for
                print(f"summary: {path}")
            return 0
        if args.command == "history":
            from bench.tracking import history

            written = history.write(args.runs_dir, args.out)
            for note in written["notes"]:
                print(f"note: {note}", file=sys.stderr)
            print(f"history: {written['html']} ({written['runs']} runs)")
            return 0
        if args.command == "compare":
            from bench.tracking import benchjson, compare

            if benchjson.is_json_path(args.run_a) or benchjson.is_json_path(args.run_b):
                result = benchjson.run(args.run_a, args.run_b, args.fail_above)
            else:
                result = compare.run(args.run_a, args.run_b, args.fail_above, args.on, args.impl, args.alpha,
                                     args.absolute_above)
            print(result.text(), end="")
            for line in result.problems():
                print(line, file=sys.stderr)
            return EXIT_REGRESSION if result.failed else 0
        if args.command == "baseline":
            from bench.tracking import baseline

            print(baseline.update(args.run, args.out).text(), end="")
            return 0
        joining = distributed.options(args.distributed, args.coordinator, args.num_processes, args.process_id)
        suite = _load_suite(args)
        from bench.core import cache, cells
        from bench.runs import runner

        if joining is not None and not args.dry_run:
            distributed.initialize(joining)  # before JAX starts: then jax.devices() lists every process's
        cells.devices_for(suite.device)  # an absent device is bad input, before anything is written
        out = args.out if args.out is not None else DEFAULT_OUT
        if args.resume is None:
            distributed.on_writer(lambda: _check_out(out), None)  # process 0's folder (an error stops every process)
        if args.dry_run:
            _dry_run(suite, out)
            return 0
        cache.enable(warn=lambda message: print(f"gdbench: warning: {message}", file=sys.stderr))
        main_thread = threading.current_thread() is threading.main_thread()  # where signals can be handled
        previous = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
        try:
            path = runner.run_suite(suite, out_root=out, show_progress=not args.no_progress and distributed.is_writer(),
                                    resume=args.resume)
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, previous)
        if path is not None and not args.no_report:
            _report_after_run(path)  # the next stage, from the stored results
        if path is not None and (failed := read_meta(path).get("failures")):
            print(f"gdbench: {len(failed)} cell(s) failed, the others are kept; retry them with: "
                  f"gdbench run --resume {shlex.quote(str(path))}", file=sys.stderr)
            return EXIT_CELLS_FAILED
        return 0
    except (ConfigError, ResultsError) as e:
        print(f"gdbench: error: {one_line(str(e))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except distributed.DistributedError as e:  # a process of the run stopped, or they could not join
        print(f"gdbench: error: {one_line(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        path = getattr(e, "results_path", None)
        how = f"; resume with: gdbench run --resume {shlex.quote(str(path))}" if path else ""
        how += " and this run's --distributed flags, in every process" if path and _joined() else ""
        saved = ("finished cells were saved" if not _joined() or distributed.is_writer()
                 else "process 0 keeps the finished cells")
        print(f"gdbench: interrupted; {saved}{how}", file=sys.stderr)
        code = EXIT_TERMINATED if isinstance(e, Terminated) else EXIT_INTERRUPTED
        if engine_busy():
            # The program it interrupted still runs in XLA and cannot be stopped;
            # Python cannot shut down under it (it aborts), so the process ends here.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code
    except BrokenPipeError:  # the reader went away (`gdbench list | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
