"""The cost of minibatch mode per step: `python -m bench.dev.perf_minibatch [--steps N --rounds R]`.

Logistic regression on the breast-cancer set (569 rows), gd, 16 learning rates
x 4 seeds = 64 lanes, compiled three ways: the full batch with the default
schedule, the full batch recording every 10th step, and minibatches of 32 with
the full loss every 10 steps (minibatch mode's default). The three programs run
alternated, round by round, in one process; it prints each one's median time
per step and the median of its per-round ratios to the full batch's.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.core import cells
from bench.dev import timing

VARIANTS = {
    "full batch": {},
    "full batch, every 10th stored": {"record_every": 10},
    "batch 32, full loss every 10": {"batch_size": 32},
}


def measure(steps: int, rounds: int) -> str:
    common = dict(grid={"learning_rate": list(np.geomspace(1e-2, 1.0, 16))}, seeds=range(4), steps=steps,
                  problem_args={"dataset": "breast_cancer"})
    programs = {name: cells.prepare(cells.SweepSpec("logistic", "gd", **common, **kw)).groups[0].program
                for name, kw in VARIANTS.items()}
    times = timing.alternated(programs, rounds)
    base = times["full batch"]
    lines = [f"logistic(breast_cancer), gd, 64 lanes, {steps} steps, {rounds} alternated rounds",
             "| program | compile s | us/step (median) | / full batch (median of rounds) | range |",
             "|---|---:|---:|---:|---|"]
    for name, program in programs.items():
        t = times[name]
        ratio = t / base
        lines.append(f"| {name} | {program.compile_s:.1f} | {np.median(t) / steps * 1e6:.0f} | "
                     f"{np.median(ratio):.2f} | {ratio.min():.2f}-{ratio.max():.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.dev.perf_minibatch")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args(argv)
    print(measure(args.steps, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
