"""Scores of a 2-D embedding: kNN accuracy of the test points, and trustworthiness."""

from __future__ import annotations

import numpy as np
from sklearn.manifold import trustworthiness
from sklearn.neighbors import KNeighborsClassifier


def knn_accuracy(train_xy, y_train, test_xy, y_test, ks=(3, 5, 10)) -> dict:
    """k-nearest-neighbour classification in the embedding: training points are the neighbours.

    Returns {"k3": {"k": 3, "accuracy": float, "per_class": {class: accuracy}}, ...}; per-class
    accuracy is the recall of each class present in y_test, keyed by int class index.
    Ties in the vote go to the smallest label (scikit-learn's rule).
    """
    train_xy, test_xy = np.asarray(train_xy), np.asarray(test_xy)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if train_xy.ndim != 2 or test_xy.ndim != 2 or train_xy.shape[1] != test_xy.shape[1]:
        raise ValueError(f"coordinates must be 2-D with equal widths: {train_xy.shape}, {test_xy.shape}")
    if len(train_xy) != len(y_train) or len(test_xy) != len(y_test):
        raise ValueError(
            "coordinates and labels differ in length: "
            f"{len(train_xy)}/{len(y_train)} train, {len(test_xy)}/{len(y_test)} test"
        )
    if len(test_xy) == 0:
        raise ValueError("no test points to score")
    out = {}
    for k in ks:
        k = int(k)
        if not 1 <= k <= len(train_xy):
            raise ValueError(f"k={k} needs 1 <= k <= n_train={len(train_xy)}")
        pred = KNeighborsClassifier(n_neighbors=k).fit(train_xy, y_train).predict(test_xy)
        hit = pred == y_test
        per_class = {int(c): float(hit[y_test == c].mean()) for c in np.unique(y_test)}
        out[f"k{k}"] = {"k": k, "accuracy": float(hit.mean()), "per_class": per_class}
    return out


def subsample_indices(n: int, n_max: int, seed: int = 0) -> np.ndarray:
    """Sorted row indices: all n rows, or a seeded sample of n_max of them without replacement."""
    if n_max < 1:
        raise ValueError(f"n_max must be >= 1, got {n_max}")
    if n <= n_max:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, n_max, replace=False))


def trustworthiness_subsample(x_high, x_low, *, n_max=5000, n_neighbors=5, seed=0) -> float:
    """sklearn trustworthiness on a seeded subsample of at most n_max rows (memory ~ 3 n^2 x 8 B)."""
    x_high, x_low = np.asarray(x_high), np.asarray(x_low)
    if len(x_high) != len(x_low):
        raise ValueError(f"x_high has {len(x_high)} rows but x_low has {len(x_low)}")
    rows = subsample_indices(len(x_high), n_max, seed)
    x_high, x_low = x_high[rows], x_low[rows]
    if not 1 <= n_neighbors < len(x_high) / 2:  # sklearn's own limit
        raise ValueError(f"n_neighbors={n_neighbors} needs 1 <= n_neighbors < n/2 = {len(x_high) / 2}")
    return float(trustworthiness(x_high, x_low, n_neighbors=n_neighbors))
