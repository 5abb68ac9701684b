"""Intrinsic dimension of a source: TwoNN (Facco et al. 2017) and the Levina-Bickel maximum
likelihood estimate, both computed by scikit-dimension (`skdim.id.TwoNN`, `skdim.id.MLE`) on one
exact neighbour search of a fixed, seeded subset of rows.

Duplicate rows (a ReLU layer maps many inputs to the same point, all-zero rows above all) put
zero distances into both estimators, which they cannot use (TwoNN divides by the first
neighbour's distance, the MLE takes logarithms of distance ratios): they are removed before
the search, one copy of each kept, and their number is reported."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class IntrinsicDimension:
    twonn: float
    mle: float
    k: int  # neighbours of the MLE
    rows: int  # rows sampled
    duplicates: int  # of them, rows equal to an earlier one, left out
    note: str = ""  # why an estimate is NaN (a one-unit layer, too few distinct rows)

    def to_dict(self) -> dict:
        return asdict(self)


def sample_rows(n: int, n_max: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of at most n_max of n rows (all of them if fewer)."""
    if n <= n_max:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, n_max, replace=False))


def intrinsic_dimension(x, *, k: int = 20, n_max: int = 10_000, seed: int = 0) -> IntrinsicDimension:
    """TwoNN (discarding the largest 10 % of ratios, as Facco et al.) and MLE with k neighbours
    (scikit-dimension's pointwise estimates combined by the mean of inverses, MacKay and
    Ghahramani's correction of Levina and Bickel's mean) of the distinct rows of a seeded sample."""
    import skdim
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(x, dtype=np.float64)
    sample = x[sample_rows(len(x), n_max, seed)]
    distinct = np.unique(sample, axis=0)
    duplicates = len(sample) - len(distinct)
    note = ""
    if x.shape[1] < 2:  # scikit-dimension needs two features; a one-unit layer is at most 1-D
        note = f"{x.shape[1]} feature: no estimate"
    elif len(distinct) <= k + 1:
        note = f"{len(distinct)} distinct rows of {len(sample)}: no estimate with k = {k}"
    if note:
        return IntrinsicDimension(float("nan"), float("nan"), k, len(sample), duplicates, note)
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(distinct).kneighbors(distinct)
    dist, idx = dist[:, 1:], idx[:, 1:]  # each row's own zero distance left out
    twonn = skdim.id.TwoNN(dist=True).fit(dist[:, :2]).dimension_
    mle = skdim.id.MLE().fit(distinct, precomputed_knn_arrays=(dist, idx), n_neighbors=k).dimension_
    return IntrinsicDimension(float(twonn), float(mle), k, len(sample), duplicates)
