"""The pseudo-random numbers of the BBOB 2009 testbed, as COCO draws them.

Every BBOB instance (its optimum x_opt, offset f_opt, rotations, peak layouts) is
a deterministic function of a seed derived from the function id and the
instance number. COCO draws them with the 2009 testbed's own generator: a
Park-Miller "minimal standard" linear congruential generator (multiplier 16807,
modulus 2^31 - 1, Schrage's factorisation) behind a 32-entry Bays-Durham
shuffle table, Box-Muller for Gaussian numbers and Gram-Schmidt for rotations.
This module reproduces those definitions in float64, operation for operation
(sequential sums, the same libm functions through `math`), so the instance data
are bit-for-bit COCO's.

References:
  Hansen, Finck, Ros, Auger, "Real-Parameter Black-Box Optimization
  Benchmarking 2009: Noiseless Functions Definitions", INRIA RR-6829, 2009.
  Park & Miller, "Random number generators: good ones are hard to find",
  Communications of the ACM 31(10):1192-1201, 1988.
  Bays & Durham, "Improving a poor random number generator", ACM Transactions
  on Mathematical Software 2(1):59-64, 1976.
"""

from __future__ import annotations

import math

import numpy as np

_MODULUS = 2147483647  # 2^31 - 1
_A, _Q, _R = 16807, 127773, 2836  # Schrage: _MODULUS = _A * _Q + _R
_TABLE = 32


def _step(seed: int) -> int:
    """One step of the minimal-standard generator, seed -> 16807 seed mod (2^31 - 1)."""
    hi = seed // _Q
    seed = _A * (seed - hi * _Q) - _R * hi
    return seed + _MODULUS if seed < 0 else seed


def uniform(n: int, seed: int) -> np.ndarray:
    """n uniform numbers in (0, 1) from `seed` (the testbed's `unif`)."""
    seed = max(abs(int(seed)), 1)
    table = [0] * _TABLE
    for i in range(_TABLE + 7, -1, -1):  # 8 warm-up draws, then fill the table from its end
        seed = _step(seed)
        if i < _TABLE:
            table[i] = seed
    out = np.empty(n)
    current = table[0]
    for i in range(n):
        seed = _step(seed)
        slot = current // 67108865  # the top five bits pick a table entry
        current, table[slot] = table[slot], seed
        out[i] = current / 2.147483647e9 or 1e-99
    return out


def gauss(n: int, seed: int) -> np.ndarray:
    """n standard normal numbers from `seed` (Box-Muller on 2n uniforms)."""
    u = uniform(2 * n, seed)
    out = np.array([math.sqrt(-2.0 * math.log(u[i])) * math.cos(2.0 * math.pi * u[n + i]) for i in range(n)])
    out[out == 0.0] = 1e-99
    return out


def rotation(seed: int, dim: int) -> np.ndarray:
    """A dim x dim orthogonal matrix: Gram-Schmidt on the columns of a Gaussian matrix.

    The matrix is filled column by column from `gauss(dim * dim, seed)`; each
    column is made orthogonal to the previous ones one at a time (modified
    Gram-Schmidt) and normalised. Sums run in index order (`np.cumsum` is
    sequential), as in the testbed.
    """
    b = gauss(dim * dim, seed).reshape(dim, dim).T.copy()
    for i in range(dim):
        for j in range(i):
            prod = np.cumsum(b[:, i] * b[:, j])[-1]
            b[:, i] -= prod * b[:, j]
        b[:, i] /= math.sqrt(np.cumsum(b[:, i] * b[:, i])[-1])
    return b


def x_opt(seed: int, dim: int) -> np.ndarray:
    """The optimum's location: uniform on the 1e-4 grid of [-4, 4)^dim, never exactly 0."""
    x = 8 * np.floor(1e4 * uniform(dim, seed)) / 1e4 - 4
    x[x == 0.0] = -1e-5
    return x


def f_opt(function: int, instance: int) -> float:
    """The offset f_opt: 100 g1 / g2 of two Gaussians, rounded to 0.01, clipped to [-1000, 1000].

    f4 uses f3's seed and f18 uses f17's, as in the testbed.
    """
    base = {4: 3, 18: 17}.get(function, function)
    seed = base + 10000 * instance
    g1, g2 = gauss(1, seed)[0], gauss(1, seed + 1)[0]
    return min(1000.0, max(-1000.0, math.floor(100.0 * 100.0 * g1 / g2 + 0.5) / 100.0))


def sequential_sum(a: np.ndarray, axis: int) -> np.ndarray:
    """Sum along `axis` in index order (the testbed's loops), not NumPy's pairwise order."""
    return np.take(np.cumsum(a, axis=axis), -1, axis=axis)
