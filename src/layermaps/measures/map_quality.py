"""How well a 2-D map keeps its source's structure, beyond the kNN accuracy of its test points.

- Trustworthiness and continuity (Venna and Kaski 2001) at k neighbours: trustworthiness
  penalises map neighbours that are far in the source, continuity source neighbours that the
  map tears apart. Equal to `sklearn.manifold.trustworthiness` (continuity: the same with the
  two spaces swapped) up to near-ties of distances, without sklearn's n x n rank matrix: the
  source's neighbours by an exact search, ranks only where a neighbour is missing.
- Random and centroid triplet accuracy, as the PaCMAP paper (Wang et al. 2021, JMLR 22) and its
  `evaluation/evaluation.py` define them: the share of triplets (i, j, l) whose order
  d(i, j) < d(i, l) the map keeps; random triplets are seeded, five per row; centroid triplets
  are every triplet of class centroids. Global structure, which neither kNN accuracy nor
  trustworthiness sees.
- Neighbourhood hit: the share of each row's k nearest map neighbours with its label.
- Neighbourhood preservation: the mean share of each row's k nearest source neighbours that
  stay among its k nearest map neighbours (its per-row values: `layermaps.measures.pointwise`).

`neighbourhoods` finds both spaces' neighbours once; the measures that need them take them.
"""

from __future__ import annotations

import numpy as np

BLOCK = 512  # source rows whose distances to every row are held at once (BLOCK x n x 8 bytes)


def nearest(x: np.ndarray, k: int) -> np.ndarray:
    """Each row's k nearest other rows: exact search (faiss, one thread, single precision);
    among rows at equal distance the earlier rows come first."""
    import faiss

    faiss.omp_set_num_threads(1)
    base = np.ascontiguousarray(x, dtype=np.float32)
    index = faiss.IndexFlatL2(base.shape[1])
    index.add(base)
    _, idx = index.search(base, k + 1)
    return _others(idx, k)


def _others(idx: np.ndarray, k: int) -> np.ndarray:
    """From each row's k + 1 nearest rows (itself among them, as a rule), its k nearest others."""
    own = idx == np.arange(len(idx))[:, None]
    # a duplicate row may come before the row itself: drop the row, keep the first k others
    keep = np.where(own.any(1)[:, None], ~own, np.arange(k + 1)[None, :] < k)
    return idx[keep].reshape(len(idx), k)


def map_neighbours(x: np.ndarray, k: int) -> np.ndarray:
    """Each row's k nearest other rows of a map: the same exact search as the source's, so both
    spaces break ties alike (a ReLU layer's equal rows land on equal map points: taken in row
    order in both, they stay each other's neighbours; a k-d tree takes tied points in its own
    order, and a map that keeps them together would look as if it tore them apart)."""
    return nearest(x, k)


def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, how many neighbours the two lists (n x k each, no repeats within a row) share."""
    if a.shape != b.shape:
        raise ValueError(f"neighbour lists of different shapes: {a.shape} and {b.shape}")
    a, b = np.sort(a, axis=1), np.sort(b, axis=1)
    # for each of a's neighbours: is it in b's row? (a sorted search, row by row at once)
    offset = np.arange(len(a), dtype=np.int64)[:, None] * (int(max(a.max(initial=0), b.max(initial=0))) + 1)
    flat_b = (b.astype(np.int64) + offset).ravel()
    flat_a = (a.astype(np.int64) + offset).ravel()
    pos = np.minimum(np.searchsorted(flat_b, flat_a), len(flat_b) - 1)
    return (flat_b[pos] == flat_a).reshape(a.shape).sum(1).astype(np.uint8 if a.shape[1] < 256 else np.uint16)


def _outside(intruders: np.ndarray, nearest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, intruders) of the neighbours in one space that are not among the k nearest in the other."""
    out = ~(intruders[:, :, None] == nearest[:, None, :]).any(2)
    rows, which = np.nonzero(out)
    return rows, intruders[rows, which]


def _source_ranks(x: np.ndarray, rows: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Rank (from 1, the row itself left out) of each `others` among the source neighbours of
    its row: 1 + rows strictly closer; distances computed once for each row that needs them,
    in single precision as the search (a near-tie may rank either way: the penalty moves by one)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    ranks = np.empty(len(rows), dtype=np.int64)
    norms = np.einsum("ij,ij->i", x, x)
    unique, first = np.unique(rows, return_index=True)  # rows come sorted (np.nonzero)
    bounds = np.append(first, len(rows))
    for start in range(0, len(unique), BLOCK):
        r = unique[start : start + BLOCK]
        d = norms[r, None] - 2.0 * x[r] @ x.T + norms[None, :]
        d[np.arange(len(r)), r] = np.inf
        pairs = slice(bounds[start], bounds[min(start + BLOCK, len(unique))])
        local = np.searchsorted(r, rows[pairs])
        ranks[pairs] = np.count_nonzero(d[local] < d[local, others[pairs]][:, None], axis=1) + 1
    return ranks


def _map_ranks(x: np.ndarray, rows: np.ndarray, others: np.ndarray) -> np.ndarray:
    """The same in a 2-D map, by counting the points within each distance (a k-d tree)."""
    from scipy.spatial import cKDTree

    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    radius = np.sqrt(((x[rows] - x[others]) ** 2).sum(1))
    # points at a distance <= radius: the row itself, the neighbour and every closer one
    within = cKDTree(x).query_ball_point(x[rows], radius * (1 - 1e-12), return_length=True)
    return np.asarray(within, dtype=np.int64)  # = 1 (itself) + closer: the neighbour is just outside


def _normalised(penalty: float, n: int, k: int) -> float:
    return 1.0 - penalty * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))


def neighbourhoods(x_high, x_low, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(source neighbours, map neighbours): each row's k nearest other rows in each space."""
    n = len(x_high)
    if len(x_low) != n:
        raise ValueError(f"the source has {n} rows but the map {len(x_low)}")
    if not 1 <= k < n / 2:  # sklearn's own limit
        raise ValueError(f"k={k} needs 1 <= k < n/2 = {n / 2}")
    return nearest(x_high, k), map_neighbours(np.asarray(x_low, dtype=np.float64), k)


def trustworthiness_continuity(x_high, x_low, *, k: int = 5, found=None) -> tuple[float, float]:
    """found: `neighbourhoods(x_high, x_low, k)`, when the caller has them."""
    x_high, x_low = np.asarray(x_high, dtype=np.float64), np.asarray(x_low, dtype=np.float64)
    n = len(x_high)
    high_nn, low_nn = found if found is not None else neighbourhoods(x_high, x_low, k)
    # A neighbour missing from the k nearest ranks k + 1 at least: among rows at exactly its
    # distance (a ReLU layer's duplicates) it is taken to come first, never inside the k.
    rows, others = _outside(low_nn, high_nn)  # map neighbours that are far in the source
    trust = _normalised(float((np.maximum(_source_ranks(x_high, rows, others), k + 1) - k).sum()), n, k)
    rows, others = _outside(high_nn, low_nn)  # source neighbours the map tears apart
    continuity = _normalised(float((np.maximum(_map_ranks(x_low, rows, others), k + 1) - k).sum()), n, k)
    return trust, continuity


def random_triplet_accuracy(x_high, x_low, *, per_row: int = 5, seed: int = 0) -> float:
    """PaCMAP's random triplet accuracy: for each row i, `per_row` seeded pairs (j, l) of other
    rows; the share whose order of distance to i the map keeps."""
    x_high, x_low = np.asarray(x_high, dtype=np.float64), np.asarray(x_low, dtype=np.float64)
    n = len(x_high)
    if n < 3:
        raise ValueError(f"triplets need at least 3 rows, got {n}")
    rng = np.random.default_rng(seed)
    i = np.repeat(np.arange(n), per_row)
    j = (i + rng.integers(1, n, size=i.size)) % n  # never i itself
    l = (i + rng.integers(1, n, size=i.size)) % n
    keep = j != l
    i, j, l = i[keep], j[keep], l[keep]

    def closer(x):
        return ((x[i] - x[j]) ** 2).sum(1) < ((x[i] - x[l]) ** 2).sum(1)

    return float((closer(x_high) == closer(x_low)).mean())


def centroid_triplet_accuracy(x_high, x_low, labels) -> float:
    """PaCMAP's centroid triplet accuracy: every triplet of class centroids (i; j, l), the share
    whose order of distance to i the map keeps."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 3:
        raise ValueError(f"centroid triplets need at least 3 classes, got {len(classes)}")
    high = np.stack([np.asarray(x_high, dtype=np.float64)[labels == c].mean(0) for c in classes])
    low = np.stack([np.asarray(x_low, dtype=np.float64)[labels == c].mean(0) for c in classes])
    m = len(classes)
    i, j, l = (a.ravel() for a in np.meshgrid(np.arange(m), np.arange(m), np.arange(m), indexing="ij"))
    keep = (i != j) & (i != l) & (j < l)
    i, j, l = i[keep], j[keep], l[keep]

    def closer(x):
        return ((x[i] - x[j]) ** 2).sum(1) < ((x[i] - x[l]) ** 2).sum(1)

    return float((closer(high) == closer(low)).mean())


def neighbourhood_hit(x_low, labels, *, k: int = 5, low_nn=None) -> float:
    """The mean share of each row's k nearest map neighbours that carry its label (low_nn: those
    neighbours, when the caller has them)."""
    labels = np.asarray(labels)
    nn = low_nn if low_nn is not None else map_neighbours(np.asarray(x_low, dtype=np.float64), k)
    return float((labels[nn] == labels[:, None]).mean())


def neighbourhood_preservation(high_nn: np.ndarray, low_nn: np.ndarray) -> float:
    """The mean share of each row's source neighbours that are among its map neighbours."""
    return float(overlap(high_nn, low_nn).mean() / high_nn.shape[1])
