"""How much device memory a cell's program needs, and how much it may use.

A cell's lanes are independent, so a program's memory is about lanes x (one
lane's share) + the problem data (replicated on each device). One lane's share
is estimated before compiling, from shapes alone (`jax.eval_shape`,
`jax.make_jaxpr`): its parameters, every implementation's optimizer state, the
stored losses and points, the block's work buffers, and the intermediates of
one lane's loss and gradient. Where the lanes do not fit in the budget
(`budget`: `max_memory`, or half of the free device memory), the engine runs
them in chunks of one compiled program (`bench.core.chunking`).
"""

from __future__ import annotations

import os
import re
from typing import Any

import jax
import numpy as np

from bench.core import engine, lanewise, minibatch, schedule
from bench.errors import ConfigError

#: The share of the free device memory a cell may use when no max_memory is given.
FREE_FRACTION = 0.5
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


def parse_size(value: Any, where: str = "max_memory") -> int:
    """A memory size in bytes: an integer (bytes) or a string such as '2GB', '512MiB', '1.5 GiB'.

    Units: B, kB, MB, GB, TB (powers of 1000), KiB, MiB, GiB, TiB (powers of
    1024), case-insensitive. ConfigError (naming `where`) for anything else or
    a size under one byte.
    """
    allowed = "a size such as 2GB or 512MiB (units B, kB, MB, GB, TB, KiB, MiB, GiB, TiB), or an integer of bytes"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        size = int(value)
    elif isinstance(value, str) and (m := _SIZE.fullmatch(value.strip().lower())) and m.group(2) in _UNITS:
        size = int(float(m.group(1)) * _UNITS[m.group(2)])
    else:
        raise ConfigError(where, f"must be {allowed}, got {value!r}")
    if size < 1:
        raise ConfigError(where, f"must be at least 1 byte, got {value!r}")
    return size


def format_size(n: float) -> str:
    """Bytes as a short binary-unit figure, e.g. '1.5 GiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def free_bytes(devices: list) -> int:
    """The memory free on `devices` now: on a GPU, each one's pool limit less its
    bytes in use (`Device.memory_stats`); on the CPU the host's available memory
    (MemAvailable; the CPU devices share it)."""
    if devices[0].platform != "cpu":
        total = 0
        for d in devices:
            stats = d.memory_stats() or {}
            if "bytes_limit" in stats:
                total += stats["bytes_limit"] - stats.get("bytes_in_use", 0)
        if total > 0:
            return total
    return _host_available()


def _host_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def budget(max_memory: int | None, devices: list) -> int:
    """The bytes a cell's program may use: `max_memory`, else FREE_FRACTION of the free memory."""
    return int(max_memory) if max_memory is not None else int(FREE_FRACTION * free_bytes(devices))


def tree_bytes(tree: Any) -> int:
    """Bytes of the arrays (or shapes) of a pytree."""
    return sum(int(np.prod(a.shape)) * np.dtype(a.dtype).itemsize for a in jax.tree.leaves(tree))


def _intermediate_bytes(fn, *args) -> int:
    """Bytes of every value `fn` computes (its jaxpr's outputs of each equation): an
    upper bound on its working memory, however XLA schedules it."""
    jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
    return sum(tree_bytes([v.aval]) for eqn in jaxpr.eqns for v in eqn.outvars if hasattr(v.aval, "shape"))


def lane_bytes(spec: engine.ProgramSpec, x0: Any, hp: dict, data: Any, n_targets: int, seed: int = 0) -> int:
    """Estimated device bytes of one lane of `spec`'s program.

    x0: one lane's starting point, lanes-last (leaves of shape (*leaf_shape, 1));
    hp: its traced hyperparameters, (1,) each; `data`: the problem data.
    """
    params = tree_bytes(x0)
    itemsize = np.dtype(jax.tree.leaves(x0)[0].dtype).itemsize
    with jax.numpy_rank_promotion("allow"):
        state = sum(tree_bytes(jax.eval_shape(lanewise.optimizer_step(spec, 1, make_tx)[0], x0, hp))
                    for make_tx in spec.make_txs)
        _, value_and_grad = lanewise.lane_functions(spec.loss_fn, 1)
        work = _intermediate_bytes(value_and_grad, x0, data)
        if spec.minibatch is not None:
            mb = spec.minibatch
            keys = minibatch.lane_keys(np.asarray([seed], np.int32))
            batch = jax.eval_shape(lambda: minibatch.draw(mb, keys, 0, data))
            _, mb_value_and_grad = lanewise.lane_functions(mb.loss, 1, minibatch.DATA_AXES)
            work += tree_bytes(batch) + _intermediate_bytes(mb_value_and_grad, x0, (data, batch))
    runs = schedule.plan(spec.schedule)
    points = len(spec.schedule.stored)
    losses = itemsize * (points + 1 + sum(r.slots.size + engine._buffer_rows(r) for r in runs))
    # While a cell is timed, each implementation holds its first run's path (the results)
    # and one buffer that its runs write in place (donated, reused from run to run).
    path = 2 * len(spec.make_txs) * points * params if spec.record_path else 0
    books = 4 * (2 * n_targets + 8)  # hits (in and out), the per-lane counters and flags
    # x, the block's start, the point after the update, the gradient, the updates
    # and the new state beside the old: about 4 parameters and 2 states more.
    return int(5 * params + 2 * state + work + losses + path + books)


def lanes_that_fit(per_lane: int, data: int, n_devices: int, budget_bytes: int, label: str) -> int:
    """How many lanes fit in the budget beside the data (replicated per device); ConfigError if not one."""
    fixed = data * n_devices
    if fixed + per_lane > budget_bytes:
        raise ConfigError("max_memory", f"one lane of {label} needs {format_size(fixed + per_lane)}, "
                                        f"the budget is {format_size(budget_bytes)}")
    return (budget_bytes - fixed) // per_lane


def least_lane_bytes(dim: int, data: Any, dtype, n_devices: int) -> int:
    """A lower bound of what one lane of a problem needs beside its data: the
    five parameter-sized arrays of `lane_bytes` (no optimizer state, no
    working memory, no stored losses), plus the data once per device."""
    return 5 * int(dim) * np.dtype(dtype).itemsize + tree_bytes(data) * n_devices


def check_one_lane_fits(problems: list, dtype, max_memory: int | None, devices: list) -> None:
    """ConfigError before anything runs if one lane of a problem cannot fit the budget.

    `problems`: (label, problem) pairs. The check uses `least_lane_bytes`, so
    it never refuses a problem that fits; a cell that passes it and still
    does not fit is refused when it compiles (`lanes_that_fit`).
    """
    limit = budget(max_memory, devices)
    for label, p in problems:
        need = least_lane_bytes(p.dim, p.data, dtype, len(devices))
        if need > limit:
            raise ConfigError("max_memory", f"one lane of {label} needs at least {format_size(need)}, "
                                            f"the budget is {format_size(limit)}")


def chunk_lanes(n_lanes: int, fit: int, n_devices: int) -> int:
    """Lanes per chunk: all when they fit, else as few chunks as fit, balanced.

    A chunk is a multiple of twice the devices where that fits (the last one
    is padded to the same size): a device with a single lane computes it in
    another order (`lanewise.lane_functions` drops the lanes axis), which can
    change the last bits of a sum, so at least two lanes per device keep the
    results those of the unchunked program.
    """
    if fit >= n_lanes:
        return n_lanes
    unit = 2 * n_devices if fit >= 2 * n_devices else n_devices if fit >= n_devices else 1
    fit -= fit % unit
    n_chunks = -(-n_lanes // fit)
    even = -(-(-(-n_lanes // n_chunks)) // unit) * unit
    return min(fit, even)
