"""What two different compiled computations of the same trajectory may differ by.

Two programs (a batch and one lane, the engine and a plain loop, two vector
widths) agree to a tolerance, not bit for bit: on another CPU their last bits
differ. A first hit is a step found by comparing a loss with a threshold, so
it may move where, and only where, the reference's loss is within that
tolerance of the threshold. These checks assert exactly that much.
"""

import numpy as np


def assert_first_hit_agrees(hit, values, threshold, tol, what="first hit"):
    """`hit` (a step, or inf) is a first hit of `values` under `threshold`, up to `tol`.

    values: the reference's loss at every step 0..T. The steps before `hit`
    must not be clearly under the threshold, and the loss at `hit` must not be
    clearly over it; "clearly" is more than `tol` (the two computations'
    proven distance on the losses). With tol = 0 this is the exact first hit.
    """
    values = np.asarray(values, np.float64)
    end = len(values) if not np.isfinite(hit) else int(hit)
    assert end <= len(values), f"{what}: step {hit} is past the last step {len(values) - 1}"
    before = values[:end]
    missed = np.flatnonzero(before <= threshold - tol)
    assert not missed.size, (f"{what}: step {hit}, but the reference's loss {before[missed[0]]!r} at step "
                             f"{missed[0]} is under the threshold {threshold!r} by more than {tol!r}")
    if np.isfinite(hit):
        assert values[end] <= threshold + tol, (f"{what}: step {hit}, but the reference's loss there "
                                                f"{values[end]!r} is over the threshold {threshold!r} by more than {tol!r}")


def assert_first_hits_agree(hits, values, targets, f_ref, rtol, atol=0.0):
    """Every target's first hit (relative targets: f_ref + t (f0 - f_ref)) agrees up to the
    losses' tolerance |a - b| <= atol + rtol |b| (as `np.testing.assert_allclose` has it)."""
    values = np.asarray(values, np.float64)
    for hit, t in zip(hits, targets):
        threshold = f_ref + t * (values[0] - f_ref)
        assert_first_hit_agrees(hit, values, threshold, atol + rtol * abs(threshold), what=f"first hit of {t:g}")
