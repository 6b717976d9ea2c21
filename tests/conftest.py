"""Shared test set-up: strict JAX, float64 only where a test asks for it, no compile cache."""

import os

import jax
import pytest

# No test writes to the user's compile cache: `gdbench run` in-process is run
# with it off; tests of the cache give their subprocesses a folder of their own.
os.environ["GDBENCH_CACHE_DIR"] = "off"

# Strict numerics in every test: no silent rank broadcasting.
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Runs the test with 64-bit floats enabled (the library itself never enables them)."""
    with jax.enable_x64(True):
        yield
