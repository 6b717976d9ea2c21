"""pytest-benchmark set-up: the GPU and JAX fields of machine_info.

The benchmarks here are skipped by the default test run (`--benchmark-skip`
in pyproject's addopts); `make perf-json OUT=file.json` times them and writes
pytest-benchmark's JSON (see the README).
"""

from __future__ import annotations

import os

import bench  # noqa: F401  (applies gdbench's XLA:CPU settings before JAX starts, as `gdbench run` does)


def pytest_benchmark_update_machine_info(config, machine_info):
    """Adds what pytest-benchmark does not record: JAX, its devices, the GPU, XLA flags."""
    import jax
    import jaxlib

    from bench.runs import results

    devices = jax.devices()
    gpus = [d for d in devices if d.platform == "gpu"]
    machine_info["jax"] = {
        "version": jax.__version__, "jaxlib": jaxlib.__version__, "backend": devices[0].platform,
        "device_kind": devices[0].device_kind, "device_count": len(devices),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    machine_info["gpu"] = None if not gpus else {
        "device_kind": gpus[0].device_kind, "count": len(gpus),
        "compute_capability": getattr(gpus[0], "compute_capability", None),
        "memory_bytes": (gpus[0].memory_stats() or {}).get("bytes_limit"),
    }
    machine_info["gdbench_git"] = results.git_state()
