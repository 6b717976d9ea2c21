"""Quasi-random search: N trials from a scrambled Halton sequence over a search space.

    [search]                  # in a suite file, besides (or instead of) [grid]
    trials = 16               # quasi-random points per optimizer
    seed = 0                  # the scrambling's seed: the same seed, the same trials
    # learning_rate = { low = 1e-4, high = 1e-1, scale = "log" }   # optional: a space of one's own
    # with no hyperparameter named: every one of the optimizer's search space (`OptimizerSpec.search_space`)

As in AlgoPerf's external tuning (Dahl et al. 2023), the trials are points of
a low-discrepancy sequence mapped onto each hyperparameter's range:
log-uniformly where its scale is "log", uniformly where "linear". The sequence
is Halton's (one prime base per hyperparameter) with a random permutation of
the digits at every digit position of every base (Braaten & Weller 1979;
Owen's survey "A randomized Halton algorithm in R", 2017): it keeps Halton's
even coverage, removes the correlation between the dimensions of large bases,
and gives independent replicates for different seeds (scipy.stats.qmc.Halton
makes it). A grid on other
hyperparameters is crossed with the trials: every grid point runs every trial.
The tuning protocol (`bench.stats.tuning`) picks the best configuration among them as
among a grid's.
"""

from __future__ import annotations

import itertools
import math
import numbers
from typing import Any, Mapping, Sequence

import numpy as np
import scipy.stats

from bench.errors import ConfigError

MAX_TRIALS = 10_000
SPACE_KEYS = {"low", "high", "scale"}


def halton(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """(n, dim) points of a scrambled Halton sequence in [0, 1): scipy.stats.qmc.Halton, whose
    scrambling permutes the digits of each base at every digit position (one permutation each,
    drawn from `seed`), from the sequence's first point."""
    points = scipy.stats.qmc.Halton(dim, scramble=True, rng=np.random.default_rng(seed)).random(n)
    return np.minimum(points, np.nextafter(1.0, 0.0))


def check_trials(trials, where: str = "trials") -> int:
    """The number of trials; ConfigError unless an integer in [1, MAX_TRIALS]."""
    if isinstance(trials, bool) or not isinstance(trials, numbers.Integral) or not 1 <= trials <= MAX_TRIALS:
        raise ConfigError(where, f"must be an integer in [1, {MAX_TRIALS}], got {trials!r}")
    return int(trials)


def check_seed(seed, where: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(where, f"must be an integer >= 0, got {seed!r}")
    return int(seed)


def space(spec, search: Mapping[str, Any] | Sequence[str] | None, grid: Mapping[str, Any] | None = None,
          where: str = "search") -> dict[str, tuple[float, float, str]]:
    """{hyperparameter: (low, high, scale)} that the trials cover, for one optimizer.

    `search` names hyperparameters ({name: {low, high, scale}}, each key
    optional, the rest from the optimizer's search space; or a list of names),
    or is empty / None: the optimizer's whole search space, less the grid's
    hyperparameters. ConfigError (naming `where.<name>`) for an unknown
    hyperparameter, one without a range, one also on the grid, a bad range.
    """
    grid = dict(grid or {})
    named = dict.fromkeys(search, {}) if isinstance(search, (list, tuple)) else dict(search or {})
    if not named:
        named = {k: {} for k in spec.search_space if k not in grid}
        if not named:
            raise ConfigError(where, f"{spec.name} has no search space left to search (its grid covers it)")
    out = {}
    for name, given in named.items():
        key = f"{where}.{name}"
        if name not in spec.defaults:
            raise ConfigError(key, f"not a hyperparameter of {spec.name} (allowed: {', '.join(spec.defaults)})")
        if name in grid:
            raise ConfigError(key, "is on the grid too; search it or grid it, not both")
        if not isinstance(given, Mapping) or set(given) - SPACE_KEYS:
            raise ConfigError(key, f"must be a table with optional low, high, scale, got {given!r}")
        low, high, scale = spec.search_space.get(name, (None, None, "log"))
        low, high, scale = given.get("low", low), given.get("high", high), given.get("scale", scale)
        if low is None or high is None:
            raise ConfigError(key, f"{spec.name} has no search space for {name}; give low and high")
        if scale not in ("log", "linear"):
            raise ConfigError(f"{key}.scale", f"must be 'log' or 'linear', got {scale!r}")
        for k, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or (
                    scale == "log" and v <= 0):
                raise ConfigError(f"{key}.{k}", f"must be a finite number{' > 0' if scale == 'log' else ''}, got {v!r}")
        if not low <= high:
            raise ConfigError(key, f"low must be <= high, got {low!r} > {high!r}")
        out[name] = (float(low), float(high), scale)
    return out


def points(ranges: Mapping[str, tuple[float, float, str]], trials: int, seed: int = 0) -> list[dict[str, float]]:
    """`trials` configurations {hyperparameter: value}: the scrambled Halton points mapped onto the ranges
    (in the order given), log-uniformly on a "log" scale, uniformly on a "linear" one."""
    u = halton(check_trials(trials), len(ranges), check_seed(seed))
    out = [{} for _ in range(len(u))]
    for j, (name, (low, high, scale)) in enumerate(ranges.items()):
        col = (np.exp(np.log(low) + u[:, j] * (np.log(high) - np.log(low))) if scale == "log"
               else low + u[:, j] * (high - low))
        col = np.clip(col, low, high)  # exp(log(x)) may step a last bit outside
        for config, v in zip(out, col):
            config[name] = float(v)
    return out


def configs(spec, grid: Mapping[str, Sequence[Any]] | None, search, trials: int, seed: int = 0,
            where: str = "search") -> list[dict[str, Any]]:
    """The configurations of a search: every grid point (cartesian product, in order) x every trial."""
    grid = dict(grid or {})
    trial_points = points(space(spec, search, grid, where), check_trials(trials, f"{where}.trials"),
                          check_seed(seed, f"{where}.seed"))
    names = list(grid)
    return [{**dict(zip(names, combo)), **t}
            for combo in itertools.product(*(list(grid[n]) for n in names)) for t in trial_points]


def as_grid(config_list: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """{hyperparameter: [its value in each configuration]}: a list of configurations seen as a grid's values."""
    return {k: [c[k] for c in config_list] for k in (config_list[0] if config_list else {})}
