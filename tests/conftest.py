"""Shared test set-up: strict JAX, and float64 only where a test asks for it."""

import jax
import pytest

# Strict numerics in every test: no silent rank broadcasting.
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Runs the test with 64-bit floats enabled (the library itself never enables them)."""
    with jax.enable_x64(True):
        yield
