"""A plain optax factory's time per step against the registered optimizer's, unmarked and marked elementwise.

    python -m bench.dev.perf_layout                       # Rosenbrock-2D, 64 learning rates, 10,000 steps
    python -m bench.dev.perf_layout --lanes 16 --steps 1000 --rounds 15

A plain factory runs lane by lane (vmapped) unless it is marked
(`optimizers.elementwise`); the registered elementwise optimizers run
lanes-last, hyperparameters broadcast. Four programs, compiled as `bench.sweep`
compiles them and timed in one process, alternated over rounds: the registered
adam (ours, and its optax twin, which is `optax.adam` lanes-last), and
`plain_adam` (`optax.adam` in a plain factory) unmarked and marked. Each one's
time per step over ours, per round, then the median and quartiles over
rounds: a ratio, since the machine's load moves every absolute figure.
Their first hits must agree (the same arithmetic in another layout).
"""

from __future__ import annotations

import argparse

import numpy as np
import optax

from bench.dev import timing


def plain_adam(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """`optax.adam` in a plain factory, as a user writes one."""
    return optax.adam(learning_rate, b1, b2, eps)


def marked_adam(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """The same, marked elementwise."""
    return optax.adam(learning_rate, b1, b2, eps)


marked_adam.elementwise = True

#: name -> (optimizer, impl)
CASES = {
    "adam (registered, ours)": ("adam", "gdbench"),
    "adam (registered, optax twin)": ("adam", "optax"),
    "plain_adam (vmap)": (plain_adam, "gdbench"),
    "plain_adam marked (lanes-last)": (marked_adam, "gdbench"),
}


def measure(lanes: int, steps: int, rounds: int) -> dict:
    """Per case: (median ratio to ours, 25th and 75th percentiles over rounds, median seconds per step,
    steps to 1e-6 of every lane, layout)."""
    import bench  # noqa: F401  (gdbench's XLA settings)
    from bench.core import cells

    grid = {"learning_rate": [float(v) for v in timing.lrs(lanes)]}
    programs, hits, layouts = {}, {}, {}
    for name, (optimizer, impl) in CASES.items():
        cell = cells.prepare(cells.SweepSpec("rosenbrock", optimizer, problem_args={"dim": 2}, grid=grid, seeds=[0],
                                             steps=steps, impl=impl, record_path=False))
        (group,) = cell.groups
        out = group.program()
        programs[name] = group.program
        hits[name] = out["hits"][list(cell.targets).index(1e-6)]
        layouts[name] = cells.layout(cell.spec)
    for program in programs.values():
        timing.warm_up(program.time)
    times = timing.alternated(programs, rounds)
    ours = times["adam (registered, ours)"]
    return {name: (float(np.median(t / ours)), float(np.percentile(t / ours, 25)), float(np.percentile(t / ours, 75)),
                   float(np.median(t)) / steps, hits[name], layouts[name]) for name, t in times.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.dev.perf_layout")
    p.add_argument("--lanes", type=int, default=64)
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args(argv)
    result = measure(args.lanes, args.steps, args.rounds)
    ref = result["plain_adam (vmap)"][4]
    print(f"### Plain factories' layout: Rosenbrock-2D, {args.lanes} learning rates, {args.steps:,} steps\n")
    print(f"`python -m bench.dev.perf_layout --lanes {args.lanes} --steps {args.steps} --rounds {args.rounds}`, "
          f"on {timing.device()}; time per step over the registered adam's (ours), {args.rounds} alternated rounds\n")
    print("| program | layout | median ratio | quartiles | us/step (median) | first hits of 1e-6 as plain_adam's |")
    print("|---|---|---:|---:|---:|---|")
    for name, (r, lo, hi, s, hits, layout) in result.items():
        print(f"| {name} | {layout} | {r:.2f} | {lo:.2f}-{hi:.2f} | {s * 1e6:.3g} | "
              f"{'yes' if np.array_equal(hits, ref) else 'no'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
