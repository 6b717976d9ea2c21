"""Sweeps larger than the device memory: a cell's lanes in chunks of one compiled program.

Lanes are independent, so a cell's lanes can run a chunk at a time: one
program is compiled for a chunk's lanes (`compiled.compile_program`), and each
run launches it once per chunk with that chunk's starting points,
hyperparameters and seeds (the last chunk padded to the same size with copies
of its first lane, as `compile_program` pads to the devices). Only one chunk's
inputs and outputs are on the device at a time: each chunk's outputs are copied
to the host before the next starts. A chunked run's time is the sum of its
chunks' times, and its results are those of one program over all lanes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax
import numpy as np

from bench.core import compiled, distributed, engine, memory

PyTree = Any


def _padded(a: np.ndarray, size: int) -> np.ndarray:
    """Lanes-last `a` with copies of its first lane appended up to `size` lanes."""
    return np.concatenate([a, np.repeat(a[..., :1], size - a.shape[-1], axis=-1)], axis=-1)


@dataclasses.dataclass
class ChunkedProgram:
    """One compiled program run over a cell's lanes a chunk at a time; a `compiled.Runnable`, as `compiled.Program` is.

    `first` is the program compiled for (and holding the inputs of) the first
    chunk; the other chunks' inputs are made from the host arrays when they run.
    """

    first: compiled.Program
    x0: PyTree  # all lanes, lanes-last, host arrays
    hp: Mapping[str, np.ndarray]
    seeds: np.ndarray | None  # (lanes,) in minibatch mode
    chunk: int  # real lanes per chunk (the last may have fewer)

    @property
    def n_lanes(self) -> int:
        return jax.tree.leaves(self.x0)[0].shape[-1]

    @property
    def chunks(self) -> int:
        return -(-self.n_lanes // self.chunk)

    @property
    def compile_s(self) -> float:
        return self.first.compile_s

    @property
    def mesh(self):
        return self.first.mesh

    def program(self, k: int) -> compiled.Program:
        """Chunk k's program: the compiled one with chunk k's lanes as inputs (put on the device now)."""
        if k == 0:
            return self.first
        lanes = slice(k * self.chunk, min((k + 1) * self.chunk, self.n_lanes))
        first = self.first.inputs

        def like(host, dev):  # chunk k's lanes, padded as the first chunk's, with its sharding and dtype
            a = _padded(np.asarray(host)[..., lanes], self.chunk)
            return distributed.put(_padded(a, dev.shape[-1]).astype(dev.dtype), dev.sharding)

        init = first.init
        if "seeds" in init:
            init = {**init, "seeds": like(self.seeds, init["seeds"])}
        inputs = first._replace(x0=jax.tree.map(like, self.x0, first.x0),
                                hp={name: like(self.hp[name], first.hp[name]) for name in first.hp}, init=init)
        return dataclasses.replace(self.first, inputs=inputs, n_lanes=lanes.stop - lanes.start)

    def running(self, which: int) -> "ChunkedProgram":
        return dataclasses.replace(self, first=self.first.running(which))

    def launch(self, f_ref: float | None = None) -> tuple[float, list]:
        """Runs every chunk in turn: the sum of their seconds, and their outputs (on the host)."""
        total, outs = 0.0, []
        for k in range(self.chunks):
            program = self.program(k)
            seconds, out = program.launch(f_ref)
            total += seconds
            outs.append(program.fetch(out))  # frees the device's copy before the next chunk
        return total, outs

    def recycle(self, outs: list) -> None:
        """Nothing to keep: each chunk's outputs are on the host (and its path buffer a fresh one)."""

    def release(self) -> None:
        """Nothing kept (see `recycle`)."""

    def fetch(self, outs: list) -> dict[str, Any]:
        """The chunks' outputs as one program's: lanes concatenated along the last axis."""
        return jax.tree.map(lambda *a: np.concatenate(a, axis=-1), *outs)

    def __call__(self, f_ref: float | None = None) -> dict[str, Any]:
        return self.fetch(self.launch(f_ref)[1])

    def time(self, f_ref: float | None = None) -> float:
        return self.launch(f_ref)[0]


def compile_program(spec: engine.ProgramSpec, x0: PyTree, hp: Mapping[str, np.ndarray], data: PyTree,
                    targets: np.ndarray, f_ref: float, devices: list, dtype, seeds: np.ndarray | None = None,
                    max_memory: int | None = None, label: str = "the problem"):
    """`compiled.compile_program`, in chunks of lanes where they do not fit in the memory budget.

    The budget is `max_memory` bytes, or `memory.FREE_FRACTION` of the free
    memory of `devices`. Returns a `compiled.Program` when every lane fits, else
    a `ChunkedProgram`; ConfigError (before compiling) if not even one lane
    fits. `label` names the problem in that error.
    """
    n_lanes = jax.tree.leaves(x0)[0].shape[-1]
    cast = lambda a: np.asarray(a, dtype) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
    one_x0 = jax.tree.map(lambda a: cast(a)[..., :1], x0)
    one_hp = {k: cast(v)[:1] for k, v in hp.items()}
    per_lane = memory.lane_bytes(spec, one_x0, one_hp, data, len(targets),
                                 0 if seeds is None else int(np.asarray(seeds)[0]))
    n_devices = min(len(devices), n_lanes)
    fit = memory.lanes_that_fit(per_lane, memory.tree_bytes(data), n_devices,
                                memory.budget(max_memory, devices), label)
    chunk = memory.chunk_lanes(n_lanes, fit, n_devices)
    if chunk >= n_lanes:
        return compiled.compile_program(spec, x0, hp, data, targets, f_ref, devices, dtype, seeds=seeds)
    first = compiled.compile_program(spec, jax.tree.map(lambda a: np.asarray(a)[..., :chunk], x0),
                                   {k: np.asarray(v)[..., :chunk] for k, v in hp.items()}, data, targets, f_ref,
                                   devices, dtype, seeds=None if seeds is None else np.asarray(seeds)[:chunk])
    return ChunkedProgram(first, jax.tree.map(np.asarray, x0), {k: np.asarray(v) for k, v in hp.items()},
                          None if seeds is None else np.asarray(seeds), chunk)
