"""The timing protocol's cost on long programs, and whether its figures change.

    python -m bench.dev.perf_timing [--steps 2000] [--rounds 3]

One cell of the standard suite's kind: the rotated 1000-D quadratic (condition
1e4), Adam, 12 learning rates x 5 seeds, ours and optax's in one program. It is
compiled once and timed, alternately (A B, B A, ...), by

  (A) the full protocol: the first run, more untimed runs, then `repeats` (5)
      timed rounds (what every program got before the long-run rule);
  (B) the protocol as `bench.sweep` and `gdbench run` use it: a program whose
      first run takes cells.LONG_RUN_S or more is timed by that run alone.

For each it prints what the timing cost, in runs of each program (the wall
time of `CellRun.time` over one run's time: the results need one run in any
case), and each implementation's time per step. Whether (B)'s per-step figures
agree with (A)'s is judged against (A)'s own noise: the spread of (A)'s
figures from round to round.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import bench  # noqa: F401 - its XLA settings, as gdbench runs
from bench.core import cells


def _timed(cell: cells.CellRun, long_run: float, repeats: int) -> tuple[float, dict[str, float]]:
    """One pass of `CellRun.time`: its wall seconds and each implementation's seconds per step."""
    for g in cell.groups:
        g.times = []
    start = time.perf_counter()
    cell.time(repeats, keep_outputs=True, long_run=long_run)
    wall = time.perf_counter() - start
    return wall, {g.impl: float(np.median(g.times)) / cell.steps for g in cell.groups}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    spec = cells.SweepSpec("quadratic", "adam", problem_args={"dim": 1000, "condition_number": 1e4},
                           grid={"learning_rate": list(np.geomspace(1e-4, 1e-1, 12))}, seeds=5, steps=args.steps,
                           impl="both")
    start = time.perf_counter()
    cell = cells.prepare(spec)
    print(f"compiled in {time.perf_counter() - start:.1f} s; {len(cell.groups)} programs, "
          f"{args.steps} steps, 60 lanes; LONG_RUN_S = {cells.LONG_RUN_S} s")
    per_step = {"A": [], "B": []}
    cost = {"A": [], "B": []}
    for r in range(args.rounds):
        for name in ("A", "B") if r % 2 == 0 else ("B", "A"):
            wall, steps = _timed(cell, float("inf") if name == "A" else cells.LONG_RUN_S, args.repeats)
            one_run = sum(steps.values()) * cell.steps  # one run of each program
            cost[name].append(wall / one_run)
            per_step[name].append(steps)
            print(f"round {r} {name}: timing {wall:.1f} s = {wall / one_run:.2f} runs of each program; "
                  + ", ".join(f"{impl} {s * 1e3:.3f} ms/step" for impl, s in steps.items()), flush=True)
    print("\n| protocol | timing cost (runs of each program), median [min, max] | per step, B / A (median over rounds) |")
    print("|---|---|---|")
    for name in ("A", "B"):
        c = np.asarray(cost[name])
        print(f"| {name} | {np.median(c):.2f} [{c.min():.2f}, {c.max():.2f}] | "
              + (", ".join(f"{impl} {np.median([b[impl] / a[impl] for a, b in zip(per_step['A'], per_step['B'])]):.3f}"
                           for impl in per_step["A"][0]) if name == "B" else "1") + " |")
    for impl in per_step["A"][0]:
        a = np.asarray([s[impl] for s in per_step["A"]])
        b = np.asarray([s[impl] for s in per_step["B"]])
        print(f"{impl}: A's own spread over rounds {a.max() / a.min() - 1:.1%}; "
              f"B within A's range: {bool(((b >= a.min() * 0.97) & (b <= a.max() * 1.03)).all())} "
              f"(A {a.min() * 1e3:.3f}-{a.max() * 1e3:.3f}, B {b.min() * 1e3:.3f}-{b.max() * 1e3:.3f} ms/step)")


if __name__ == "__main__":
    main()
