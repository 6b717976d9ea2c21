"""Recording schedules and their block plans."""

import numpy as np
import pytest

from bench.core import schedule


@pytest.mark.parametrize("steps", [1, 2, 99, 100, 101, 1000, 1001, 1002, 2000, 10_000, 12_345])
def test_default_schedule(steps):
    s = schedule.make(steps)
    pts = s.points()
    assert pts[-1] == steps and np.all(np.diff(pts) > 0) and pts[0] == 0
    dense = pts[pts <= 1000]
    np.testing.assert_array_equal(dense, np.arange(min(steps, 1000) + 1))
    beyond = pts[pts > 1000]
    assert len(beyond) <= 1001
    if steps > 2001:
        assert len(beyond) >= 900
        gaps = np.diff(beyond[:-1])
        assert gaps.max() - gaps.min() <= 1  # evenly spaced


def test_log_and_every():
    s = schedule.make(100_000, spacing="log")
    beyond = s.points()[s.points() > 1000]
    assert 500 < len(beyond) <= 1001 and np.all(np.diff(np.log(beyond[:-1])) > 0)
    np.testing.assert_array_equal(schedule.make(10, 3).points(), [0, 3, 6, 9, 10])
    np.testing.assert_array_equal(schedule.make(9, 3).points(), [0, 3, 6, 9])


@pytest.mark.parametrize("steps,every", [(1, None), (2001, None), (10_000, None), (12_345, None), (1000, 7),
                                         (50, 1000), (250, None)])
def test_plan_covers_every_step_once(steps, every):
    s = schedule.make(steps, every)
    runs = schedule.plan(s, block_steps=100)
    assert len(runs) <= 2
    lengths = np.concatenate([r.lengths for r in runs])
    assert lengths.sum() == steps and (lengths >= 1).all() and (lengths <= 100).all()
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    stored = []
    i = 0
    for r in runs:
        for b in range(len(r.lengths)):
            slots = r.slots[b][r.valid[b]]
            assert (slots < r.lengths[b]).all()
            stored.extend(starts[i] + slots)
            i += 1
    np.testing.assert_array_equal(np.asarray(stored + [steps]), s.points())


def test_bad_schedule_input():
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        schedule.make(0)
    with pytest.raises(ValueError, match="record_every must be an integer >= 1"):
        schedule.make(10, 0)
    with pytest.raises(ValueError, match="spacing"):
        schedule.make(5000, spacing="cubic")
