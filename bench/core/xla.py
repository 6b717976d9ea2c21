"""XLA:CPU settings for sweeps: two process-wide, applied before JAX starts its backends, one per program.

Three settings were measured to speed up batched small loops on the CPU without
changing the results of the sweep in results/PERFORMANCE.md (bit for bit; the
third can change the last bits elsewhere, see there):

* `xla_cpu_small_while_loop_byte_threshold`: XLA:CPU compiles a `while` loop
  into one function only when its estimated bytes accessed are under a small
  threshold (1 KiB); a vmapped step loop is over it, so every iteration
  dispatches its fusions one by one. 1e6 lets the sweep's loops compile whole;
  much higher (1e9) makes large-problem loops single-threaded, so not that.
* `xla_force_host_platform_device_count`: one CPU "device" per core, so the
  engine's `shard_map` over lanes runs each core's share as its own loop.
* `xla_cpu_prefer_vector_width=512`, per program (`compile_options`, which the
  engine passes when it compiles a cell): XLA:CPU's code generator uses 256-bit
  vectors by default; the engine's step loops are short runs of elementwise
  arithmetic (square roots and divisions for Adam) over a few hundred lanes,
  and 512-bit vectors ran the sweep ~1.5x faster on an AVX-512 CPU (AMD Zen 4).
  On a CPU without AVX-512 it changes nothing. The sweep's numbers stay the
  same bit for bit, and so did those of 68 of 72 cells checked (every
  optimizer on Rosenbrock-2D and on a 100-D quadratic, float32 and float64);
  AdaGrad (both dtypes), RMSProp and AdaDelta (float32) on the quadratic
  came out different in the last bits (relative 1e-6 in float32, 1e-14 in
  float64, growing along the trajectory as rounding differences do). Ours and
  optax's run in one program, so their comparison is unaffected; meta.json
  records the options a run was compiled with.

The first two are environment settings read once, when JAX creates its CPU
client, so they only take effect if applied before that; `apply()` says whether
they did. A flag the user already set in XLA_FLAGS is left as the user set it,
and GDBENCH_XLA_TUNING=0 turns all three off.
"""

from __future__ import annotations

import functools
import os
import warnings

SMALL_LOOP_FLAG = "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=1000000"
DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def flags(host_devices: int | None = None) -> list[str]:
    """The flags gdbench adds: the loop threshold and one host device per core."""
    n = host_devices if host_devices is not None else (os.cpu_count() or 1)
    return [SMALL_LOOP_FLAG, f"{DEVICE_COUNT_FLAG}={max(1, n)}"]


class SettingsWarning(UserWarning):
    """gdbench's process-wide XLA:CPU settings could not be applied (JAX had already started)."""


def apply(host_devices: int | None = None) -> bool:
    """Adds gdbench's flags to XLA_FLAGS if JAX's backends have not started yet.

    Returns True when the flags are in force for this process. When they are
    wanted (tuning on) but JAX started without them, warns once (a
    SettingsWarning saying how to get them): sweeps then run several times
    slower on the CPU, and nothing else would tell.
    """
    if not _tuning_on():
        return False
    from jax._src import xla_bridge  # the only way to ask whether backends exist yet

    current = os.environ.get("XLA_FLAGS", "")
    if xla_bridge.backends_are_initialized():
        in_force = _in_force(current, host_devices)
        if not in_force:
            _warn_not_in_force(tuple(flags(host_devices)))
        return in_force
    wanted = [f for f in flags(host_devices) if f.split("=")[0] not in current]
    os.environ["XLA_FLAGS"] = " ".join([current, *wanted]).strip()
    return True


@functools.cache  # once per process, wherever apply() is called from
def _warn_not_in_force(wanted: tuple[str, ...]) -> None:
    warnings.warn(
        "gdbench: JAX started before `import bench`, so gdbench's XLA:CPU settings are not in force "
        "and CPU sweeps may run several times slower; import bench before JAX runs anything, or set "
        f"XLA_FLAGS='{' '.join(wanted)}' before starting Python "
        "(GDBENCH_XLA_TUNING=0 turns the settings and this warning off)",
        SettingsWarning, stacklevel=3)


def _in_force(current: str, host_devices: int | None = None) -> bool:
    return all(f.split("=")[0] in current for f in flags(host_devices))


def settings() -> dict:
    """What gdbench's XLA settings are in this process (recorded in meta.json, shown by `bench.xla_settings()`).

    Keys: `tuning` (GDBENCH_XLA_TUNING is not 0), `process_flags` (the
    process-wide flags are in XLA_FLAGS, so in force if JAX started after
    them), `jax_started` (JAX's backends exist: XLA_FLAGS can no longer change
    anything), `xla_flags` (the environment variable as it is),
    `cpu_compile_options` (the per-program options CPU programs get).
    """
    from jax._src import xla_bridge

    current = os.environ.get("XLA_FLAGS", "")
    return {
        "tuning": _tuning_on(),
        "process_flags": _tuning_on() and _in_force(current),
        "jax_started": xla_bridge.backends_are_initialized(),
        "xla_flags": current,
        "cpu_compile_options": compile_options("cpu") or {},
    }


VECTOR_WIDTH_OPTION = "xla_cpu_prefer_vector_width"


def _tuning_on() -> bool:
    return os.environ.get("GDBENCH_XLA_TUNING", "1") != "0"


def compile_options(platform: str) -> dict[str, int] | None:
    """The per-program XLA options for a program compiled for `platform` ("cpu", "gpu"), or None.

    None also where the user set the option in XLA_FLAGS, or where this XLA
    does not know it (an option XLA does not know fails the compilation).
    """
    if platform != "cpu" or not _tuning_on() or VECTOR_WIDTH_OPTION in os.environ.get("XLA_FLAGS", ""):
        return None
    options = {VECTOR_WIDTH_OPTION: 512}
    return options if _accepted(tuple(options.items())) else None


@functools.cache
def _accepted(options: tuple) -> bool:
    """Whether XLA:CPU compiles a trivial program with these options (once per process)."""
    import jax
    import numpy as np

    x = jax.device_put(np.float32(0), jax.devices("cpu")[0])
    try:
        jax.jit(lambda x: x + 1).lower(x).compile(compiler_options=dict(options))
    except jax.errors.JaxRuntimeError:  # XLA: "No such compile option"
        return False
    return True
