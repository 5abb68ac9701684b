"""Linear centred kernel alignment (Kornblith et al. 2019, arXiv 1905.00414), in feature space.

`linear_cka(x, y)` compares two representations of the same n rows (n x p and n x q): 1 for
representations equal up to an orthogonal transform and an isotropic scaling, near 0 for
unrelated ones. The biased form is the HSIC ratio of the paper; the debiased form replaces each
HSIC with its unbiased estimator (Song et al. 2012), as `feature_space_linear_cka(...,
debiased=True)` of Kornblith's reference code does, so that two independent random
representations score near 0 at any n, where the biased form stays well above 0 when p and q
are not small against n. Both work on p x q cross-products, never on n x n matrices.
"""

from __future__ import annotations

import numpy as np


def _centred(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"a representation must be 2-D (rows x features), got shape {x.shape}")
    return x - x.mean(axis=0, keepdims=True)


def _debiased(xty: float, rows_x: np.ndarray, rows_y: np.ndarray, norm_x: float, norm_y: float, n: int):
    """A multiple of the unbiased HSIC estimator of centred linear kernels (the factor cancels
    in CKA's ratio), from feature-space quantities: ||X^T Y||_F^2, each row's squared norm and
    their totals."""
    return xty - n / (n - 2.0) * rows_x.dot(rows_y) + norm_x * norm_y / ((n - 1) * (n - 2))


def linear_cka(x, y, *, debiased: bool = False) -> float:
    """Linear CKA of representations x (n x p) and y (n x q) of the same n rows."""
    x, y = _centred(x), _centred(y)
    n = len(x)
    if len(y) != n:
        raise ValueError(f"the representations hold different rows: {n} and {len(y)}")
    if n < 4:
        raise ValueError(f"linear CKA needs at least 4 rows, got {n}")
    xty = np.linalg.norm(x.T @ y) ** 2
    xx = np.linalg.norm(x.T @ x)
    yy = np.linalg.norm(y.T @ y)
    if debiased:
        rows_x, rows_y = np.einsum("ij,ij->i", x, x), np.einsum("ij,ij->i", y, y)
        norm_x, norm_y = rows_x.sum(), rows_y.sum()
        xty = _debiased(xty, rows_x, rows_y, norm_x, norm_y, n)
        xx2 = _debiased(xx**2, rows_x, rows_x, norm_x, norm_x, n)
        yy2 = _debiased(yy**2, rows_y, rows_y, norm_y, norm_y, n)
        if xx2 <= 0 or yy2 <= 0:
            return float("nan")  # a constant representation: no similarity to speak of
        xx, yy = np.sqrt(xx2), np.sqrt(yy2)
    if xx == 0 or yy == 0:
        return float("nan")
    return float(xty / (xx * yy))


def cka_matrix(sources: dict[str, np.ndarray], *, debiased: bool = False) -> np.ndarray:
    """CKA of every pair of these representations (same rows), in their order: symmetric, with
    1 on the diagonal of every non-constant one."""
    names = list(sources)
    out = np.eye(len(names))
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            out[i, j] = out[j, i] = linear_cka(sources[names[i]], sources[names[j]], debiased=debiased)
        if np.isnan(linear_cka(sources[names[i]], sources[names[i]], debiased=debiased)):
            out[i, i] = np.nan
    return out


def pair_summary(values) -> dict:
    """Mean, standard deviation, minimum and maximum of the CKA values of some pairs."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        raise ValueError("no pairs to summarise")
    return {
        "mean": float(v.mean()),
        "sd": float(v.std()),
        "min": float(v.min()),
        "max": float(v.max()),
        "pairs": int(v.size),
    }
