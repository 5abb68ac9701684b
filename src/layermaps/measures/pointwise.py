"""Two sources or two maps compared point by point (the compare page and the layer-change
figures): which test points a layer regroups, where a map tears or glues, and one map turned
onto another so that a person can follow a point between them.

- `map_quality.overlap` (which scores maps with it too): how many of a point's k nearest
  neighbours two spaces share. Its Jaccard index (`jaccard`) is the neighbourhood change
  between two sources (each in its own space) or two maps; `preservation` (shared / k) is how
  much of a point's source neighbourhood its map keeps.
- `procrustes`: the rotation (reflection allowed), uniform scale and shift that put one map
  onto another with the least squared distance over the points both hold (scipy's orthogonal
  Procrustes), and the residual disparity as `scipy.spatial.procrustes` defines it (both maps
  centred and scaled to unit size: 0 for the same shape, 1 at most).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layermaps.measures.map_quality import map_neighbours, nearest


def neighbours_in_source(x: np.ndarray, k: int) -> np.ndarray:
    """Each row's k nearest other rows in a source's own space (exact), as the smallest
    unsigned integers that hold the row numbers."""
    return _compact(nearest(np.asarray(x, dtype=np.float32), k), len(x))


def neighbours_in_map(xy: np.ndarray, k: int) -> np.ndarray:
    """The same in a 2-D map."""
    return _compact(map_neighbours(np.asarray(xy, dtype=np.float64), k), len(xy))


def _compact(idx: np.ndarray, n: int) -> np.ndarray:
    return idx.astype(np.uint16 if n <= np.iinfo(np.uint16).max + 1 else np.uint32)


def knn_votes(emb, y_fit: np.ndarray, k: int) -> np.ndarray:
    """A map's kNN vote for every test point (an `Embedding`; y_fit: its fit rows' labels): the
    classifier its kNN accuracy scores."""
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=k).fit(emb.train, y_fit).predict(emb.test)


def jaccard(shared: np.ndarray, k: int) -> np.ndarray:
    """The Jaccard index of two k-neighbour sets that share `shared` rows: shared / (2k - shared)."""
    shared = np.asarray(shared, dtype=np.float64)
    return shared / (2 * k - shared)


def preservation(shared: np.ndarray, k: int) -> np.ndarray:
    """The share of a point's k source neighbours that stay among its k map neighbours."""
    return np.asarray(shared, dtype=np.float64) / k


@dataclass(frozen=True)
class Alignment:
    """`other` aligned onto `ref`: ref ~ scale * (other - other_mean) @ rotation + ref_mean."""

    rotation: np.ndarray  # 2 x 2, orthogonal (a reflection when its determinant is -1)
    scale: float
    other_mean: np.ndarray
    ref_mean: np.ndarray
    disparity: float

    def apply(self, other: np.ndarray) -> np.ndarray:
        return (
            self.scale * (np.asarray(other, dtype=np.float64) - self.other_mean) @ self.rotation
            + self.ref_mean
        )

    def to_dict(self) -> dict:
        return {
            "rotation": self.rotation.tolist(),
            "scale": float(self.scale),
            "other_mean": self.other_mean.tolist(),
            "ref_mean": self.ref_mean.tolist(),
            "disparity": float(self.disparity),
        }


def procrustes(ref: np.ndarray, other: np.ndarray) -> Alignment:
    """The rotation, reflection, uniform scale and shift that best put `other` onto `ref` (the
    same points, in the same order)."""
    from scipy.linalg import orthogonal_procrustes

    ref, other = np.asarray(ref, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if ref.shape != other.shape or ref.ndim != 2 or len(ref) < 2:
        raise ValueError(
            f"Procrustes needs two maps of the same points: shapes {ref.shape} and {other.shape}"
        )
    ref_mean, other_mean = ref.mean(0), other.mean(0)
    a, b = ref - ref_mean, other - other_mean
    norm_a, norm_b = np.sum(a * a), np.sum(b * b)
    if norm_a == 0 or norm_b == 0:
        raise ValueError("Procrustes of a map whose points all coincide")
    rotation, singular_sum = orthogonal_procrustes(b, a)
    scale = singular_sum / norm_b
    disparity = max(0.0, 1.0 - singular_sum**2 / (norm_a * norm_b))
    return Alignment(rotation, float(scale), other_mean, ref_mean, float(disparity))
