"""The tests' rule for first hits of two computations that agree to a tolerance (tests/agreement.py)."""

import numpy as np
import pytest
from agreement import assert_first_hit_agrees, assert_first_hits_agree

VALUES = np.array([1.0, 0.5, 0.2, 0.1000000001, 0.09, 0.01])


def test_the_exact_first_hit_agrees_and_a_close_call_may_move():
    assert_first_hit_agrees(4, VALUES, 0.1, tol=0.0)
    # step 3 is 1e-10 over the threshold: within 1e-9 another computation may hit there
    assert_first_hit_agrees(3, VALUES, 0.1, tol=1e-9)
    assert_first_hits_agree([1, 5, np.inf], VALUES, [0.5, 0.01, 1e-3], 0.0, rtol=0.0)


@pytest.mark.parametrize("hit, tol", [(3, 1e-12), (5, 1e-3), (np.inf, 1e-3), (2, 1e-9), (7, 0.0)])
def test_a_hit_the_tolerance_does_not_explain_fails(hit, tol):
    with pytest.raises(AssertionError):
        assert_first_hit_agrees(hit, VALUES, 0.1, tol)
