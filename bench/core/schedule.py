"""Recording schedules: at which steps a trajectory's loss (and path) is stored.

A schedule is the sorted set of stored steps; the final step T is always among
them. Targets are checked at every step whatever the schedule: only what is
stored differs.

The engine runs the steps in blocks of up to BLOCK_STEPS steps. A block keeps
the loss of each of its steps in a small buffer, from which the stored steps
are gathered and the targets' first hits found exactly. `plan` groups the
blocks into runs of blocks that store the same number of steps, each run one
`lax.scan`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

BLOCK_STEPS = 100


@dataclasses.dataclass(frozen=True)
class Schedule:
    steps: int
    stored: tuple[int, ...]  # increasing, in [0, steps]; always ends with `steps`

    def points(self) -> np.ndarray:
        return np.asarray(self.stored, dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class Run:
    """Equal-shaped blocks, one `lax.scan`: per block its length and stored slots.

    Attributes:
      block_steps: buffer length (the longest block of the run).
      lengths: (n_blocks,) steps in each block.
      slots: (n_blocks, n_stored) positions in the block's buffer to store;
        padded with 0 where a block stores fewer (see `valid`).
      valid: (n_blocks, n_stored) which slots are real.
    """

    block_steps: int
    lengths: np.ndarray
    slots: np.ndarray
    valid: np.ndarray


def make(steps: int, record_every: int | None = None, *, dense: int = 1000, points: int = 1000,
         spacing: str = "even") -> Schedule:
    """The default schedule, or every `record_every` steps when given.

    Default: every step up to `dense`, then about `points` more steps beyond,
    evenly spaced or (spacing="log") log-spaced.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if record_every is not None:
        if isinstance(record_every, bool) or not isinstance(record_every, int) or record_every < 1:
            raise ValueError(f"record_every must be an integer >= 1, got {record_every!r}")
        stored = np.arange(0, steps, record_every)
    elif spacing not in ("even", "log"):
        raise ValueError(f"spacing must be 'even' or 'log', got {spacing!r}")
    else:
        head = np.arange(0, min(steps, dense + 1))
        if steps <= dense + 1:
            stored = head
        elif spacing == "even":
            k = max(1, math.ceil((steps - 1 - dense) / points))
            stored = np.concatenate([head, np.arange(dense + k, steps, k)])
        else:
            tail = np.unique(np.round(np.geomspace(dense + 1, steps - 1, points)).astype(np.int64))
            stored = np.concatenate([head, tail])
    stored = np.unique(np.append(stored, steps))
    return Schedule(steps, tuple(int(s) for s in stored))


def plan(schedule: Schedule, block_steps: int = BLOCK_STEPS) -> list[Run]:
    """Splits steps 0 .. T-1 into blocks and groups them into runs.

    Blocks that store more than half their steps form "dense" runs, the others
    "sparse" runs, so a default schedule compiles into at most two loops.
    """
    stored = np.asarray(schedule.stored[:-1], dtype=np.int64)  # the final step is stored apart
    starts = np.arange(0, schedule.steps, block_steps)
    lengths = np.minimum(block_steps, schedule.steps - starts)
    per_block = [stored[(stored >= s) & (stored < s + n)] - s for s, n in zip(starts, lengths)]
    dense = [len(p) * 2 > n for p, n in zip(per_block, lengths)]

    runs, i = [], 0
    while i < len(starts):
        j = i
        while j < len(starts) and dense[j] == dense[i]:
            j += 1
        group = per_block[i:j]
        width = max(1, max(len(p) for p in group))
        slots = np.zeros((j - i, width), np.int32)
        valid = np.zeros((j - i, width), bool)
        for b, p in enumerate(group):
            slots[b, : len(p)] = p
            valid[b, : len(p)] = True
        runs.append(Run(int(lengths[i:j].max()), lengths[i:j].astype(np.int32), slots, valid))
        i = j
    return runs
