"""Exports the real data sets that gdbench's problems ship, from scikit-learn's copies.

Run once (needs scikit-learn; the library itself then reads the files with NumPy
only, so machines without scikit-learn can run every problem):

    python problems/data/make_datasets.py

Each file is a compressed `.npz` with two arrays, `X` (features, one row per
example) and `y` (integer class labels 0..k-1), stored exactly as scikit-learn
bundles them (digits' pixel counts 0..16 as uint8, breast cancer as float64);
`tests/test_problems_reference.py` checks that they still match. Origins and
licences are in `problems/data/README.md`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def export() -> None:
    from sklearn.datasets import load_breast_cancer, load_digits

    X, y = load_breast_cancer(return_X_y=True)
    _save("breast_cancer", X.astype(np.float64), y.astype(np.uint8))

    X, y = load_digits(return_X_y=True)
    assert np.array_equal(X, np.round(X)) and X.min() >= 0 and X.max() <= 16
    _save("digits", X.astype(np.uint8), y.astype(np.uint8))


def _save(name: str, X: np.ndarray, y: np.ndarray) -> None:
    path = HERE / f"{name}.npz"
    np.savez_compressed(path, X=X, y=y)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    print(f"{path.name}: X {X.shape} {X.dtype}, y {y.shape} {y.dtype}, "
          f"{path.stat().st_size} bytes, sha256 {digest}...")


if __name__ == "__main__":
    export()
