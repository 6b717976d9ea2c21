"""What a sweep's `vmap` costs an optimizer with data-dependent branches, per lane-step.

    python -m bench.dev.vmap_cost            # sophia (every-k Hessian), muon, lbfgs, schedule-free, adam
    python -m bench.dev.vmap_cost --lanes 16 --steps 500
    python -m bench.dev.vmap_cost --cases sophia     # the cases whose name contains "sophia"
    python -m bench.dev.vmap_cost --cases sophia --dim 1000   # a quadratic of n = 1000

Under `vmap`, a `lax.cond` whose predicate differs per lane (a batched state
such as Sophia's step count) becomes a select that runs both branches every
step, and a `while_loop` (a line search) runs every lane until the slowest is
done. So an optimizer's time per step in a sweep can exceed its time alone.
For each case this times, in one process and alternated over rounds, one cell
run alone (1 lane) and as a sweep of `--lanes` lanes (learning rates spread by
a factor 1.2 around the case's, so that no lane diverges), and prints the
sweep's time per lane-step over the single run's time per step. Sophia runs
with its Hessian every 10 steps (its default) and every step: the first is
the cheaper alone and, since its step count is kept unbatched
(`bench.core.lanewise.shared_state_axes`), in a sweep too; were the count
per lane, the select would run the Hessian every step and both would cost the same. A branch-free optimizer (adam) gives the ratio the lanes'
sharing of the cores alone makes. Results print as Markdown lines for
results/PERFORMANCE.md; medians over rounds.
"""

from __future__ import annotations

import argparse
import inspect
import time

import numpy as np
import optax
from optax import contrib

#: case -> (problem, problem arguments, factory, fixed hyperparameters, learning rate)
CASES = {
    "sophia (Hessian every 10)": ("quadratic", {"dim": 100, "condition_number": 100.0}, contrib.sophia,
                                  {"update_interval": 10}, 1e-2),
    "sophia (Hessian every step)": ("quadratic", {"dim": 100, "condition_number": 100.0}, contrib.sophia,
                                    {"update_interval": 1}, 1e-2),
    "muon": ("mlp", {}, contrib.muon, {}, 1e-2),
    "lbfgs": ("quadratic", {"dim": 100, "condition_number": 100.0}, optax.lbfgs, {}, 1.0),
    "schedule_free_adamw": ("quadratic", {"dim": 100, "condition_number": 100.0}, contrib.schedule_free_adamw,
                            {"warmup_steps": 10}, 1e-2),
    "adam": ("quadratic", {"dim": 100, "condition_number": 100.0}, optax.adam, {}, 1e-2),
}


def _factory(factory, fixed):
    """The case's factory with its fixed hyperparameters as its parameters' defaults (so the harness
    reads them, e.g. Sophia's update_interval for its evaluation count), the learning rate left to the grid."""
    def make(learning_rate, **given):
        return factory(learning_rate=learning_rate, **{**fixed, **given})

    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    make.__signature__ = inspect.Signature([inspect.Parameter("learning_rate", keyword)] + [
        inspect.Parameter(name, keyword, default=value) for name, value in fixed.items()])
    make.__name__ = factory.__name__
    return make


def _prepared(case: str, lanes: int, steps: int, dim: int | None = None):
    from bench.core import cells

    problem, args, factory, fixed, lr = CASES[case]
    if dim is not None and problem == "quadratic":
        args = {**args, "dim": dim}
    lrs = [lr] if lanes == 1 else list(lr * 1.2 ** (np.arange(lanes) - lanes // 2))
    sweep = cells.SweepSpec(problem, _factory(factory, fixed), grid={"learning_rate": lrs}, steps=steps,
                            problem_args=args, record_every=steps)
    return cells.prepare(sweep)


def measure(cases: list[str], lanes: int, steps: int, rounds: int,
            dim: int | None = None) -> dict[str, tuple[float, float, float]]:
    """Per case, medians over rounds: (sweep time per lane-step) / (single run's time per step),
    and the two times per step in microseconds (the sweep's per lane)."""
    prepared = {(c, n): _prepared(c, n, steps, dim) for c in cases for n in (1, lanes)}
    for cell in prepared.values():
        cell.groups[0].program.time()  # warm-up
    seen = {c: [] for c in cases}
    for _ in range(rounds):
        for c in cases:
            single = min(prepared[c, 1].groups[0].program.time() for _ in range(3)) / steps
            sweep = min(prepared[c, lanes].groups[0].program.time() for _ in range(3)) / steps / lanes
            seen[c].append((sweep / single, single * 1e6, sweep * 1e6))
    return {c: tuple(float(v) for v in np.median(np.asarray(r), axis=0)) for c, r in seen.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lanes", type=int, default=16)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", default="", help="only the cases whose name contains this")
    parser.add_argument("--dim", type=int, default=None, help="the quadratic's dimension (default 100)")
    a = parser.parse_args(argv)
    import jax

    start = time.perf_counter()
    ratios = measure([c for c in CASES if a.cases in c], a.lanes, a.steps, a.rounds, a.dim)
    d = jax.devices()[0]
    print(f"vmap cost per lane-step, sweep of {a.lanes} lanes / single run, {a.steps} steps, "
          f"{d.platform} ({d.device_kind}) x {len(jax.devices())}, jax {jax.__version__} "
          f"({time.perf_counter() - start:.0f} s):")
    for case, (r, single, sweep) in ratios.items():
        print(f"- {case}: {r:.2f}x ({single:.1f} us per step alone, {sweep:.1f} us per lane-step in the sweep)")


if __name__ == "__main__":
    main()
