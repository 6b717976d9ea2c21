"""A cell's compiled program: its inputs put on the device(s), launched, timed and fetched.

`compile_program` lowers the engine's program (`bench.core.engine.trajectories`)
ahead of time with its lanes split over the devices (`shard_map`); a `Program`
holds the compiled executable with its `ProgramInputs` on the devices, runs it
(`launch`: the seconds until its outputs are ready, waiting in a way Ctrl-C
interrupts), and brings its outputs to the host (`fetch`). Timing reads the
clock around the launch only: compilation is apart (`compile_s`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any, Mapping, Protocol

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from bench.core import distributed, xla
from bench.core.engine import LANES, ProgramSpec, ProgramInputs, initial_buffers, path_buffer, trajectories

PyTree = Any
#: A launch that may run longer than this (the first of a program, or one whose
#: last launch took longer) runs in a helper thread while the main thread waits
#: in Python, waking every WAKE_S, so that Ctrl-C and SIGTERM are handled at once
#: instead of when XLA returns; shorter ones run on the calling thread. The
#: timed span is the same in both (call and wait, measured where they happen).
HELPER_THREAD_MIN_S = 0.25
WAKE_S = 0.05
PROGRAM_THREAD = "gdbench-program"  # the helper thread's name


class Runnable(Protocol):
    """What a runner needs of a compiled spec: `Program`, and `bench.core.chunking.ChunkedProgram`
    (one program over a cell's lanes a chunk at a time) that stands in for it."""

    n_lanes: int  # the real lanes (padding dropped)
    compile_s: float

    def running(self, which: int) -> "Runnable":
        """The same compiled program, set to run implementation `which` of its spec."""

    def launch(self, f_ref: float | None = None) -> tuple[float, Any]:
        """Runs once: the seconds until the outputs are ready, and the outputs."""

    def fetch(self, out: Any) -> dict[str, Any]:
        """`launch`'s outputs as NumPy arrays, padding lanes dropped."""

    def recycle(self, out: Any) -> None:
        """Keeps what the next run may reuse of `launch`'s outputs (then unused)."""

    def release(self) -> None:
        """Frees what `recycle` kept."""

    def __call__(self, f_ref: float | None = None) -> dict[str, Any]:
        """`fetch(launch(f_ref)[1])`."""

    def time(self, f_ref: float | None = None) -> float:
        """The seconds of one run, its outputs dropped."""


def _lane_spec(ndim: int) -> P:
    return P(*([None] * (ndim - 1)), LANES)


def _in_specs(inputs: ProgramInputs) -> ProgramInputs:
    """Each input's sharding: lanes split over the devices on their last axis, the rest replicated."""
    lanes = lambda tree: jax.tree.map(lambda a: _lane_spec(np.ndim(a)), tree)
    return ProgramInputs(x0=lanes(inputs.x0), hp=lanes(inputs.hp), data=jax.tree.map(lambda _: P(), inputs.data),
                         targets=P(), f_ref=P(), init=lanes(inputs.init), which=P())


def _path_specs(path: PyTree) -> PyTree:
    """The path buffer's: lanes-last, as every output."""
    return jax.tree.map(lambda s: _lane_spec(len(s.shape)), path)


def _out_specs(spec: ProgramSpec, x0: PyTree) -> dict:
    """Every output keeps its lanes on the last axis (see `trajectories`)."""
    specs = dict(
        losses=_lane_spec(2),
        hits=_lane_spec(2),
        best_loss=_lane_spec(1),
        final_loss=_lane_spec(1),
        grad_norm=_lane_spec(1),
        diverged_step=_lane_spec(1),
        hit_evals=_lane_spec(2),
        evals=_lane_spec(1),
    )
    if spec.record_path:
        specs["path"] = jax.tree.map(lambda a: _lane_spec(np.ndim(a) + 1), x0)
    return specs


def make_mesh(devices: list) -> Mesh:
    return Mesh(np.asarray(devices), (LANES,))


@dataclasses.dataclass
class Program:
    """A compiled cell program with its inputs on the device(s).

    Calling it runs every lane once and returns the outputs as NumPy arrays
    with the padding lanes dropped; `time` runs it and returns the seconds,
    waiting for the device (`block_until_ready`) but not copying anything back.

    The path buffer (`path_buffer`) is donated to each run: a run takes
    `spare`, a buffer left by an earlier run whose outputs were dropped
    (`recycle`), or else a fresh one made before the clock starts. Reusing
    it saves the copy of the buffer and the fresh output that a run would
    otherwise pay for (up to a tenth of a 2-D sweep's time).
    """

    compiled: Any
    inputs: ProgramInputs  # on the device(s); the path buffer apart (`path`, `spare`)
    n_lanes: int
    compile_s: float  # tracing, lowering and XLA compilation
    mesh: Mesh
    trace_s: float = 0.0  # of which tracing and lowering
    last_s: float | None = None  # the last launch's seconds: whether the next may block the caller
    path: PyTree = ()  # the path buffer's shapes and shardings (`path_buffer`), () without a path
    spare: PyTree = dataclasses.field(default=None, init=False, repr=False, compare=False)  # not copied by replace

    def _inputs(self, f_ref: float | None) -> ProgramInputs:
        if f_ref is None:
            return self.inputs
        ref = distributed.put(np.asarray(f_ref, self.inputs.f_ref.dtype), NamedSharding(self.mesh, P()))
        return self.inputs._replace(f_ref=ref)

    def running(self, which: int) -> "Program":
        """The same compiled program, set to run implementation `which` of its spec."""
        index = distributed.put(np.asarray(which, np.int32), NamedSharding(self.mesh, P()))
        return dataclasses.replace(self, inputs=self.inputs._replace(which=index))

    def _path_buffer(self) -> PyTree:
        """The spare path buffer if there is one (then there is none), else a fresh one."""
        spare, self.spare = self.spare, None
        if spare is not None:
            return spare
        return jax.block_until_ready(
            jax.tree.map(lambda s: distributed.put(np.zeros(s.shape, s.dtype), s.sharding), self.path))

    def recycle(self, out: Any) -> None:
        """Keeps the path buffer of `launch`'s outputs for the next run; `out` must not be used after."""
        if jax.tree.leaves(self.path):
            self.spare = out["path"]

    def release(self) -> None:
        """Frees the spare buffer (no more runs to come soon: a runner holds a problem's cells at once)."""
        self.spare = None

    def launch(self, f_ref: float | None = None) -> tuple[float, Any]:
        """Runs once: the seconds until the outputs are ready, and the outputs, still on the device."""
        args = (self._inputs(f_ref), self._path_buffer())
        if self.last_s is not None and self.last_s < HELPER_THREAD_MIN_S:
            seconds, out = _timed_run(self.compiled, args)
        else:
            seconds, out = _wait(self.compiled, args)
        self.last_s = seconds
        return seconds, out

    def fetch(self, out: Any) -> dict[str, Any]:
        """Outputs of `launch` as NumPy arrays, padding lanes dropped (all lanes, from every process)."""
        return jax.tree.map(lambda a: a[..., : self.n_lanes], distributed.to_host(out))

    def __call__(self, f_ref: float | None = None) -> dict[str, Any]:
        return self.fetch(self.launch(f_ref)[1])

    def time(self, f_ref: float | None = None) -> float:
        seconds, out = self.launch(f_ref)
        self.recycle(out)
        return seconds


def _timed_run(compiled, args: tuple) -> tuple[float, Any]:
    start = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return time.perf_counter() - start, out


def _wait(compiled, args: tuple) -> tuple[float, Any]:
    """`_timed_run` in a daemon thread; the caller waits on an Event with a timeout.

    XLA runs a program, and `block_until_ready` waits for it, in C++, where
    Python's signal handlers cannot run: a KeyboardInterrupt would only surface
    when the program returns. Waiting here, the caller sees it within WAKE_S;
    the abandoned program finishes in the background (the thread is a daemon,
    so it does not hold up the exit). Single-device CPU programs run inline in
    the call, so the call is made in the thread too.
    """
    box: dict[str, Any] = {}
    done = threading.Event()
    x64 = jax.config.jax_enable_x64  # the caller's setting (thread-local under jax.enable_x64)

    def work() -> None:
        try:
            with jax.enable_x64(x64):
                box["result"] = _timed_run(compiled, args)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=work, name=PROGRAM_THREAD, daemon=True).start()
    while not done.wait(WAKE_S):
        pass
    if "error" in box:
        raise box["error"]
    return box["result"]


def compile_program(spec: ProgramSpec, x0: PyTree, hp: Mapping[str, np.ndarray], data: PyTree,
                    targets: np.ndarray, f_ref: float, devices: list, dtype,
                    seeds: np.ndarray | None = None) -> Program:
    """Lowers and compiles `spec` ahead of time for lanes-last inputs x0 and hp.

    `seeds`: each lane's seed, (B,) integers; needed in minibatch mode only.

    Lanes are padded (with copies of lane 0) to a multiple of the number of
    devices and split over them; the padding is dropped from the outputs.
    """
    n_lanes = jax.tree.leaves(x0)[0].shape[-1]
    mesh = make_mesh(distributed.mesh_devices(devices, n_lanes))  # no device without a real lane
    pad = (-n_lanes) % mesh.size

    def lanes(a):
        a = np.asarray(a)
        if pad:
            a = np.concatenate([a, np.repeat(a[..., :1], pad, axis=-1)], axis=-1)
        return distributed.put(a, NamedSharding(mesh, _lane_spec(a.ndim)))

    def replicated(a):
        return distributed.put(a, NamedSharding(mesh, P()))

    cast = lambda a: np.asarray(a, dtype) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
    x0_lanes = jax.tree.map(lambda a: lanes(cast(a)), x0)
    init = initial_buffers(spec, x0_lanes, len(targets), dtype)
    if spec.minibatch is not None:
        seeds = np.asarray(seeds, np.int32)
        init["seeds"] = np.concatenate([seeds, np.repeat(seeds[:1], pad)]) if pad else seeds
    inputs = ProgramInputs(
        x0=x0_lanes,
        hp={k: lanes(cast(v)) for k, v in hp.items()},
        data=jax.tree.map(lambda a: replicated(cast(a)), data),
        targets=replicated(np.asarray(targets, dtype)),
        f_ref=replicated(np.asarray(f_ref, dtype)),
        init=jax.tree.map(lambda a: distributed.put(a, NamedSharding(mesh, _lane_spec(a.ndim))), init),
        which=replicated(np.asarray(0, np.int32)),  # which implementation: see Program.running
    )
    path = jax.tree.map(lambda s: s.update(sharding=NamedSharding(mesh, _lane_spec(s.ndim))),
                        path_buffer(spec, x0_lanes))
    program = jax.shard_map(trajectories(spec), mesh=mesh, in_specs=(_in_specs(inputs), _path_specs(path)),
                            out_specs=_out_specs(spec, x0), check_vma=False)
    start = time.perf_counter()
    lowered = jax.jit(program, donate_argnums=(1,)).lower(inputs, path)  # the path buffer is donated
    traced = time.perf_counter()
    compiled = lowered.compile(compiler_options=xla.compile_options(mesh.devices.flat[0].platform))
    done = time.perf_counter()
    return Program(compiled, inputs, n_lanes, done - start, mesh, trace_s=traced - start, path=path)
