"""What every measurement of bench.dev shares: the sweep's learning rates, the target ladder,
warming a program up, its median time, and the device line of each table."""

from __future__ import annotations

import time

import numpy as np

LR_RANGE = (1e-4, 1e-1)
TARGETS = tuple(10.0 ** -k for k in range(1, 9))


def lrs(configs: int) -> np.ndarray:
    return np.geomspace(*LR_RANGE, configs).astype(np.float32)


def device(devices=None) -> str:
    """Where a measurement ran, for its table: platform, device kind, count, JAX version."""
    import jax

    devices = devices if devices is not None else jax.devices()
    d = devices[0]
    return f"{d.platform} ({d.device_kind}) x {len(devices)}, jax {jax.__version__}"


WARMUP_S = 0.5  # executions before timing, for (b) and (c) alike: the first few run slower


def warm_up(fn, seconds: float = WARMUP_S, at_least: int = 5) -> None:
    start, n = time.perf_counter(), 0
    while n < at_least or time.perf_counter() - start < seconds:
        fn()
        n += 1


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def alternated(programs: dict, rounds: int) -> dict:
    """Each compiled program's run times (seconds, `Program.time`) over `rounds` rounds that run
    every program once in turn, so that the machine's phases fall on all alike."""
    times = {name: [] for name in programs}
    for _ in range(rounds):
        for name, program in programs.items():
            times[name].append(program.time())
    return {name: np.asarray(t) for name, t in times.items()}
