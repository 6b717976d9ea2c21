"""Large problems: the engine's time per step against a bare `lax.scan` at n = 1e6, 1e7, and
the bytes a step moves per second against a device copy's (`python -m bench.dev.perf large
[--bandwidth]`). Results print as Markdown for results/PERFORMANCE.md."""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.dev.timing import device, warm_up


def large(args: argparse.Namespace) -> str:
    """Time per step at n = 1e6, 1e7: the engine (losses recorded, first hits) vs a bare scan,
    and vs the bare scan that only adds f(x) of each new point (the least any recording costs)."""
    import bench  # noqa: F401
    import jax
    import optax

    import problems
    from bench.core import cells

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
        cell = cells.prepare(cells.SweepSpec(p, "adam", grid={"learning_rate": [1e-3]}, seeds=[0], steps=steps,
                                             impl="optax",
                             record_path=False))
        cell.execute()
        (group,) = cell.groups
        runs = {"bare": lambda: jax.block_until_ready(bare_c(x0, data)),
                "loss": lambda: jax.block_until_ready(loss_c(x0, data)), "engine": group.program.time}
        for fn in runs.values():
            warm_up(fn, at_least=2)
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
        f"On {device()}.",
        "",
        f"`python -m bench.dev.perf large --dims {' '.join(f'{int(d):.0e}' for d in args.dims)} "
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
