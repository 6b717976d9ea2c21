"""The cost of the transformer problem: `python -m bench.dev.perf_transformer [--steps N --rounds R]`.

A 64-lane sweep (adam, 16 learning rates x 4 seeds) of `transformer` at its
defaults (19,456 parameters, 1,000 sequences of 16 tokens), minibatches of 32
with the full loss every 10 steps (minibatch mode's default), compiled once and
run apart from compiling (each run blocks until ready). The share spent in
attention is measured by the same sweep with the attention's mixing,
softmax(q k^T / sqrt(d_head) + mask) v, replaced by v itself: XLA then also
drops the q and k projections, so the share counts them as attention's. The two
programs run alternated, round by round, in one process; it prints the median
time per step of each, the median of the per-round shares 1 - t(no mixing) /
t(full), and, as a second estimate, XLA's flop count of one lane's full-batch
adam step (`bench.tracking.costs`) for both.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

import problems
from bench.core import cells
from bench.dev import timing
from bench.tracking import costs
from problems import transformer

LANES = {"learning_rate": list(np.geomspace(1e-4, 1e-2, 16))}
SEEDS = range(4)
BATCH_SIZE = 32


def _no_mixing(q, k, v):
    del q, k
    return v


def measure(steps: int, rounds: int) -> str:
    p = problems.get("transformer")
    variants = {
        "full": p,
        "attention mixing replaced by v": dataclasses.replace(
            p, fn=transformer.make_loss(p.args["n_heads"], attend=_no_mixing)),
    }
    programs = {}
    for name, problem in variants.items():
        spec = cells.SweepSpec(problem, "adam", grid=LANES, seeds=SEEDS, steps=steps, batch_size=BATCH_SIZE)
        programs[name] = cells.prepare(spec).groups[0].program
    times = timing.alternated(programs, rounds)
    full = times["full"]
    flops = {name: costs.step_costs(problem, "adam")["flops"] for name, problem in variants.items()}
    lines = [f"transformer() ({p.dim:,} parameters), adam, 64 lanes, batch {BATCH_SIZE}, {steps} steps, "
             f"{rounds} alternated rounds",
             "| program | compile s | ms/step (median) | XLA MFLOP per lane-step, full batch | attention's share "
             "of the time (median of rounds, range); of the flops |",
             "|---|---:|---:|---:|---|"]
    for name, program in programs.items():
        t = times[name]
        share = 1.0 - t / full
        share_text = "" if name == "full" else (f"{np.median(share):.0%} ({share.min():.0%}-{share.max():.0%}); "
                                                f"{1.0 - flops[name] / flops['full']:.0%}")
        lines.append(f"| {name} | {program.compile_s:.1f} | {np.median(t) / steps * 1e3:.1f} | "
                     f"{flops[name] / 1e6:,.0f} | {share_text} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dev.perf_transformer")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(measure(args.steps, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
