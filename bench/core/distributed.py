"""Multi-process runs on JAX's own distributed runtime: `gdbench run --distributed`.

Every process runs the same suite. `jax.distributed.initialize` joins them
(it reads SLURM, Open MPI and cloud TPU environments by itself, or takes the
coordinator's address, the number of processes and this one's index), after
which `jax.devices()` lists every process's devices: a cell's mesh spans them
all, so its lanes are split over every host as over one host's devices (one
program, no communication inside it). Inputs are placed on the global mesh
with `jax.device_put` (every process computes the same host data: the suite,
seeds and problem data are deterministic); outputs come back to every process
with one all-gather (`multihost_utils.process_allgather`, gloo on the CPU), so
each process holds the whole cell and takes the same decisions (f_ref, the
next cell). Process 0 alone writes the results folder; the others learn from
it which cells a resumed folder already holds (`agree`).

A process that stops makes the others' next all-gather fail (the peer's
connection closes): they end with one line (`PeerLost`) and a nonzero exit
code, process 0 keeping the cells it finished (`--resume` goes on with them).
When process 0 stops, JAX's runtime ends the others itself (an abort, exit
code 134), its log shortened to one line by `runtimelog`.
Timings are process 0's: the time of its share of the lanes.
"""

from __future__ import annotations

import dataclasses
import re
import socket
from typing import Any, Callable

import numpy as np

from bench.core import runtimelog
from bench.errors import ConfigError

#: Seconds a process waits for the others to join, and after which the
#: coordination service counts a silent process as dead.
JOIN_TIMEOUT_S = 300
HEARTBEAT_TIMEOUT_S = 100
_ADDRESS = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[^:\s\[\]]+):(?P<port>\d+)$")


class DistributedError(RuntimeError):
    """The processes of a run could not join, or lost one of them: a one-line message."""


class PeerLost(DistributedError):
    """Another process of the run stopped (died, was killed or interrupted)."""


@dataclasses.dataclass(frozen=True)
class Options:
    """How this process joins the run: all three set (explicit) or none (JAX detects the cluster)."""

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None

    @property
    def explicit(self) -> bool:
        return self.coordinator is not None


def options(distributed: bool, coordinator: str | None = None, num_processes: int | None = None,
            process_id: int | None = None) -> Options | None:
    """The validated options of `run --distributed` (None: a one-process run); ConfigError naming the flag.

    `--coordinator HOST:PORT --num-processes N --process-id I` go together, and
    imply `--distributed`; `--distributed` alone lets JAX read the cluster's
    environment.
    """
    given = {"--coordinator": coordinator, "--num-processes": num_processes, "--process-id": process_id}
    if not distributed and all(v is None for v in given.values()):
        return None
    if num_processes is not None and num_processes < 1:
        raise ConfigError("--num-processes", f"must be an integer >= 1, got {num_processes}")
    if process_id is not None and process_id < 0:
        raise ConfigError("--process-id", f"must be an integer >= 0, got {process_id}")
    if coordinator is not None:
        match = _ADDRESS.match(coordinator)
        if not match or not 1 <= int(match["port"]) <= 65535:
            raise ConfigError("--coordinator", f"must be HOST:PORT with a port in 1..65535, got {coordinator!r}")
    missing = [k for k, v in given.items() if v is None]
    if len(missing) < 3 and missing:
        have = next(k for k, v in given.items() if v is not None)
        raise ConfigError(missing[0], f"is needed with {have} (give --coordinator HOST:PORT, --num-processes N "
                                      "and --process-id I together, or --distributed alone on a cluster)")
    if num_processes is not None and process_id >= num_processes:
        raise ConfigError("--process-id", f"must be in 0..{num_processes - 1} (--num-processes {num_processes}), "
                                          f"got {process_id}")
    return Options(coordinator, num_processes, process_id)


def initialize(opts: Options, join_timeout_s: int = JOIN_TIMEOUT_S,
               heartbeat_timeout_s: int = HEARTBEAT_TIMEOUT_S) -> None:
    """Joins this process to the run (before JAX starts its backends).

    ConfigError when `--distributed` alone finds no cluster environment;
    DistributedError when JAX refuses to join. When the processes do not all
    join within `join_timeout_s`, JAX's runtime ends the process (its own log).
    Once joined, the runtime's log goes through `runtimelog`'s filter.
    """
    import jax

    try:  # gloo carries the CPU's cross-process all-gathers (the default, said once more)
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except (AttributeError, ValueError):  # a JAX without the option: its own default
        pass
    kwargs: dict[str, Any] = dict(initialization_timeout=join_timeout_s, heartbeat_timeout_seconds=heartbeat_timeout_s)
    if opts.explicit:
        kwargs.update(coordinator_address=opts.coordinator, num_processes=opts.num_processes,
                      process_id=opts.process_id)
    try:  # TPU preemption notices, which gdbench does not use: its service only adds log lines when a peer stops
        jax.config.update("jax_enable_preemption_service", False)
    except (AttributeError, ValueError):
        pass
    try:
        jax.distributed.initialize(**kwargs)
    except ValueError as e:
        if opts.explicit:
            raise DistributedError(f"could not join the run: {_first_line(e)}") from None
        raise ConfigError("--distributed", "found no cluster environment (SLURM, Open MPI, cloud TPU); give "
                                           "--coordinator HOST:PORT --num-processes N --process-id I") from None
    except Exception as e:  # noqa: BLE001 - JAX's runtime errors (a join timeout) have no common class
        raise DistributedError(f"could not join the run: {_first_line(e)}") from None
    runtimelog.start(jax.process_index(), jax.process_count())  # a peer's end: one line, not JAX's abort log


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def process_count() -> int:
    import jax

    return jax.process_count()


def is_writer() -> bool:
    """Whether this process writes the results folder: process 0 (every one-process run)."""
    import jax

    return jax.process_index() == 0


def local(devices: list) -> list:
    """The devices of `devices` that this process drives."""
    import jax

    mine = jax.process_index()
    return [d for d in devices if d.process_index == mine]


def mesh_devices(devices: list, n_lanes: int) -> list:
    """The devices a cell of `n_lanes` lanes is split over.

    One process: the first min(devices, lanes), at least one (no device without
    a real lane). Several: as many of each process's devices, at least one each,
    so that every process takes part in every program (as `jax.devices()`
    orders them: process 0's first).
    """
    processes = sorted({d.process_index for d in devices})
    if len(processes) == 1:
        return devices[: max(1, min(len(devices), n_lanes))]
    per = min(max(1, -(-n_lanes // len(processes))),  # the same number from each process
              *(sum(d.process_index == p for d in devices) for p in processes))
    rank = {p: 0 for p in processes}
    chosen = []
    for d in devices:
        if rank[d.process_index] < per:
            chosen.append(d)
        rank[d.process_index] += 1
    return chosen


def put(value: Any, sharding) -> Any:
    """Host data (the same in every process) as an array laid out by `sharding`.

    On a mesh spanning processes each process makes its own shards from its
    copy: no communication (`jax.device_put` would check, with a collective,
    that every process passed the same value).
    """
    import jax

    if sharding.is_fully_addressable:
        return jax.device_put(value, sharding)
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def to_host(tree: Any) -> Any:
    """A pytree of (possibly multi-process) arrays as NumPy arrays, in every process.

    A multi-process array is all-gathered (a collective: every process must
    call this at the same point); PeerLost if another process has stopped.
    """
    import jax

    leaves = jax.tree.leaves(tree)
    if all(getattr(a, "is_fully_addressable", True) for a in leaves):
        return jax.tree.map(np.asarray, tree)
    from jax.experimental import multihost_utils

    try:
        return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))
    except Exception as e:  # noqa: BLE001 - gloo's and the runtime's errors have no common class
        raise _lost(e) from None


def agree(value: Any) -> Any:
    """Process 0's `value` (a NumPy array or scalar of the same shape in every process), in every process."""
    if process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    try:
        return np.asarray(multihost_utils.broadcast_one_to_all(np.asarray(value)))
    except Exception as e:  # noqa: BLE001
        raise _lost(e) from None


def on_writer(make: Callable[[], Any], otherwise: Any) -> Any:
    """`make()` in process 0, `otherwise` in the others; an error of `make` stops every process.

    Process 0's error is raised there; the others raise a ConfigError (exit 2,
    as process 0) or a DistributedError saying that process 0 stopped, so that
    none of them waits for it in a collective.
    """
    if process_count() == 1:
        return make()
    error, value = None, otherwise
    if is_writer():
        try:
            value = make()
        except Exception as e:  # noqa: BLE001 - told to the others, then raised here
            error = e
    code = int(agree(np.int32(0 if error is None else 2 if isinstance(error, ConfigError) else 1)))
    if error is not None:
        raise error
    if code == 2:
        raise ConfigError("run", "process 0 refused it (its message says why)")
    if code:
        raise DistributedError("process 0 could not open the results folder (its message says why)")
    return value


def _lost(error: BaseException) -> PeerLost:
    import jax

    return PeerLost(f"process {jax.process_index()} of {jax.process_count()}: another process of the run stopped "
                    f"({_first_line(error)[:200]})")


def describe() -> dict[str, Any]:
    """Every process and its devices, for meta.json: {"process_count", "processes": [...]}.

    Each process's entry is its index, host name and devices (id, kind); the
    host names are gathered from every process (a collective).
    """
    import jax

    name = np.frombuffer(socket.gethostname().encode()[:64].ljust(64, b"\0"), np.uint8)
    names = [bytes(row).rstrip(b"\0").decode(errors="replace") for row in _gather_rows(name)]
    return {
        "process_count": jax.process_count(),
        "processes": [{"process_index": p, "host": names[p],
                       "devices": [{"id": d.id, "kind": d.device_kind} for d in jax.devices() if d.process_index == p]}
                      for p in range(jax.process_count())],
    }


def _gather_rows(row: np.ndarray) -> np.ndarray:
    """One row per process (stacked in process order)."""
    if process_count() == 1:
        return row[None]
    from jax.experimental import multihost_utils

    try:
        return np.asarray(multihost_utils.process_allgather(row))
    except Exception as e:  # noqa: BLE001
        raise _lost(e) from None


def free_port() -> int:
    """A TCP port free on this host now (for a coordinator on localhost, e.g. in tests)."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]
