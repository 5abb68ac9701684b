"""The shared exact neighbour graph: exactness, the libraries' own searches give the same
neighbours on a small case, and maps made with it agree with maps made without it."""

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from layermaps.config import check_reducers
from layermaps.embed.neighbors import NeighborGraph, build_graph, graph_sizes
from layermaps.embed.reducers import SharedNeighbors, embed

QUIET = dict(log=lambda message: None)


@pytest.fixture(scope="module")
def graph(mnist50):
    x, _, xt, _ = mnist50
    return build_graph(x, xt, k_train=90, k_test=25, **QUIET)


def test_graph_is_the_exact_knn_of_each_row_without_itself(mnist50, graph):
    x, _, xt, _ = mnist50
    dist, idx = NearestNeighbors(n_neighbors=90, algorithm="brute").fit(x).kneighbors()
    np.testing.assert_array_equal(graph.train_idx, idx)
    np.testing.assert_allclose(graph.train_dist, dist, rtol=1e-4)
    dist, idx = NearestNeighbors(n_neighbors=25, algorithm="brute").fit(x).kneighbors(xt)
    np.testing.assert_array_equal(graph.test_idx, idx)
    np.testing.assert_allclose(graph.test_dist, dist, rtol=1e-4)
    assert graph.train_idx.dtype == np.int32 and graph.train_dist.dtype == np.float32
    assert (np.diff(graph.train_dist, axis=1) >= 0).all() and graph.seconds > 0


def test_a_duplicated_row_has_its_twin_first_and_never_itself():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    x[7] = x[3]
    g = build_graph(x, x[:5], k_train=4, k_test=2, **QUIET)
    assert (g.train_idx != np.arange(200)[:, None]).all()
    assert g.train_idx[3, 0] == 7 and g.train_idx[7, 0] == 3 and g.train_dist[3, 0] == 0
    assert g.test_idx[3, 0] in (3, 7) and g.test_dist[3, 0] == 0


def test_same_graph_with_one_thread_or_two(mnist50, graph):
    x, _, xt, _ = mnist50
    two = build_graph(x, xt, k_train=90, k_test=25, threads=2, **QUIET)
    np.testing.assert_array_equal(two.train_idx, graph.train_idx)
    np.testing.assert_array_equal(two.test_idx, graph.test_idx)


def test_same_neighbours_as_umaps_own_search(mnist50, graph):
    # Below 4,096 rows umap-learn searches exactly and builds its fuzzy graph from those
    # neighbours; built from the shared graph, the fuzzy graph is the same.
    from layermaps.embed.reducers import SharedNeighbors, UMAPReducer

    x, _, xt, _ = mnist50
    own, shared = UMAPReducer(seed=0, n_epochs=1), UMAPReducer(seed=0, n_epochs=1)
    shared.graph = SharedNeighbors(graph, xt)
    for reducer in (own, shared):
        reducer.fit(x)
    a, b = own.model.graph_.tocsr(), shared.model.graph_.tocsr()
    a.sort_indices(), b.sort_indices()
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-4)


def test_same_neighbours_as_opentsnes_own_search(mnist50, graph):
    # openTSNE's exact method: what it uses below 1,000 rows (Annoy's approximation above).
    from openTSNE.nearest_neighbors import Sklearn

    x, _, xt, _ = mnist50
    index = Sklearn(x, 90)
    idx, dist = index.build()
    np.testing.assert_array_equal(graph.train_idx, idx)
    np.testing.assert_allclose(graph.train_dist, dist, rtol=1e-4)
    np.testing.assert_array_equal(graph.test_idx, index.query(xt, 25)[0])


FAST = {"tsne": {"n_iter": 250, "early_exaggeration_iter": 125}, "umap": {"n_epochs": 200}}


@pytest.mark.parametrize("name", FAST)
def test_maps_with_the_shared_graph_agree_with_maps_without(mnist50, graph, name):
    """The 5-NN accuracy of test points, over seeds 0-4, with the graph and without: the means
    agree within 0.05 (seed-to-seed sd on this data: tsne .012, umap .023; tests/test_reducers)
    and every map clears test_reducers' threshold (tsne .75, umap .65)."""
    x, y, xt, yt = mnist50
    acc = {}
    for shared in (True, False):
        acc[shared] = []
        for seed in range(5):
            e = embed(name, x, xt, seed=seed, settings=FAST[name], graph=graph if shared else None)
            acc[shared].append(KNeighborsClassifier(5).fit(e.train, y).score(e.test, yt))
    assert min(acc[True] + acc[False]) > {"tsne": 0.75, "umap": 0.65}[name], acc
    assert abs(np.mean(acc[True]) - np.mean(acc[False])) < 0.05, acc


def test_reducers_without_a_graph_ignore_it(mnist50, graph):
    x, _, xt, _ = mnist50
    a = embed("pca", x, xt, seed=0, graph=graph)
    b = embed("pca", x, xt, seed=0)
    np.testing.assert_array_equal(a.train, b.train)


def test_the_graph_places_its_own_test_rows_only(mnist50, graph):
    _, _, xt, _ = mnist50
    shared = SharedNeighbors(graph, xt)
    idx, dist = shared.test(xt.copy(), 15)
    assert idx.shape == (200, 15)
    with pytest.raises(ValueError, match="test rows only"):
        shared.test(xt[::-1].copy(), 15)


def test_a_graph_of_other_rows_or_too_few_neighbours_is_refused(mnist50, graph):
    x, _, xt, _ = mnist50
    with pytest.raises(
        ValueError,
        match="graph is of 1000 training and 200 test rows, the data "
        "has 999 and 200: rerun its `neighbors` job",
    ):
        embed("umap", x[:999], xt, seed=0, graph=graph)
    small = build_graph(x, xt, k_train=10, k_test=10, **QUIET)
    with pytest.raises(ValueError, match=r"tsne: too few neighbours in the graph \(train needs 90"):
        embed("tsne", x, xt, seed=0, graph=small)


def test_save_load_round_trip(tmp_path, graph):
    graph.save(tmp_path / "g.npz")
    back = NeighborGraph.load(tmp_path / "g.npz")
    np.testing.assert_array_equal(back.train_idx, graph.train_idx)
    np.testing.assert_array_equal(back.test_dist, graph.test_dist)
    assert back.seconds == graph.seconds


@pytest.mark.parametrize(
    "reducers, sizes",
    [
        ({"pca": {}, "tsne": {}, "umap": {}, "trimap": {}, "pacmap": {}}, (90, 25)),
        ({"umap": {"n_neighbors": 30}}, (29, 30)),
        ({"tsne": {"perplexity": 10, "transform": {"k": 40}}, "umap": {}}, (30, 40)),
        ({"tsne": {"metric": "cosine"}, "umap": {"metric": "manhattan"}}, (0, 0)),
        ({"pca": {}, "trimap": {}, "pacmap": {}}, (0, 0)),
    ],
)
def test_graph_sizes_follow_the_reducers_that_read_one(reducers, sizes):
    assert graph_sizes(check_reducers(reducers)) == sizes
