"""The `gdbench` command (also `python -m bench`).

    gdbench run [--suite quick|standard|full | --config FILE] [overrides]
    gdbench list
    gdbench report RESULTS_DIR [--out DIR]
    gdbench compare RUN_A RUN_B [--fail-above RATIO] [--on time|steps|both] [--impl gdbench|optax]

Bad input gets one line on stderr naming the field and what is allowed, exit
code 2, and nothing written to results/. A results folder that is missing,
corrupt or of another schema version is bad input too. `compare` exits with 1
when a ratio B/A exceeds --fail-above (a regression), 0 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys

from bench import xla

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _seeds(text: str) -> list[int] | int:
    try:
        parts = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a count or a comma-separated list of integers, got {text!r}")
    return parts[0] if len(parts) == 1 and "," not in text else parts


def _batch_sizes(text: str) -> list:
    """'16,64,full' -> [16, 64, 'full'] (checked with the suite)."""
    parts = [t.strip() for t in text.split(",") if t.strip()]
    try:
        return [t if t == "full" else int(t) for t in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers or 'full', got {text!r}")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}")


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a ratio > 0, e.g. 1.10, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gdbench", description="Benchmark gradient-descent optimizers in JAX.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run a benchmark suite (default: quick)")
    src = run.add_mutually_exclusive_group()
    src.add_argument("--suite", default=None, help="a built-in suite: quick (default), standard, full")
    src.add_argument("--config", default=None, help="a suite TOML file")
    run.add_argument("--problems", type=_names, help="comma-separated problem names (the suite's entries of them)")
    run.add_argument("--optimizers", type=_names, help="comma-separated optimizer names")
    run.add_argument("--steps", type=_int, help="steps per trajectory")
    run.add_argument("--seeds", type=_seeds, help="a count, or comma-separated seeds")
    run.add_argument("--dtype", help="float32 or float64")
    run.add_argument("--device", help="cpu or gpu")
    run.add_argument("--repeats", type=_int, help="timed executions per program")
    run.add_argument("--batch-size", type=_batch_sizes,
                     help="minibatch sizes for every problem, comma-separated, 'full' for the full batch")
    run.add_argument("--out", default="results/runs", help="folder for the results (default: results/runs)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.add_parser("list", help="list the registered optimizers, problems and suites")
    rep = sub.add_parser("report", help="write report.html and report.md of a results folder")
    rep.add_argument("results_dir", help="a results folder written by gdbench run")
    rep.add_argument("--out", default=None, help="folder for the report (default: the results folder)")
    cmp = sub.add_parser(
        "compare", help="compare two results folders side by side",
        epilog="exit codes: 0 no regression, 1 a ratio B/A above --fail-above, 2 bad input",
    )
    cmp.add_argument("run_a", help="the reference results folder (A)")
    cmp.add_argument("run_b", help="the results folder compared with it (B)")
    cmp.add_argument("--fail-above", type=_threshold, default=None,
                     help="exit with code 1 when a ratio B/A exceeds this, e.g. 1.10")
    cmp.add_argument("--on", choices=["time", "steps", "both"], default="both",
                     help="which ratios --fail-above checks: time per step, steps to target, or both (default)")
    cmp.add_argument("--impl", choices=["gdbench", "optax"], default="gdbench", help="which implementation's rows")
    return p


def _load_suite(args):
    from bench import suite as suites

    s = suites.load(args.config) if args.config else suites.builtin(args.suite or "quick")
    return suites.override(
        s, problems=args.problems, optimizers=args.optimizers, steps=args.steps, seeds=args.seeds,
        dtype=args.dtype, device=args.device, repeats=args.repeats, batch_size=args.batch_size,
    )


def _list() -> None:
    import optimizers
    import problems
    from bench import suite as suites

    print("optimizers:")
    for name in optimizers.names():
        spec = optimizers.get(name)
        twin = "optax twin" if spec.twin is not None else "no optax twin"
        print(f"  {name:18s} {spec.rule}  ({twin})")
    print("problems:")
    for name in problems.names():
        print(f"  {name}")
    print("suites:", ", ".join(suites.builtin_names()))


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # --help, or a bad flag (already reported in one line)
        return e.code
    xla.apply()
    from bench.errors import ConfigError
    from bench.results import ResultsError

    try:
        if args.command == "list":
            _list()
            return 0
        if args.command == "report":
            from bench import report

            written = report.write(args.results_dir, args.out)
            print(f"report: {written['html']}\nreport: {written['md']}")
            return 0
        if args.command == "compare":
            from bench import compare

            return compare.run(args.run_a, args.run_b, args.fail_above, args.on, args.impl)
        suite = _load_suite(args)
        from bench import cells, runner

        cells.devices_for(suite.device)  # an absent device is bad input, before anything is written
        runner.run_suite(suite, out_root=args.out, show_progress=not args.no_progress)
        return 0
    except (ConfigError, ResultsError) as e:
        print(f"gdbench: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("gdbench: interrupted; finished cells were saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`gdbench list | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
