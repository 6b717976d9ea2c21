"""Data for the machine-learning problems: shipped real data sets and seeded synthetic ones.

Real data sets are read with NumPy only from `problems/data/*.npz` (exported once
from scikit-learn's bundled copies; origins and licences in
`problems/data/README.md`), so nothing is downloaded and scikit-learn is not
needed at run time. Features are standardised (zero mean, unit variance per
column; constant columns are left at zero). Every array handed out is float64
(features) or int32 (labels), built once per process and read-only, so all
problems built with the same arguments share identical data.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from problems.validate import MAX_SEED, check_elements, check_int

DATA_DIR = Path(__file__).resolve().parent / "data"

SYNTHETIC = "synthetic"

#: The shipped real data sets: name -> (examples, features, classes).
REAL = {
    "breast_cancer": (569, 30, 2),
    "digits": (1797, 64, 10),
}


def readonly(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Marks arrays read-only, so cached instance data cannot be changed by accident."""
    for a in arrays:
        a.flags.writeable = False
    return arrays


@functools.lru_cache(maxsize=None)
def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The raw shipped data set `name`: features (float64) and labels 0..k-1 (int32)."""
    with np.load(DATA_DIR / f"{name}.npz", allow_pickle=False) as f:
        X = f["X"].astype(np.float64)
        y = f["y"].astype(np.int32)
    return readonly(X, y)


def standardize(X: np.ndarray) -> np.ndarray:
    """Columns scaled to zero mean and unit (population) variance; constant columns become 0."""
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)


def with_intercept(X: np.ndarray) -> np.ndarray:
    """X with a constant column of ones appended (its weight is the intercept)."""
    return np.hstack([X, np.ones((X.shape[0], 1))])


def check_dataset(problem: str, dataset, *, classes: tuple[int, ...] | None = None) -> str:
    """Validates a `dataset` argument: "synthetic" or a shipped real set with allowed class count."""
    allowed = [SYNTHETIC] + [n for n, (_, _, k) in REAL.items() if classes is None or k in classes]
    if not isinstance(dataset, str) or dataset not in allowed:
        why = ""
        if isinstance(dataset, str) and dataset in REAL:
            why = f" ({dataset} has {REAL[dataset][2]} classes)"
        raise ValueError(
            f"{problem}: dataset must be one of {', '.join(map(repr, allowed))}, got {dataset!r}{why}"
        )
    return dataset


#: Smallest allowed value of each synthetic-only parameter.
SYNTHETIC_MINIMUM = {"n_samples": 1, "n_features": 1, "n_classes": 2, "seed": 0}


def synthetic_args(problem: str, dataset: str, given: dict, defaults: dict) -> dict:
    """Resolves and validates the parameters that only a synthetic data set takes.

    For dataset="synthetic" a parameter left at None takes its default, and each
    must be an integer at or above its SYNTHETIC_MINIMUM; for a real data set
    every one of them must be left at None (its size is fixed), and {} is returned.
    """
    if dataset == SYNTHETIC:
        out = {
            k: check_int(problem, k, defaults[k] if v is None else v, minimum=SYNTHETIC_MINIMUM[k],
                         **({"maximum": MAX_SEED} if k == "seed" else {}))
            for k, v in given.items()
        }
        check_elements(problem, "n_samples and n_features", out["n_samples"], out["n_features"])
        if "n_classes" in out:
            check_elements(problem, "n_features and n_classes", out["n_features"], out["n_classes"])
        return out
    for k, v in given.items():
        if v is not None:
            n, d, c = REAL[dataset]
            raise ValueError(
                f"{problem}: {k} applies to dataset='synthetic' only, got {k}={v!r} with "
                f"dataset={dataset!r} ({n} examples, {d} features, {c} classes); leave it unset"
            )
    return {}


@functools.lru_cache(maxsize=16)
def classification(
    dataset: str,
    n_samples: int | None = None,
    n_features: int | None = None,
    n_classes: int | None = None,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Standardised features (float64, n x d) and labels 0..k-1 (int32) of a classification set.

    dataset="synthetic": Gaussian features X ~ N(0, I); labels drawn from a random
    multinomial-logit model, P(y = k | x) proportional to exp(x . w_k + b_k), with
    w_k ~ N(0, (4 / d) I) and b_k ~ N(0, 1/4): label noise, so the classes overlap
    and (for n_samples well above n_features) are not linearly separable.
    """
    if dataset == SYNTHETIC:
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n_samples, n_features))
        W = rng.standard_normal((n_features, n_classes)) * (2.0 / np.sqrt(n_features))
        b = 0.5 * rng.standard_normal(n_classes)
        logits = X @ W + b
        y = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1).astype(np.int32)
    else:
        X, y = load(dataset)
        y = y.copy()
    return readonly(standardize(X), y)


def sample_rows(key: jax.Array, batch_size: int, data) -> jax.Array:
    """A minibatch: `batch_size` row indices (int32), uniform with replacement, drawn with `key`."""
    batch_size = check_int("sample_batch", "batch_size", batch_size, minimum=1)
    n = data["y"].shape[0]
    return jax.random.randint(key, (batch_size,), 0, n, dtype=jnp.int32)
