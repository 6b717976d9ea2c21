"""Performance measurements of the engine, side by side with plain JAX code.

    python -m bench.perf sweep     # 256-config Adam sweep of Rosenbrock-2D: (a), (b), (c)
    python -m bench.perf large     # quadratic n = 1e6, 1e7: engine vs a bare scan
    python -m bench.perf large --bandwidth   # ... and bytes moved per second vs a device copy
    python -m bench.perf parity    # every optimizer: our time per step / optax's
    python -m bench.perf paths     # the sweep with and without its parameter paths recorded
    python -m bench.perf all

`sweep` compares, in optimizer-steps per second,
  (a) a Python loop over a jitted optax step (one configuration at a time),
  (b) `jit(vmap(scan))` of optax.adam storing every step's loss, default XLA settings,
  (c) gdbench's engine as `bench.sweep` runs it (with its XLA:CPU settings).
(b) and (c) run in separate processes, since (c)'s settings are process-wide,
alternated (b c b c ...) over several rounds; each compiles, runs, warms up
(at least 5 executions and 0.5 s, the same for both), and reports the median
of its timed executions; the medians over rounds are compared.
(c)'s losses at its recorded steps and its first hits must equal (b)'s bit for bit.

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

LR_RANGE = (1e-4, 1e-1)
TARGETS = tuple(10.0 ** -k for k in range(1, 9))


def _lrs(configs: int) -> np.ndarray:
    return np.geomspace(*LR_RANGE, configs).astype(np.float32)


def _device(devices=None) -> str:
    """Where a measurement ran, for its table: platform, device kind, count, JAX version."""
    import jax

    devices = devices if devices is not None else jax.devices()
    d = devices[0]
    return f"{d.platform} ({d.device_kind}) x {len(devices)}, jax {jax.__version__}"


WARMUP_S = 0.5  # executions before timing, for (b) and (c) alike: the first few run slower


def _warm_up(fn, seconds: float = WARMUP_S, at_least: int = 5) -> None:
    start, n = time.perf_counter(), 0
    while n < at_least or time.perf_counter() - start < seconds:
        fn()
        n += 1


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# ----------------------------------------------------------------------------- workers


def worker_a(configs: int, steps: int, repeats: int) -> dict:
    """(a): for each step, call a jitted optax.adam step from Python (one config)."""
    import jax
    import optax

    import problems

    p = problems.get("rosenbrock", dim=2)
    lr = float(_lrs(configs)[configs // 2])
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

    seconds = _median_time(run, repeats)
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

    lrs = jnp.asarray(_lrs(configs))
    start = time.perf_counter()
    compiled = jax.jit(jax.vmap(trajectory)).lower(lrs).compile()
    compile_s = time.perf_counter() - start
    result = jax.block_until_ready(compiled(lrs))
    _warm_up(lambda: jax.block_until_ready(compiled(lrs)))
    seconds = _median_time(lambda: jax.block_until_ready(compiled(lrs)), repeats)
    np.savez(out, x=np.asarray(result[0]), losses=np.asarray(result[1]))
    return {"steps_per_s": configs * steps / seconds, "seconds": seconds, "compile_s": compile_s,
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "device": _device(list(result[0].devices()))}


def worker_c(configs: int, steps: int, repeats: int, out: str, impl: str) -> dict:
    """(c): the engine, through bench.cells as bench.sweep and gdbench run use it."""
    import bench  # noqa: F401  (applies gdbench's XLA settings before JAX starts)
    from bench import cells

    cell = cells.prepare("rosenbrock", "adam", problem_args={"dim": 2},
                         grid={"learning_rate": [float(v) for v in _lrs(configs)]}, seeds=[0], steps=steps,
                         impl=impl, record_path=False)
    cells.run_cell(cell, repeats=1)  # the results, as bench.sweep gets them
    (group,) = cell.groups
    _warm_up(group.program.time)
    seconds = _median_time(group.program.time, repeats)
    np.savez(out, losses=group.outputs["losses"].T, hits=group.outputs["hits"].T,
             points=cell.schedule.points())
    return {"steps_per_s": configs * steps / seconds, "seconds": seconds, "compile_s": group.program.compile_s,
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "devices": len(group.program.mesh.devices.flat),
            "device": _device(list(group.program.mesh.devices.flat))}


def _spawn(kind: str, args: argparse.Namespace, out: str, tuned: bool, impl: str = "optax") -> dict:
    env = dict(os.environ)
    if not tuned:
        env["GDBENCH_XLA_TUNING"] = "0"
        env.pop("XLA_FLAGS", None)
    cmd = [sys.executable, "-m", "bench.perf", "_worker", kind, "--configs", str(args.configs), "--steps",
           str(args.steps), "--repeats", str(args.repeats), "--out", out, "--impl", impl]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def first_hits(losses: np.ndarray) -> np.ndarray:
    """First-hit steps of the target ladder from every step's loss (relative to f* = 0)."""
    f0 = losses[:, :1]
    out = np.full((losses.shape[0], len(TARGETS)), -1)
    for k, tau in enumerate(TARGETS):
        below = losses <= np.float32(tau) * f0
        out[:, k] = np.where(below.any(axis=1), below.argmax(axis=1), -1)
    return out


def _rates(rounds: list[dict]) -> str:
    return ", ".join(f"{r['steps_per_s']:.3g}" for r in rounds)


def sweep(args: argparse.Namespace) -> str:
    a = worker_a(args.configs, min(args.steps, 2000), 3)
    rounds = {"b": [], "c": [], "c_ours": [], "c_untuned": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            rounds["b"].append(_spawn("b", args, f"{tmp}/b.npz", tuned=False))
            rounds["c"].append(_spawn("c", args, f"{tmp}/c.npz", tuned=True, impl="optax"))
            rounds["c_ours"].append(_spawn("c", args, f"{tmp}/c_ours.npz", tuned=True, impl="gdbench"))
            rounds["c_untuned"].append(_spawn("c", args, f"{tmp}/c_untuned.npz", tuned=False, impl="optax"))
        b, c, c_ours = (np.load(f"{tmp}/{n}.npz") for n in ("b", "c", "c_ours"))
        pts = c["points"]
        identical = {
            "losses": bool(np.array_equal(c["losses"], b["losses"][:, pts])),
            "first_hits": bool(np.array_equal(c["hits"], first_hits(b["losses"]))),
            "ours_losses": bool(np.array_equal(c_ours["losses"], b["losses"][:, pts])),
        }
    med = {k: float(np.median([r["steps_per_s"] for r in v])) for k, v in rounds.items()}
    per_round = [c["steps_per_s"] / b["steps_per_s"] for b, c in zip(rounds["b"], rounds["c"])]
    lines = [
        f"### Sweep throughput: {args.configs}-configuration Adam sweep of Rosenbrock-2D, {args.steps:,} steps",
        "",
        f"`python -m bench.perf sweep --configs {args.configs} --steps {args.steps} --rounds {args.rounds}`",
        "",
        "| | optimizer-steps/s | vs (a) | vs (b) |",
        "|---|---:|---:|---:|",
        f"| (a) Python loop over a jitted optax step | {a['steps_per_s']:.3g} | 1 | |",
        f"| (b) jit(vmap(scan(optax.adam))), every loss stored | {med['b']:.3g} | {med['b'] / a['steps_per_s']:.0f}x | 1 |",
        f"| (c) gdbench engine, optax's Adam | {med['c']:.3g} | {med['c'] / a['steps_per_s']:.0f}x | {med['c'] / med['b']:.2f}x |",
        f"| (c) gdbench engine, our Adam | {med['c_ours']:.3g} | {med['c_ours'] / a['steps_per_s']:.0f}x | {med['c_ours'] / med['b']:.2f}x |",
        f"| (c) without gdbench's XLA settings (GDBENCH_XLA_TUNING=0), optax's Adam | {med['c_untuned']:.3g} "
        f"| {med['c_untuned'] / a['steps_per_s']:.0f}x | {med['c_untuned'] / med['b']:.2f}x |",
        "",
        f"Per-round (b): {_rates(rounds['b'])}; (c): {_rates(rounds['c'])}; "
        f"(c)/(b) round by round: lowest {min(per_round):.2f}x, median {np.median(per_round):.2f}x. "
        f"Compile: (b) {rounds['b'][0]['compile_s']:.2f} s, (c) {rounds['c'][0]['compile_s']:.2f} s. "
        f"(b) ran on {rounds['b'][0]['device']}; (c) on {rounds['c'][0]['device']}.",
        f"Bit-identical to (b): losses at the recorded steps {identical['losses']}, first hits {identical['first_hits']}, "
        f"our Adam's losses {identical['ours_losses']}.",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- large problems


def large(args: argparse.Namespace) -> str:
    """Time per step at n = 1e6, 1e7: the engine (losses recorded, first hits) vs a bare scan,
    and vs the bare scan that only adds f(x) of each new point (the least any recording costs)."""
    import bench  # noqa: F401
    import jax
    import optax

    import problems
    from bench import cells

    rows, bandwidth_rows = [], []
    for n in args.dims:
        p = problems.get("quadratic", dim=int(n), condition_number=1e3, rotate=False)
        steps = args.large_steps
        tx = optax.adam(1e-3)
        x0 = p.init(jax.random.PRNGKey(0))
        data = jax.tree.map(lambda a: jax.numpy.asarray(a, np.float32), p.data)

        def scan(record: bool):
            def run(x, data):
                def body(carry, _):
                    x, state = carry
                    grad = jax.grad(lambda x: p.fn(x, data))(x)
                    updates, state = tx.update(grad, state, x)
                    x = optax.apply_updates(x, updates)
                    return (x, state), (p.fn(x, data) if record else None)

                return jax.lax.scan(body, (x, tx.init(x)), None, length=steps)

            return jax.jit(run).lower(x0, data).compile()

        bare_c, loss_c = scan(False), scan(True)  # loss_c: the bare scan plus f(x) of each new point
        cell = cells.prepare(p, "adam", grid={"learning_rate": [1e-3]}, seeds=[0], steps=steps, impl="optax",
                             record_path=False)
        cell.execute()
        (group,) = cell.groups
        runs = {"bare": lambda: jax.block_until_ready(bare_c(x0, data)),
                "loss": lambda: jax.block_until_ready(loss_c(x0, data)), "engine": group.program.time}
        for fn in runs.values():
            _warm_up(fn, at_least=2)
        times = {k: [] for k in runs}
        for _ in range(args.repeats):  # interleaved
            for k, fn in runs.items():
                start = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - start)
        tb, tl, te = (np.median(times[k]) / steps for k in ("bare", "loss", "engine"))
        rows.append(f"| {int(n):.0e} | {steps} | {tb * 1e3:.2f} | {tl * 1e3:.2f} ({tl / tb:.2f}x) | "
                    f"{te * 1e3:.2f} | {te / tb:.2f}x |")
        if args.bandwidth:
            bandwidth_rows.append(bandwidth_row(int(n), x0.dtype, step_bytes(tx, x0, data),
                                                {"bare": tb, "loss": tl, "engine": te}, args.repeats))
    tables = "\n".join([
        "### Large problems: Adam on a diagonal quadratic, one trajectory",
        "",
        f"On {_device()}.",
        "",
        f"`python -m bench.perf large --dims {' '.join(f'{int(d):.0e}' for d in args.dims)} "
        f"--large-steps {args.large_steps} --repeats {args.repeats}{' --bandwidth' if args.bandwidth else ''}`",
        "",
        "| n | steps | bare scan ms/step | bare scan + f(x) per step, ms/step | engine ms/step (losses + first hits) "
        "| engine / bare |",
        "|---:|---:|---:|---:|---:|---:|",
        *rows,
    ])
    return tables + ("\n\n" + bandwidth_table(bandwidth_rows) if args.bandwidth else "")


def step_bytes(tx, x, data) -> int:
    """The least memory traffic of one step: x and every optimizer state array of x's size
    read and written once, every data array of that size read once (Adam on the diagonal
    quadratic: x, m, v read and written, the eigenvalues and x* read: 8 arrays of n numbers)."""
    import jax

    def size(a) -> int:
        return int(np.prod(a.shape))

    def big(tree):
        return [a for a in jax.tree.leaves(tree) if size(a) == size(x)]

    def nbytes(arrays) -> int:
        return sum(size(a) * np.dtype(a.dtype).itemsize for a in arrays)

    return 2 * nbytes([x, *big(jax.eval_shape(tx.init, x))]) + nbytes(big(data))


def copy_seconds(n: int, repeats: int, dtype) -> float:
    """Median seconds of `x + 1` over n numbers, compiled with x donated (in place), each run
    waited for before the clock is read: the memory-bound ceiling a step of n numbers can reach
    on this device (it reads and writes every number once; per-run launch overhead included)."""
    import jax
    import jax.numpy as jnp

    add_one = jax.jit(lambda x: x + 1, donate_argnums=0)
    x = jax.block_until_ready(add_one(jnp.zeros((n,), dtype)))
    for _ in range(3):
        x = jax.block_until_ready(add_one(x))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        x = jax.block_until_ready(add_one(x))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bandwidth_row(n: int, dtype, bytes_per_step: int, step_s: dict[str, float], repeats: int) -> dict:
    """One row of `bandwidth_table`: bytes per step, the copy's and each variant's bytes per second."""
    copy_s = copy_seconds(n, max(repeats, 20), dtype)
    return {"n": n, "bytes": bytes_per_step, "copy": 2 * n * np.dtype(dtype).itemsize / copy_s,
            **{k: bytes_per_step / s for k, s in step_s.items()}}


def bandwidth_table(rows: list[dict]) -> str:
    """Adam's bytes moved per second next to the device's copy bandwidth at the same size."""
    def cell(r, k):
        return f"{r[k] / 1e9:.1f} ({r[k] / r['copy']:.0%})"

    return "\n".join([
        "Bytes moved per step over time per step, against a donated in-place `x + 1` over n numbers "
        "(reads and writes each number once: the ceiling at that size; per-call launch overhead included). "
        "A step's bytes: x and Adam's two moments read and written, the eigenvalues and x* read.",
        "",
        "| n | MB per step | copy GB/s | bare scan GB/s (of copy) | bare scan + f(x) GB/s (of copy) "
        "| engine GB/s (of copy) |",
        "|---:|---:|---:|---:|---:|---:|",
        *(f"| {r['n']:.0e} | {r['bytes'] / 1e6:.3g} | {r['copy'] / 1e9:.1f} | {cell(r, 'bare')} | "
          f"{cell(r, 'loss')} | {cell(r, 'engine')} |" for r in rows),
    ])


# ----------------------------------------------------------------------------- parity


def parity(args: argparse.Namespace) -> str:
    """Per optimizer: our time per step over optax's, timed interleaved in one process."""
    import bench  # noqa: F401

    import optimizers
    from bench import cells

    rows = []
    for name in optimizers.names():
        spec = optimizers.get(name)
        if spec.twin is None:
            continue
        lr = float(np.sqrt(np.prod(spec.search_space["learning_rate"][:2]))) if "learning_rate" in spec.search_space \
            else spec.defaults.get("learning_rate")
        lrs = [lr * f for f in np.geomspace(0.1, 1.0, args.parity_configs)]
        cell = cells.prepare(args.parity_problem, name, problem_args=args.parity_args,
                             grid={"learning_rate": lrs}, seeds=[0], steps=args.parity_steps, impl="both",
                             record_path=False)
        cell.execute()
        for g in cell.groups:
            _warm_up(g.program.time, seconds=0.2, at_least=3)
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
        f"`python -m bench.perf parity --repeats {args.repeats}`, on {_device()}",
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
    from bench import cells

    programs = {}
    for record in (False, True):
        cell = cells.prepare("rosenbrock", "adam", problem_args={"dim": 2},
                             grid={"learning_rate": [float(v) for v in _lrs(args.configs)]}, seeds=[0],
                             steps=args.steps, record_path=record)
        (group,) = cell.groups
        programs[record] = group.program
    same_losses = bool(np.array_equal(programs[False]()["losses"], programs[True]()["losses"]))
    for program in programs.values():
        _warm_up(program.time)
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
        f"`python -m bench.perf paths --configs {args.configs} --steps {args.steps} --rounds {args.rounds} "
        f"--repeats {args.repeats}`, on {_device(list(programs[True].mesh.devices.flat))}; "
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
    p = argparse.ArgumentParser(prog="python -m bench.perf")
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
                  "c": lambda: worker_c(args.configs, args.steps, args.repeats, args.out, args.impl)}[args.kind]()
        print(json.dumps(result))
        return 0
    parts = []
    if args.what in ("sweep", "all"):
        parts.append(sweep(args))
    if args.what in ("large", "all"):
        parts.append(large(args))
    if args.what in ("parity", "all"):
        parts.append(parity(args))
    if args.what in ("paths", "all"):
        parts.append(paths(args))
    print("\n\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
