"""What the pytest-benchmark tests share: their sizes, how they time, what each one records.

GDBENCH_PERF_QUICK=1 selects the smallest sizes, short programs and one timed
round each: `make test` runs the benchmarks so (tests/test_perf_bench.py), to
check that each one still compiles and runs, not to measure anything.
"""

from __future__ import annotations

import os
from typing import Any, Callable

QUICK = os.environ.get("GDBENCH_PERF_QUICK") == "1"
#: Problem sizes of the step benchmarks.
SIZES = (100,) if QUICK else (100, 10_000, 1_000_000)
#: Timed rounds (one call each) and untimed ones before them.
ROUNDS, WARMUP_ROUNDS = (1, 0) if QUICK else (20, 2)


def steps_per_call(n: int) -> int:
    """Optimizer steps per timed call: ~1e6 coordinate-steps, at least 10, so
    that a call measures the steps rather than the ~10 us of dispatching it."""
    return 10 if QUICK else max(10, 1_000_000 // n)


def xla_cost(compiled) -> dict[str, float | None]:
    """XLA's estimate of a compiled program's flops and bytes accessed.

    `Compiled.cost_analysis()` returns a dict in jax 0.10 (a list of one dict
    per program in older versions) and may be unavailable (None, or
    NotImplementedError) on some backends: then the fields are None.
    """
    try:
        cost = compiled.cost_analysis()
    except NotImplementedError:
        cost = None
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else None
    cost = cost or {}
    pick = lambda key: float(cost[key]) if key in cost else None
    return {"xla_flops": pick("flops"), "xla_bytes_accessed": pick("bytes accessed")}


def device_fields(devices=None) -> dict[str, Any]:
    """Where a benchmark ran: platform, device kind and count, JAX versions."""
    import jax
    import jaxlib

    devices = devices if devices is not None else jax.devices()
    return {"platform": devices[0].platform, "device_kind": devices[0].device_kind, "device_count": len(devices),
            "jax": jax.__version__, "jaxlib": jaxlib.__version__}


def timed(benchmark, fn: Callable[[], Any], per_call: int, unit: str) -> Any:
    """Times `fn` (compiled beforehand; it must wait for the device itself) in
    pedantic mode: WARMUP_ROUNDS untimed calls, then ROUNDS timed ones.

    Records in extra_info the `unit`s of work per call (`{unit}s_per_call`) and
    the median seconds per unit (`median_s_per_{unit}`); returns fn's result.
    """
    out = benchmark.pedantic(fn, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    benchmark.extra_info[f"{unit}s_per_call"] = per_call
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info[f"median_s_per_{unit}"] = benchmark.stats.stats.median / per_call
    benchmark.extra_info["quick"] = QUICK
    return out
