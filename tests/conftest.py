"""Shared test set-up: strict JAX, float64 only where a test asks for it, the machine's devices, no compile cache.

A test of what happens on a machine without a GPU is marked `no_gpu`: it is
skipped where JAX has one (`make gpu-check` runs the tests there). The
terminal summary names the device JAX ran the tests on.
"""

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


def _has_gpu() -> bool:
    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:
        return False


def pytest_configure(config):
    config.addinivalue_line("markers", "no_gpu: checks the behaviour of a machine without a GPU; skipped on one")


def pytest_runtest_setup(item):
    if item.get_closest_marker("no_gpu") and _has_gpu():
        pytest.skip("checks a machine without a GPU; this one has one")


def pytest_terminal_summary(terminalreporter):
    import warnings

    with warnings.catch_warnings():  # a run of tests that never imported bench: JAX started without its settings
        warnings.simplefilter("ignore")
        import bench  # noqa: F401 - its XLA settings, as the tests had them (under xdist this is the controller)

    try:
        d = jax.devices()
    except RuntimeError as e:  # a backend that failed to start: the tests said so already
        terminalreporter.write_line(f"JAX default device: none ({e})")
        return
    terminalreporter.write_line(f"JAX default device: {d[0].platform} ({d[0].device_kind}) x {len(d)}, "
                                f"jax {jax.__version__}")
