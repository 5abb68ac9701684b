"""Reducers on small real MNIST: shapes, determinism, test points in the training frame,
degenerate inputs, settings, the TriMAP protocol, and the openTSNE re-centring trap."""

import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

import layermaps
from layermaps.embed.reducers import REDUCERS, Embedding, TriMAPReducer, TSNEReducer, embed

# Every registered reducer with its short optimisation (the workflow uses the library
# defaults), plus TriMAP's inductive variant.
FAST = {name: (name, cls.small_settings) for name, cls in REDUCERS.items()} | {
    "trimap_knn": ("trimap", {**TriMAPReducer.small_settings, "out_of_sample": "knn"})
}
# (min 5-NN accuracy of test points, max median test-to-input-space-neighbour gap / spread).
# The tests use seed 0, but another CPU rounds differently and the optimisations diverge from
# there: a relative perturbation of 1e-6 of the inputs moves seed 0's tsne accuracy from .835
# to .795, umap's from .805 to .74. So a threshold must hold for the spread over seeds, not
# for one seed's value. Measured on this data over seeds 0-39 (accuracy min / median / sd on
# 200 test points; gap max): pca .365 (deterministic) / gap .34; tsne .805/.835/.012, .009;
# umap .725/.765/.023, .10; pacmap .72/.805/.027, .06; trimap .73/.805/.021, .07; trimap_knn
# .62/.66/.022, .12. Thresholds lie >= 5 sd below the median and >= .05 below the minimum;
# chance accuracy is .1 and test points in another frame score near it.
# A reducer not measured yet must at least place test points well above chance, near their
# input-space neighbours.
EXPECT = {
    "pca": (0.25, 0.5),
    "tsne": (0.75, 0.03),
    "umap": (0.65, 0.15),
    "pacmap": (0.6, 0.15),
    "trimap": (0.65, 0.15),
    "trimap_knn": (0.55, 0.2),
}
UNMEASURED = (0.3, 0.3)


@pytest.fixture(scope="module")
def embedded(mnist50):
    x, _, xt, _ = mnist50
    return {key: embed(name, x, xt, seed=0, settings=s) for key, (name, s) in FAST.items()}


def _gap_ratio(mnist50, e):
    """Median 2-D distance from each test point to its nearest training row (in input space),
    relative to the median radius of the training embedding."""
    x, _, xt, _ = mnist50
    nn = NearestNeighbors(n_neighbors=1).fit(x).kneighbors(xt, return_distance=False)[:, 0]
    gap = np.linalg.norm(e.test - e.train[nn], axis=1)
    return np.median(gap) / np.median(np.linalg.norm(e.train - np.median(e.train, 0), axis=1))


@pytest.mark.parametrize("key", FAST)
def test_fit_shapes_and_record(embedded, key):
    e = embedded[key]
    assert e.train.shape == (1000, 2) and e.test.shape == (200, 2)
    assert e.train.dtype == np.float32 and e.test.dtype == np.float32
    assert np.isfinite(e.train).all() and np.isfinite(e.test).all()
    assert (e.policy, e.input_dim, e.effective_dim, e.reducer) == ("fit", 50, 50, FAST[key][0])
    name, settings = FAST[key]
    assert e.protocol == REDUCERS[name](seed=0, **settings).protocol
    assert e.fit_seconds > 0 and e.transform_seconds >= 0
    assert e.train.std(axis=0).min() > 0  # not collapsed


@pytest.mark.parametrize("key", FAST)
def test_test_points_land_among_their_training_neighbours(mnist50, embedded, key):
    _, y, _, yt = mnist50
    e = embedded[key]
    min_acc, max_gap = EXPECT.get(key, UNMEASURED)
    assert KNeighborsClassifier(5).fit(e.train, y).score(e.test, yt) > min_acc
    assert _gap_ratio(mnist50, e) < max_gap


@pytest.mark.parametrize("key", FAST)
def test_deterministic_for_a_seed(mnist50, embedded, key):
    x, _, xt, _ = mnist50
    name, s = FAST[key]
    again = embed(name, x, xt, seed=0, settings=s)
    np.testing.assert_array_equal(again.train, embedded[key].train)
    np.testing.assert_array_equal(again.test, embedded[key].test)


@pytest.mark.parametrize("key", [k for k in FAST if k != "pca"])  # full-SVD PCA has no randomness
def test_seed_reaches_the_library(mnist50, key):
    x, _, xt, _ = mnist50
    name, s = FAST[key]
    a, b = (embed(name, x[:300], xt[:50], seed=seed, settings=s) for seed in (0, 1))
    assert not np.allclose(a.train, b.train)


def test_trimap_deterministic_with_several_numba_threads(mnist50):
    # numba keeps one np.random state per thread: every worker must be seeded, not just ours.
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:  # n_jobs=2 would silently run 1 thread: no test
        pytest.skip("numba is capped at 1 thread here (NUMBA_NUM_THREADS or a 1-CPU machine)")
    x, _, xt, _ = mnist50
    a, b = (embed("trimap", x[:400], xt[:50], seed=0, n_jobs=2, settings={"n_iters": 50}) for _ in range(2))
    np.testing.assert_array_equal(a.train, b.train)


def test_opentsne_train_coords_read_after_transform(mnist50):
    """openTSNE's transform re-centres the stored training embedding in place (it subtracts
    the mid-range, (max + min) / 2): run() must return the training coordinates read after
    transform, in the frame of the test points. The shift openTSNE makes on its own depends on
    the machine's rounding (0.3 to 3.9 units here depending on seed, 0.9 elsewhere), so the
    trap is planted: the fitted embedding is moved by a known offset of several times its
    own extent, which transform must take out again."""
    x, _, xt, _ = mnist50

    class Planted(TSNEReducer):
        def fit(self, x):
            fitted = super().fit(x)
            self.offset = np.array([4.0, -3.0]) * np.ptp(fitted, axis=0)
            self.embedding_ += self.offset  # in place: openTSNE's own reference embedding
            self.before = np.array(self.embedding_)
            return self.before.copy()  # what run() returns unless it re-reads after transform

    r = Planted(seed=0, **FAST["tsne"][1])
    train, test, _, _ = r.run(x, xt)
    after = np.array(r.embedding_)
    extent = np.ptp(after, axis=0)
    # The trap: transform centred the stored embedding, a pure translation by about -offset.
    np.testing.assert_allclose((after.max(0) + after.min(0)) / 2, 0, atol=1e-9 * extent.max())
    shift = r.before - after
    np.testing.assert_allclose(
        shift, np.broadcast_to(shift[0], shift.shape), atol=1e-9 * np.abs(r.offset).max()
    )
    assert np.all(np.abs(shift[0]) > 2 * extent)  # the planted offset (3-4 extents) came out
    # run() avoids it: its training coordinates are the re-centred ones ...
    np.testing.assert_array_equal(train, after.astype(np.float32))
    assert np.all(np.abs(train.max(0) + train.min(0)) / 2 < 1e-6 * extent)
    # ... and the test points land next to their input-space neighbours in that frame, while
    # against the pre-transform coordinates they would be several extents away.
    assert _gap_ratio(mnist50, Embedding(train, test, "", "", 0, 0, 0, 0)) < 0.03
    stale = Embedding(r.before.astype(np.float32), test, "", "", 0, 0, 0, 0)
    assert _gap_ratio(mnist50, stale) > 1.0


def test_trimap_knn_placement_is_weighted_mean_of_training_neighbours(mnist50):
    x, _, xt, _ = mnist50
    r = TriMAPReducer(seed=0, n_iters=100, out_of_sample="knn", knn_k=4)
    train = r.fit(x)
    test = r.transform(xt[:5])
    dist, idx = NearestNeighbors(n_neighbors=4).fit(x).kneighbors(xt[:5])
    w = 1 / dist
    expected = (w[:, :, None] * train[idx]).sum(1) / w.sum(1, keepdims=True)
    np.testing.assert_allclose(test, expected, rtol=1e-5, atol=1e-5)
    # A test row identical to a training row lands on it. Up to rounding: the distance sklearn
    # computes from a row to itself is exactly 0 for some rows and ~1e-7 for others, depending
    # on the BLAS kernel (so on the CPU); a weight of 1/1e-7 still outweighs the other
    # neighbours (distances ~3) by ~1e7, which leaves an error far below 1e-5 of the extent.
    np.testing.assert_allclose(r.transform(x[:50]), train[:50], rtol=0, atol=1e-5 * np.ptp(train))


def test_trimap_transductive_never_fits_test_alone(mnist50):
    x, _, xt, _ = mnist50
    r = TriMAPReducer(seed=0, n_iters=50)
    assert r.protocol == "transductive"
    with pytest.raises(RuntimeError, match="transductive"):
        r.fit(x)  # no separate fit (of train or of test) in transductive mode
    assert TriMAPReducer(seed=0, out_of_sample="knn").protocol == "inductive"


# ----------------------------------------------------------------- degenerate inputs


def _columns(mnist_small, cols):
    x, _, xt, _ = mnist_small
    return x[:300, cols], xt[:60, cols]


# Pixel 0 (a corner) is 0 in every image; pixels 350/351/406 vary (centre of the digit area).
DEGENERATE = {
    "1-D": ([350], "identity", 1),
    "2-D": ([350, 406], "identity", 2),
    "all-constant": ([0, 1, 2, 783], "constant", 0),
    "3 cols, 2 constant": ([0, 350, 783], "identity", 1),
}


@pytest.mark.parametrize("name", REDUCERS)
@pytest.mark.parametrize("case", DEGENERATE)
def test_degenerate_inputs_follow_the_policy(mnist_small, name, case):
    cols, policy, eff = DEGENERATE[case]
    x, xt = _columns(mnist_small, cols)
    e = embed(name, x, xt, seed=0, settings=FAST[name][1])
    assert (e.policy, e.effective_dim, e.input_dim, e.protocol) == (policy, eff, len(cols), "inductive")
    assert e.train.shape == (300, 2) and e.test.shape == (60, 2) and e.train.dtype == np.float32
    live = [i for i, c in enumerate(cols) if c != 0 and c != 783 and c not in (1, 2)]
    expect_tr = np.zeros((300, 2), np.float32)
    expect_te = np.zeros((60, 2), np.float32)
    expect_tr[:, : len(live)], expect_te[:, : len(live)] = x[:, live], xt[:, live]
    np.testing.assert_array_equal(e.train, expect_tr)
    np.testing.assert_array_equal(e.test, expect_te)


def test_constant_columns_decided_on_train_only(mnist_small):
    x, xt = _columns(mnist_small, [0, 1, 2])
    xt = xt.copy()
    xt[:, 0] = 0.5  # varies from train, still a dead unit as far as train is concerned
    e = embed("umap", x, xt, seed=0)
    assert e.policy == "constant" and not e.test.any()


@pytest.mark.parametrize("key", FAST)
def test_relu_like_three_unit_layer_is_fitted(mnist_small, key):
    """The sweep's narrow layers: 3 ReLU units, half the rows all zero (many duplicates)."""
    x, _, xt, _ = mnist_small
    w = np.random.default_rng(0).normal(size=(784, 3)).astype(np.float32)
    relu = lambda a: np.maximum(a @ w - 4.0, 0)  # noqa: E731
    h, ht = relu(x[:400]), relu(xt[:80])
    assert 0.2 < (h.sum(1) == 0).mean() < 0.9
    name, s = FAST[key]
    e = embed(name, h, ht, seed=0, settings=s)
    assert e.policy == "fit" and e.effective_dim == 3
    assert np.isfinite(e.train).all() and np.isfinite(e.test).all()


# ----------------------------------------------------------------- settings and inputs


@pytest.mark.parametrize("name", REDUCERS)
def test_unknown_setting_refused_naming_the_key(name):
    x = np.random.default_rng(0).random((50, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=rf"{name}.*'n_compnents'.*allowed"):
        embed(name, x, x, seed=0, settings={"n_compnents": 3})


@pytest.mark.parametrize("name", REDUCERS)
def test_reserved_settings_refused(name):
    # seed, n_jobs and the output dimension belong to embed(), not to settings.
    for key in ("random_state", "n_components", "n_dims", "verbose"):
        with pytest.raises(ValueError, match=key):
            REDUCERS[name](seed=0, **{key: 1})


def test_nested_and_mode_settings_checked():
    with pytest.raises(ValueError, match="'kk'"):
        TSNEReducer(seed=0, transform={"kk": 3})
    with pytest.raises(ValueError, match="out_of_sample"):
        TriMAPReducer(seed=0, out_of_sample="separate_fit")
    with pytest.raises(ValueError, match="unknown reducer 'isomap'"):
        embed("isomap", np.zeros((5, 3)), np.zeros((5, 3)), seed=0)


def test_allowed_settings_exist_in_the_libraries():
    import importlib

    import openTSNE

    for name, cls in REDUCERS.items():
        module, _, attr = cls.library.partition(":")
        params = set(inspect.signature(getattr(importlib.import_module(module), attr)).parameters)
        assert set(cls.allowed) - set(cls.own_settings) <= params, name
        assert set(cls.small_settings) <= set(cls.allowed), name
    assert set(TSNEReducer.transform_allowed) <= set(
        inspect.signature(openTSNE.TSNEEmbedding.transform).parameters
    )


def test_settings_rules_name_settings_their_class_takes():
    """Each class's settings rules (Reducer.check_settings) refer to its own settings, and the
    installed library's signature is read: an upgrade that moved it would check nothing."""
    from layermaps.embed.settings import library_settings

    for name, cls in REDUCERS.items():
        assert set(cls.own_types) == set(cls.own_settings), name
        assert set(cls.whole_numbers) <= set(cls.allowed) - set(cls.own_settings), name
        assert set(cls.nested_settings) <= set(cls.own_types), name
        assert set(cls.allowed) - set(cls.own_settings) <= set(library_settings(cls.library)), name
        cls.check_settings(cls.small_settings, where=f"reducers.{name}")
    nested = library_settings(TSNEReducer.nested_settings["transform"])
    assert set(TSNEReducer.transform_allowed) <= set(nested)


@pytest.mark.parametrize(
    "name, settings, message",
    [
        (
            "umap",
            {"n_neighbors": "15"},
            'reducers.umap.n_neighbors = "15" is a string (quoted); umap.UMAP takes a whole number '
            "(its default: 15). Write it without quotes: n_neighbors: 15.",
        ),
        (
            "umap",
            {"n_neighbors": 15.5},  # a float in umap's docstring, a whole number for the graph
            "reducers.umap.n_neighbors = 15.5 is a decimal number; umap.UMAP takes a whole number "
            "(its default: 15).",
        ),
        (
            "tsne",
            {"perplexity": "forty"},
            'reducers.tsne.perplexity = "forty" is a string (quoted); openTSNE.TSNE takes a number '
            "(its default: 30).",
        ),
        (
            "tsne",
            {"transform": {"k": "25"}},
            'reducers.tsne.transform.k = "25" is a string (quoted); openTSNE.TSNEEmbedding.transform '
            "takes a whole number (its default: 25). Write it without quotes: k: 25.",
        ),
        (
            "tsne",
            {"transform": 3},
            "reducers.tsne.transform = 3 is a whole number; layermaps' TSNEReducer takes a mapping.",
        ),
        (
            "trimap",
            {"knn_k": True},
            "reducers.trimap.knn_k = true is a boolean; layermaps' TriMAPReducer takes a whole number.",
        ),
    ],
)
def test_check_settings_names_the_key_its_type_and_what_is_taken(name, settings, message):
    from layermaps.embed.reducers import SettingTypeError

    with pytest.raises(SettingTypeError) as err:
        REDUCERS[name].check_settings(settings, where=f"reducers.{name}")
    assert str(err.value) == message


def test_check_settings_accepts_what_the_library_takes_and_refuses_unknown_names():
    REDUCERS["tsne"].check_settings({"perplexity": 40, "transform": {"k": 10}}, where="reducers.t")
    REDUCERS["umap"].check_settings({"min_dist": 1}, where="reducers.u")  # an int where a float is
    with pytest.raises(ValueError, match="umap: unknown setting.*'n_neighbours'"):
        REDUCERS["umap"].check_settings({"n_neighbours": 15}, where="reducers.umap")


@pytest.mark.parametrize(
    "name, settings, n, key",
    [
        ("tsne", {}, 80, "perplexity"),
        ("tsne", {"perplexity": 5, "transform": {"k": 40}}, 30, "transform.k"),
        ("umap", {"n_neighbors": 50}, 40, "n_neighbors"),
        ("pacmap", {"n_neighbors": 40}, 30, "n_neighbors"),
        ("trimap", {"n_inliers": 40}, 30, "n_inliers"),
    ],
)
def test_too_few_rows_refused_naming_the_setting(mnist50, name, settings, n, key):
    x, _, xt, _ = mnist50
    with pytest.raises(ValueError, match=rf"{name}: .*{key}"):
        embed(name, x[:n], xt[:5], seed=0, settings=settings)


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda x, xt: (x[:, 0], xt), "2-D"),
        (lambda x, xt: (x, xt[:, :10]), "columns"),
        (lambda x, xt: (np.where(x == x.max(), np.nan, x), xt), "NaN"),
        (lambda x, xt: (x, np.full_like(xt, np.inf)), "infinite"),
        (lambda x, xt: (x.astype(complex), xt), "real"),
        (lambda x, xt: (x[:0], xt), "empty"),
    ],
)
def test_bad_inputs_refused(mnist50, bad, match):
    x, _, xt, _ = mnist50
    with pytest.raises(ValueError, match=match):
        embed("pca", *bad(x, xt), seed=0)


def test_save_load_round_trip(tmp_path, embedded):
    e = embedded["trimap"]
    path = tmp_path / "sub" / "emb.npz"
    e.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["emb.npz"]  # no temp file left behind
    back = Embedding.load(path)
    np.testing.assert_array_equal(back.train, e.train)
    np.testing.assert_array_equal(back.test, e.test)
    assert (back.protocol, back.policy, back.reducer) == ("transductive", "fit", "trimap")
    assert (back.fit_seconds, back.transform_seconds) == (e.fit_seconds, e.transform_seconds)
    assert (back.input_dim, back.effective_dim) == (50, 50)
    e.save(path)  # overwrite in place
    assert Embedding.load(path).reducer == "trimap"


def test_import_is_cheap():
    code = (
        "import sys, layermaps.embed.reducers, layermaps.embed.scoring; "
        "print(sorted(m for m in ('umap', 'openTSNE', 'pacmap', 'trimap', 'numba', "
        "'tensorflow', 'faiss') if m in sys.modules))"
    )
    src = str(Path(layermaps.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"


def test_umap_jobs_do_not_import_tensorflow():
    """umap-learn would pull in TensorFlow (3 s, 500 MB per job) for ParametricUMAP."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from layermaps.embed.reducers import embed\n"
        "x = np.random.default_rng(0).random((60, 5)).astype('float32')\n"
        "e = embed('umap', x, x[:10], seed=0, settings={'n_epochs': 10, 'n_neighbors': 5})\n"
        "print(e.train.shape, 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(60, 2) False"
