"""Performance measurements of the engine, side by side with plain JAX code.

    python -m bench.dev.perf sweep     # 256-config Adam sweep of Rosenbrock-2D: (a), (b), (b*), (c)
    python -m bench.dev.perf large     # quadratic n = 1e6, 1e7: engine vs a bare scan
    python -m bench.dev.perf large --bandwidth   # ... and bytes moved per second vs a device copy
    python -m bench.dev.perf parity    # every optimizer: our time per step / optax's
    python -m bench.dev.perf paths     # the sweep with and without its parameter paths recorded
    python -m bench.dev.perf all

`sweep` compares, in optimizer-steps per second,
  (a) a Python loop over a jitted optax step (one configuration at a time),
  (b) `jit(vmap(scan))` of optax.adam storing every step's loss, JAX's default settings,
  (b*) the same with the engine's settings: gdbench's process-wide XLA flags, lanes
       sharded over the host devices with `shard_map`, the per-program compile options
       (512-bit vectors); also a variant storing the loss every 100 steps with the first
       hits kept in the loop carry,
  (c) gdbench's engine as `bench.sweep` runs it (with its XLA:CPU settings), which also
      finds exact first hits, divergence and the best loss on the device.
(c)/(b) is what gdbench gives over a plain loop written with JAX's defaults;
(c)/(b*) what its engine's design gives over the best plain loop with the same settings.
Each runs in its own process, since the settings are process-wide, alternated
(b b* b*' c c' c'' b b* ...) over several rounds; each compiles, runs, warms up (at
least 5 executions and 0.5 s, the same for all), and reports the median of its timed
executions; the medians over rounds are compared, and the ratios of each round printed.
(b*)'s and (c)'s losses and first hits must equal (b)'s bit for bit (printed).

Results print as Markdown for results/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench.dev import perf_large, timing


# ----------------------------------------------------------------------------- workers


def worker_a(configs: int, steps: int, repeats: int) -> dict:
    """(a): for each step, call a jitted optax.adam step from Python (one config)."""
    import jax
    import optax

    import problems

    p = problems.get("rosenbrock", dim=2)
    lr = float(timing.lrs(configs)[configs // 2])
    tx = optax.adam(lr)

    @jax.jit
    def step(x, state):
        value, grad = jax.value_and_grad(p.loss)(x)
        updates, state = tx.update(grad, state, x)
        return optax.apply_updates(x, updates), state, value

    x0 = p.init(jax.random.PRNGKey(0))
    jax.block_until_ready(step(x0, tx.init(x0)))

    def run():
        x, state = x0, tx.init(x0)
        for _ in range(steps):
            x, state, value = step(x, state)
        jax.block_until_ready(x)

    seconds = timing.median_time(run, repeats)
    return {"steps_per_s": steps / seconds, "seconds": seconds, "steps": steps, "configs": 1}


def worker_b(configs: int, steps: int, repeats: int, out: str) -> dict:
    """(b): jit(vmap(scan)) of optax.adam, every step's loss stored, as a user writes it."""
    import jax
    import jax.numpy as jnp
    import optax

    import problems

    p = problems.get("rosenbrock", dim=2)
    x0 = p.init(jax.random.PRNGKey(0))

    def trajectory(lr):
        tx = optax.adam(lr)

        def body(carry, _):
            x, state = carry
            value, grad = jax.value_and_grad(p.loss)(x)
            updates, state = tx.update(grad, state, x)
            return (optax.apply_updates(x, updates), state), value

        (x, _), losses = jax.lax.scan(body, (x0, tx.init(x0)), None, length=steps)
        return x, jnp.append(losses, p.loss(x))

    lrs = jnp.asarray(timing.lrs(configs))
    start = time.perf_counter()
    compiled = jax.jit(jax.vmap(trajectory)).lower(lrs).compile()
    compile_s = time.perf_counter() - start
    result = jax.block_until_ready(compiled(lrs))
    timing.warm_up(lambda: jax.block_until_ready(compiled(lrs)))
    seconds = timing.median_time(lambda: jax.block_until_ready(compiled(lrs)), repeats)
    np.savez(out, x=np.asarray(result[0]), losses=np.asarray(result[1]))
    return {"steps_per_s": configs * steps / seconds, "seconds": seconds, "compile_s": compile_s,
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "device": timing.device(list(result[0].devices()))}


RECORD_EVERY = 100  # (b*) with first hits in the carry stores the loss every this many steps


def _sharded_program(fn, lrs: np.ndarray):
    """`fn` (one learning rate -> outputs) as a user gets the engine's set-up in plain JAX:
    vmapped, its lanes split over the host devices with `shard_map` (the devices of a Mesh
    of `jax.devices()`, as many as divide the lanes), compiled with gdbench's per-program
    options (`bench.core.xla.compile_options`). Returns (compiled, sharded lrs, compile seconds, devices)."""
    import jax
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    from bench.core import xla

    devices = jax.devices()
    n = max(d for d in range(1, len(devices) + 1) if len(lrs) % d == 0)
    mesh = Mesh(np.asarray(devices[:n]), ("lanes",))
    program = jax.jit(jax.shard_map(jax.vmap(fn), mesh=mesh, in_specs=P("lanes"), out_specs=P("lanes"),
                                  check_vma=False))  # as the engine: x0 is the same on every device
    lrs = jax.device_put(lrs, NamedSharding(mesh, P("lanes")))
    start = time.perf_counter()
    compiled = program.lower(lrs).compile(compiler_options=xla.compile_options(devices[0].platform))
    return compiled, lrs, time.perf_counter() - start, devices[:n]


def worker_bstar(configs: int, steps: int, repeats: int, out: str, variant: str) -> dict:
    """(b*): (b) with the engine's settings: gdbench's process-wide XLA flags (this process
    imported `bench`), lanes sharded over the host devices, 512-bit vectors where the CPU has them.

    variant "every": every step's loss stored, as (b). Variant "hits": the loss stored every
    RECORD_EVERY steps, and the target ladder's first hits kept in the loop carry (checked at
    every step, the final point included), as a user would write to get what (c) reports
    (without (c)'s divergence check, best loss and denser early recording).
    """
    import bench  # noqa: F401  (applies gdbench's XLA settings before JAX starts)
    import jax
    import jax.numpy as jnp
    import optax

    import problems

    p = problems.get("rosenbrock", dim=2)
    x0 = p.init(jax.random.PRNGKey(0))

    def stepper(tx):
        def step(x, state):
            value, grad = jax.value_and_grad(p.loss)(x)
            updates, state = tx.update(grad, state, x)
            return optax.apply_updates(x, updates), state, value

        return step

    def every(lr):
        tx = optax.adam(lr)
        step = stepper(tx)

        def body(carry, _):
            x, state, value = step(*carry)
            return (x, state), value

        (x, _), losses = jax.lax.scan(body, (x0, tx.init(x0)), None, length=steps)
        return x, jnp.append(losses, p.loss(x))

    def with_hits(lr):
        tx = optax.adam(lr)
        step = stepper(tx)
        levels = jnp.asarray(timing.TARGETS, jnp.float32) * p.loss(x0)  # as first_hits: tau * f(x_0)

        def check(hits, value, t):
            return jnp.where((hits < 0) & (value <= levels), t, hits)

        def one(t, carry):
            x, state, hits = carry
            x, state, value = step(x, state)
            return x, state, check(hits, value, t)

        def block(carry, t0):
            value = p.loss(carry[0])  # the stored loss of step t0 (the step computes it again)
            return jax.lax.fori_loop(t0, t0 + RECORD_EVERY, one, carry), value

        carry = (x0, tx.init(x0), jnp.full(len(timing.TARGETS), -1, jnp.int32))
        blocks = steps // RECORD_EVERY
        carry, losses = jax.lax.scan(block, carry, jnp.arange(blocks, dtype=jnp.int32) * RECORD_EVERY)
        stored = [losses]
        if steps % RECORD_EVERY:
            stored.append(p.loss(carry[0])[None])
            carry = jax.lax.fori_loop(blocks * RECORD_EVERY, steps, one, carry)
        x, _, hits = carry
        final = p.loss(x)
        return x, jnp.concatenate([*stored, final[None]]), check(hits, final, steps)

    compiled, lrs, compile_s, devices = _sharded_program({"every": every, "hits": with_hits}[variant],
                                                         timing.lrs(configs))
    result = jax.block_until_ready(compiled(lrs))
    timing.warm_up(lambda: jax.block_until_ready(compiled(lrs)))
    seconds = timing.median_time(lambda: jax.block_until_ready(compiled(lrs)), repeats)
    np.savez(out, x=np.asarray(result[0]), losses=np.asarray(result[1]),
             **({"hits": np.asarray(result[2])} if variant == "hits" else {}))
    return {"steps_per_s": configs * steps / seconds, "seconds": seconds, "compile_s": compile_s,
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "device": timing.device(devices),
            "compile_options": bench.core.xla.compile_options(devices[0].platform) or {}}


def recorded_every(steps: int) -> np.ndarray:
    """The steps (b*)-with-hits stores: every RECORD_EVERY steps, and the last."""
    return np.append(np.arange(0, steps, RECORD_EVERY), steps)


def worker_c(configs: int, steps: int, repeats: int, out: str, impl: str) -> dict:
    """(c): the engine, through bench.core.cells as bench.sweep and gdbench run use it."""
    import bench  # noqa: F401  (applies gdbench's XLA settings before JAX starts)
    from bench.core import cells

    cell = cells.prepare(cells.SweepSpec("rosenbrock", "adam", problem_args={"dim": 2},
                         grid={"learning_rate": [float(v) for v in timing.lrs(configs)]}, seeds=[0], steps=steps,
                         impl=impl, record_path=False))
    cells.run_cell(cell, repeats=1)  # the results, as bench.sweep gets them
    (group,) = cell.groups
    timing.warm_up(group.program.time)
    seconds = timing.median_time(group.program.time, repeats)
    np.savez(out, losses=group.outputs["losses"].T, hits=group.outputs["hits"].T,
             points=cell.schedule.points())
    return {"steps_per_s": configs * steps / seconds, "seconds": seconds, "compile_s": group.program.compile_s,
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "devices": len(group.program.mesh.devices.flat),
            "device": timing.device(list(group.program.mesh.devices.flat))}


def _spawn(kind: str, args: argparse.Namespace, out: str, tuned: bool, impl: str = "optax") -> dict:
    env = dict(os.environ)
    if not tuned:
        env["GDBENCH_XLA_TUNING"] = "0"
        env.pop("XLA_FLAGS", None)
    cmd = [sys.executable, "-m", "bench.dev.perf", "_worker", kind, "--configs", str(args.configs), "--steps",
           str(args.steps), "--repeats", str(args.repeats), "--out", out, "--impl", impl]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def first_hits(losses: np.ndarray) -> np.ndarray:
    """First-hit steps of the target ladder from every step's loss (relative to f* = 0)."""
    f0 = losses[:, :1]
    out = np.full((losses.shape[0], len(timing.TARGETS)), -1)
    for k, tau in enumerate(timing.TARGETS):
        below = losses <= np.float32(tau) * f0
        out[:, k] = np.where(below.any(axis=1), below.argmax(axis=1), -1)
    return out


def _rates(rounds: list[dict]) -> str:
    return ", ".join(f"{r['steps_per_s']:.3g}" for r in rounds)


def _ratios(num: list[dict], den: list[dict]) -> list[float]:
    return [n["steps_per_s"] / d["steps_per_s"] for n, d in zip(num, den)]


# (label, worker kind, --impl, with gdbench's XLA settings), run in this order in every round
SWEEP_RUNS = {
    "b": ("(b) jit(vmap(scan(optax.adam))), every loss stored, JAX's defaults", "b", "optax", False),
    "bs": ("(b*) (b) with gdbench's settings: XLA flags, lanes sharded over the host devices, "
           "512-bit vectors", "bstar", "every", True),
    "bs_hits": (f"(b*) with losses every {RECORD_EVERY} steps, first hits in the carry", "bstar", "hits", True),
    "c": ("(c) gdbench engine, optax's Adam", "c", "optax", True),
    "c_ours": ("(c) gdbench engine, our Adam", "c", "gdbench", True),
    "c_untuned": ("(c) without gdbench's XLA settings (GDBENCH_XLA_TUNING=0), optax's Adam", "c", "optax", False),
}


def sweep(args: argparse.Namespace) -> str:
    a = worker_a(args.configs, min(args.steps, 2000), 3)
    rounds = {k: [] for k in SWEEP_RUNS}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for k, (_, kind, impl, tuned) in SWEEP_RUNS.items():
                rounds[k].append(_spawn(kind, args, f"{tmp}/{k}.npz", tuned=tuned, impl=impl))
        out = {k: np.load(f"{tmp}/{k}.npz") for k in SWEEP_RUNS}
        b, bs, bs_hits, c, c_ours = (out[k] for k in ("b", "bs", "bs_hits", "c", "c_ours"))
        pts, every = c["points"], recorded_every(args.steps)
        identical = {
            "(c)'s losses at its recorded steps": np.array_equal(c["losses"], b["losses"][:, pts]),
            "(c)'s first hits": np.array_equal(c["hits"], first_hits(b["losses"])),
            "(c) with our Adam, losses": np.array_equal(c_ours["losses"], b["losses"][:, pts]),
            "(b*)'s losses and final points": np.array_equal(bs["losses"], b["losses"])
            and np.array_equal(bs["x"], b["x"]),
            f"(b*) every {RECORD_EVERY}: losses": np.array_equal(bs_hits["losses"], b["losses"][:, every]),
            f"(b*) every {RECORD_EVERY}: first hits": np.array_equal(bs_hits["hits"], first_hits(b["losses"])),
        }
    med = {k: float(np.median([r["steps_per_s"] for r in v])) for k, v in rounds.items()}
    c_b, c_bs = _ratios(rounds["c"], rounds["b"]), _ratios(rounds["c"], rounds["bs"])
    c_bsh = _ratios(rounds["c"], rounds["bs_hits"])

    def row(k: str) -> str:
        return (f"| {SWEEP_RUNS[k][0]} | {med[k]:.3g} | {med[k] / a['steps_per_s']:.0f}x | {med[k] / med['b']:.2f}x "
                f"| {med[k] / med['bs']:.2f}x |")

    def per_round(name: str, ratios: list[float]) -> str:
        return f"{name} {', '.join(f'{r:.2f}' for r in ratios)} (median {np.median(ratios):.2f}x)"

    lines = [
        f"### Sweep throughput: {args.configs}-configuration Adam sweep of Rosenbrock-2D, {args.steps:,} steps",
        "",
        f"`python -m bench.dev.perf sweep --configs {args.configs} --steps {args.steps} --rounds {args.rounds}`",
        "",
        "| | optimizer-steps/s | vs (a) | vs (b) | vs (b*) |",
        "|---|---:|---:|---:|---:|",
        f"| (a) Python loop over a jitted optax step | {a['steps_per_s']:.3g} | 1 | | |",
        *(row(k) for k in SWEEP_RUNS),
        "",
        f"Medians over {args.rounds} rounds, each round running the rows in this order, each in its own process. "
        f"Per round, " + "; ".join([per_round("(c)/(b)", c_b), per_round("(c)/(b*)", c_bs),
                                    per_round(f"(c)/(b* every {RECORD_EVERY})", c_bsh)]) + ".",
        "Per-round steps/s: " + "; ".join(f"{k} {_rates(v)}" for k, v in rounds.items()) + ".",
        f"Compile: (b) {rounds['b'][0]['compile_s']:.2f} s, (b*) {rounds['bs'][0]['compile_s']:.2f} s, "
        f"(c) {rounds['c'][0]['compile_s']:.2f} s. (b) ran on {rounds['b'][0]['device']}; (b*) on "
        f"{rounds['bs'][0]['device']} with compile options {rounds['bs'][0]['compile_options']}; "
        f"(c) on {rounds['c'][0]['device']}.",
        "Bit-identical to (b): " + ", ".join(f"{k} {bool(v)}" for k, v in identical.items()) + ".",
    ]
    return "\n".join(lines)



# ----------------------------------------------------------------------------- parity


def parity(args: argparse.Namespace) -> str:
    """Per optimizer: our time per step over optax's, timed interleaved in one process."""
    import bench  # noqa: F401

    import optimizers
    from bench.core import cells

    rows = []
    for name in optimizers.names():
        spec = optimizers.get(name)
        if spec.twin is None:
            continue
        lr = float(np.sqrt(np.prod(spec.search_space["learning_rate"][:2]))) if "learning_rate" in spec.search_space \
            else spec.defaults.get("learning_rate")
        lrs = [lr * f for f in np.geomspace(0.1, 1.0, args.parity_configs)]
        cell = cells.prepare(cells.SweepSpec(args.parity_problem, name, problem_args=args.parity_args,
                             grid={"learning_rate": lrs}, seeds=[0], steps=args.parity_steps, impl="both",
                             record_path=False))
        cell.execute()
        for g in cell.groups:
            timing.warm_up(g.program.time, seconds=0.2, at_least=3)
        cell.time(args.repeats)
        ours = [g for g in cell.groups if g.impl == "gdbench"][0]
        twin = [g for g in cell.groups if g.impl == "optax"][0]
        ratios = np.asarray(ours.times) / np.asarray(twin.times)
        rows.append((name, np.median(ours.times) / args.parity_steps, np.median(twin.times) / args.parity_steps,
                     float(np.median(ratios)), float(np.percentile(ratios, 25)), float(np.percentile(ratios, 75))))
    args_text = ",".join(f"{k}={v}" for k, v in args.parity_args.items())
    lines = [
        f"### Our optimizers vs optax's: time per step, {args.parity_problem}({args_text}), "
        f"{args.parity_configs} configurations, {args.parity_steps:,} steps, {args.repeats} interleaved repeats",
        "",
        f"`python -m bench.dev.perf parity --repeats {args.repeats}`, on {timing.device()}",
        "",
        "| optimizer | ours us/step | optax us/step | median ratio | IQR |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, a, b, r, lo, hi in rows:
        lines.append(f"| {name} | {a * 1e6:.2f} | {b * 1e6:.2f} | {r:.3f} | {lo:.3f}-{hi:.3f} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- paths


def paths(args: argparse.Namespace) -> str:
    """The sweep's throughput with its parameter paths recorded over without, in one process.

    Both programs are compiled as `bench.sweep` compiles them (record_path True
    and False), warmed up, then timed alternated (without, with, without, ...);
    the ratio is that of their median times, and, steadier on a busy machine
    (noise mostly adds time), of their 25th percentiles, and of their median
    CPU times (all threads; waiting for a core shared with other work does not
    count). Their losses must be the same.
    """
    import bench  # noqa: F401  (gdbench's XLA settings)
    from bench.core import cells

    programs = {}
    for record in (False, True):
        cell = cells.prepare(cells.SweepSpec("rosenbrock", "adam", problem_args={"dim": 2},
                             grid={"learning_rate": [float(v) for v in timing.lrs(args.configs)]}, seeds=[0],
                             steps=args.steps, record_path=record))
        (group,) = cell.groups
        programs[record] = group.program
    same_losses = bool(np.array_equal(programs[False]()["losses"], programs[True]()["losses"]))
    for program in programs.values():
        timing.warm_up(program.time)
    times = {record: [] for record in programs}
    cpu = {record: [] for record in programs}
    for _ in range(args.rounds * args.repeats):
        for record, program in programs.items():
            start = time.process_time()
            times[record].append(program.time())
            cpu[record].append(time.process_time() - start)
    rate = {k: args.configs * args.steps / float(np.median(v)) for k, v in times.items()}
    low = {k: float(np.percentile(v, 25)) for k, v in times.items()}
    per_round = np.asarray(times[False]) / np.asarray(times[True])
    return "\n".join([
        f"### Recording parameter paths: {args.configs}-configuration Adam sweep of Rosenbrock-2D, "
        f"{args.steps:,} steps",
        "",
        f"`python -m bench.dev.perf paths --configs {args.configs} --steps {args.steps} --rounds {args.rounds} "
        f"--repeats {args.repeats}`, on {timing.device(list(programs[True].mesh.devices.flat))}; "
        f"{len(per_round)} alternated runs each",
        "",
        "| | optimizer-steps/s |",
        "|---|---:|",
        f"| without paths (record_path=False) | {rate[False]:.3g} |",
        f"| with paths (record_path=True, the default up to 3 dimensions) | {rate[True]:.3g} |",
        "",
        f"With / without: {rate[True] / rate[False]:.2f}x (ratio of medians), {low[False] / low[True]:.2f}x "
        f"(of 25th percentiles), {np.median(cpu[False]) / np.median(cpu[True]):.2f}x (of median CPU times); "
        f"run by run: quartiles "
        f"{np.percentile(per_round, 25):.2f}x-{np.percentile(per_round, 75):.2f}x. "
        f"Same losses with and without: {same_losses}.",
    ])


# ----------------------------------------------------------------------------- CLI


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.dev.perf")
    p.add_argument("what", choices=["sweep", "large", "parity", "paths", "all", "_worker"])
    p.add_argument("kind", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--configs", type=int, default=256)
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--dims", type=float, nargs="+", default=[1e6, 1e7])
    p.add_argument("--large-steps", type=int, default=50)
    p.add_argument("--bandwidth", action="store_true",
                   help="large: add bytes moved per second against a device copy's")
    p.add_argument("--parity-problem", default="quadratic")
    p.add_argument("--parity-steps", type=int, default=2000)
    p.add_argument("--parity-configs", type=int, default=16)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--impl", default="optax", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.parity_args = {"dim": 1000, "condition_number": 1e3, "rotate": False}
    if args.what == "_worker":
        result = {"a": lambda: worker_a(args.configs, args.steps, args.repeats),
                  "b": lambda: worker_b(args.configs, args.steps, args.repeats, args.out),
                  "bstar": lambda: worker_bstar(args.configs, args.steps, args.repeats, args.out, args.impl),
                  "c": lambda: worker_c(args.configs, args.steps, args.repeats, args.out, args.impl)}[args.kind]()
        print(json.dumps(result))
        return 0
    parts = []
    if args.what in ("sweep", "all"):
        parts.append(sweep(args))
    if args.what in ("large", "all"):
        parts.append(perf_large.large(args))
    if args.what in ("parity", "all"):
        parts.append(parity(args))
    if args.what in ("paths", "all"):
        parts.append(paths(args))
    print("\n\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
