"""The `gdbench` command (also `python -m bench`).

    gdbench run [--suite quick|standard|full | --config FILE] [overrides]
    gdbench list

Bad input gets one line on stderr naming the field and what is allowed, exit
code 2, and nothing written to results/.
"""

from __future__ import annotations

import argparse
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


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}")


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
    run.add_argument("--out", default="results/runs", help="folder for the results (default: results/runs)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.add_parser("list", help="list the registered optimizers, problems and suites")
    return p


def _load_suite(args):
    from bench import suite as suites

    s = suites.load(args.config) if args.config else suites.builtin(args.suite or "quick")
    return suites.override(
        s, problems=args.problems, optimizers=args.optimizers, steps=args.steps, seeds=args.seeds,
        dtype=args.dtype, device=args.device, repeats=args.repeats,
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

    try:
        if args.command == "list":
            _list()
            return 0
        suite = _load_suite(args)
        from bench import cells, runner

        cells.devices_for(suite.device)  # an absent device is bad input, before anything is written
        runner.run_suite(suite, out_root=args.out, show_progress=not args.no_progress)
        return 0
    except ConfigError as e:
        print(f"gdbench: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("gdbench: interrupted; finished cells were saved", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
