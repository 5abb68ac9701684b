"""One exact nearest-neighbour graph per source, computed once and reused by the reducers.

`build_graph` finds, in Euclidean distance, the `k_train` nearest training rows of every
training row (itself left out) and the `k_test` nearest training rows of every test row. The
search is exact (FAISS brute force, BLAS), so the graph is the same whatever the thread count,
up to rounding of near-ties; distances of the chosen pairs are recomputed directly (the BLAS
identity |x|^2 + |y|^2 - 2xy loses digits for close pairs) and each row re-sorted by them.

The reducers that take a graph (layermaps.embed.reducers: UMAP, openTSNE) read their own number of
neighbours off the front of each row; `graph_sizes` says how many the configured reducers need.
A variant that needs more (t-SNE at perplexity 40: 120) reads a graph of its own size
(`graph_size`), so adding it leaves the base graph, and every map made from it, as it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from layermaps.atomic import NpzRecord

BATCH = 4096  # query rows per FAISS call: a progress line per batch, bounded memory


@dataclass
class NeighborGraph(NpzRecord):
    train_idx: np.ndarray  # (n_train, k_train) int32: training rows, nearest first, self excluded
    train_dist: np.ndarray  # (n_train, k_train) float32 Euclidean distances
    test_idx: np.ndarray  # (n_test, k_test) int32: training rows nearest to each test row
    test_dist: np.ndarray  # (n_test, k_test) float32
    seconds: float  # time taken to build it

    def check(self, n_train: int, n_test: int, k_train: int, k_test: int, who: str) -> None:
        """Raise ValueError when this graph cannot serve `who` on data of this shape."""
        have = (len(self.train_idx), len(self.test_idx))
        if have != (n_train, n_test):
            raise ValueError(
                f"{who}: the neighbour graph is of {have[0]} training and {have[1]} "
                f"test rows, the data has {n_train} and {n_test}: rerun its "
                "`neighbors` job (snakemake --forcerun neighbors)"
            )
        short = [
            f"{what} needs {need}, the graph has {got}"
            for what, need, got in (
                ("train", k_train, self.train_idx.shape[1]),
                ("test", k_test, self.test_idx.shape[1]),
            )
            if need > got
        ]
        if short:
            raise ValueError(f"{who}: too few neighbours in the graph ({'; '.join(short)})")


def _search(base: np.ndarray, queries: np.ndarray, k: int, label: str, log) -> tuple:
    import faiss

    index = faiss.IndexFlatL2(base.shape[1])
    index.add(base)
    idx = np.empty((len(queries), k), np.int64)
    for start in range(0, len(queries), BATCH):
        stop = min(start + BATCH, len(queries))
        _, idx[start:stop] = index.search(queries[start:stop], k)
        log(f"[neighbors] {label}: {stop}/{len(queries)} rows")
    return idx


def _exact_distances(base, queries, idx) -> tuple[np.ndarray, np.ndarray]:
    """Distances of the chosen pairs computed as |x - y|, each row sorted by them."""
    dist = np.empty(idx.shape, np.float32)
    for start in range(0, len(idx), 1024):  # (rows, k, columns) at a time, not all at once
        rows = slice(start, start + 1024)
        diff = base[idx[rows]] - queries[rows, None, :]
        dist[rows] = np.sqrt(np.einsum("nkd,nkd->nk", diff, diff))
    order = np.argsort(dist, axis=1, kind="stable")
    return (np.take_along_axis(idx, order, 1).astype(np.int32), np.take_along_axis(dist, order, 1))


def build_graph(
    x_train: np.ndarray, x_test: np.ndarray, *, k_train: int, k_test: int, threads: int = 1, log=print
) -> NeighborGraph:
    """The exact k-NN graph of the training rows and the test rows' neighbours among them."""
    import faiss

    n = len(x_train)
    if k_train < 1 or k_test < 1:
        raise ValueError(f"neighbour counts must be >= 1, got k_train={k_train}, k_test={k_test}")
    if n < 2:
        raise ValueError(f"a neighbour graph needs at least 2 training rows, got {n}")
    k_train, k_test = min(k_train, n - 1), min(k_test, n)
    faiss.omp_set_num_threads(int(threads))
    x_train = np.ascontiguousarray(x_train, np.float32)
    x_test = np.ascontiguousarray(x_test, np.float32)
    t0 = time.perf_counter()
    # One more than asked: each row's own index is dropped (or, when exact duplicates push it
    # out of the list, the farthest one), as scikit-learn's kneighbors() does without a query.
    idx = _search(x_train, x_train, k_train + 1, "train", log)
    is_self = idx == np.arange(n)[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    train_idx, train_dist = _exact_distances(x_train, x_train, idx[~is_self].reshape(n, k_train))
    test_idx, test_dist = _exact_distances(x_train, x_test, _search(x_train, x_test, k_test, "test", log))
    return NeighborGraph(train_idx, train_dist, test_idx, test_dist, time.perf_counter() - t0)


def graph_sizes(resolved: dict[str, tuple[type, dict]]) -> tuple[int, int]:
    """(k_train, k_test) of a source's base graph: what the configured reducers named after
    their method need (not the variants: adding or changing one must not remake the graph
    that every other map reads). resolved: name -> (class, library settings), as
    layermaps.config.check_reducers gives them. (0, 0) when none of them takes a graph."""
    needs = [
        cls.graph_needs(settings)
        for name, (cls, settings) in resolved.items()
        if cls.name == name and cls.graph_needs(settings) is not None
    ]
    if not needs:
        return 0, 0
    return max(n[0] for n in needs), max(n[1] for n in needs)


def graph_size(cls, settings: dict, base: tuple[int, int]) -> str | None:
    """Which graph a reducer entry (its class and library settings) reads: None (it searches
    for itself), "" (the base graph) or "k{train}x{test}" (a graph of its own size: a variant
    that needs more than the base)."""
    needs = cls.graph_needs(settings)
    if needs is None:
        return None
    return "" if needs[0] <= base[0] and needs[1] <= base[1] else f"k{needs[0]}x{needs[1]}"


def parse_size(size: str) -> tuple[int, int]:
    """ "k120x25" -> (120, 25)."""
    train, test = size.removeprefix("k").split("x")
    return int(train), int(test)
