"""Process-wide XLA:CPU settings for sweeps, applied before JAX starts its backends.

Two settings were measured to speed up batched small loops on the CPU without
changing any number (../shared guide, section 3; results/PERFORMANCE.md):

* `xla_cpu_small_while_loop_byte_threshold`: XLA:CPU compiles a `while` loop
  into one function only when its estimated bytes accessed are under a small
  threshold (1 KiB); a vmapped step loop is over it, so every iteration
  dispatches its fusions one by one. 1e6 lets the sweep's loops compile whole;
  much higher (1e9) makes large-problem loops single-threaded, so not that.
* `xla_force_host_platform_device_count`: one CPU "device" per core, so the
  engine's `shard_map` over lanes runs each core's share as its own loop.

They are environment settings read once, when JAX creates its CPU client, so
they only take effect if applied before that; `apply()` says whether they did.
A flag the user already set in XLA_FLAGS is left as the user set it, and
GDBENCH_XLA_TUNING=0 turns the whole thing off.
"""

from __future__ import annotations

import os

SMALL_LOOP_FLAG = "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=1000000"
DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def flags(host_devices: int | None = None) -> list[str]:
    """The flags gdbench adds: the loop threshold and one host device per core."""
    n = host_devices if host_devices is not None else (os.cpu_count() or 1)
    return [SMALL_LOOP_FLAG, f"{DEVICE_COUNT_FLAG}={max(1, n)}"]


def apply(host_devices: int | None = None) -> bool:
    """Adds gdbench's flags to XLA_FLAGS if JAX's backends have not started yet.

    Returns True when the flags are in force for this process.
    """
    if os.environ.get("GDBENCH_XLA_TUNING", "1") == "0":
        return False
    from jax._src import xla_bridge  # the only way to ask whether backends exist yet

    current = os.environ.get("XLA_FLAGS", "")
    if xla_bridge.backends_are_initialized():
        return all(f.split("=")[0] in current for f in flags(host_devices))
    wanted = [f for f in flags(host_devices) if f.split("=")[0] not in current]
    os.environ["XLA_FLAGS"] = " ".join([current, *wanted]).strip()
    return True
