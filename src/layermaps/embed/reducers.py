"""2-D reducers behind one interface, and the shared handling of degenerate inputs.

`embed(name, x_train, x_test, seed=...)` is the entry point. Every reducer is fitted on the
training rows only and places the test rows in the *same* coordinates with the library's own
out-of-sample transform (protocol "inductive"). TriMAP has none: by default it is fitted on
train and test together without labels (protocol "transductive"); with the setting
`out_of_sample="knn"` it is fitted on train alone and each test row is placed at the
distance-weighted mean of the 2-D positions of its k nearest training rows (inductive).
No code path fits a reducer on the test rows alone: that gives two unrelated coordinate systems.

Neighbours: UMAP and openTSNE read their k-NN graph (and the test rows' neighbours) from a
shared exact graph when one is given (layermaps.embed.neighbors), instead of each running its own
approximate search of the same rows. TriMAP and PaCMAP keep their own search: both first
project inputs wider than 100 columns onto 100 principal components and look for neighbours
there (most sources here are wider), so a graph of the source's own space would change what
they compute; TriMAP's default mode also embeds train and test rows together.

Adding a reducer = one `Reducer` subclass + one entry in `REDUCERS`. Heavy libraries are
imported inside the classes so that `import layermaps.embed.reducers` stays cheap.

A config's `reducers:` entry is named after its method (`umap: {...}`) or is a variant that
names it (`tsne_p40: {method: tsne, perplexity: 40}`): `reducer_class` resolves either.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from layermaps.embed.records import Embedding

# --------------------------------------------------------------------------- helpers


def _set_numba_threads(n_jobs: int) -> None:
    # NUMBA_NUM_THREADS (set by the caller before numba is imported) is the ceiling.
    import numba

    numba.set_num_threads(max(1, min(n_jobs, numba.config.NUMBA_NUM_THREADS)))


def _as_2d(coords) -> np.ndarray:
    """float32 (n, 2): pads a single column with zeros."""
    c = np.asarray(coords, dtype=np.float32)
    if c.shape[1] == 1:
        c = np.hstack([c, np.zeros_like(c)])
    return np.ascontiguousarray(c)


def _too_small(reducer: str, setting: str, value, n: int, need: int, what: str = "n_train"):
    if n < need:
        raise ValueError(
            f"{reducer}: {what}={n} is too small for setting {setting}={value!r} "
            f"(needs {what} >= {need}); lower {setting!r} or use more rows"
        )


# --------------------------------------------------------------------------- reducers


class SettingTypeError(ValueError):
    """A reducer setting of a type its library does not take (the message names the key)."""


class Reducer:
    """Base class: settings are checked against `allowed`; `run` times fit and transform."""

    name = ""
    protocol = "inductive"
    # The library's estimator, "module:Class": the settings in `allowed` are its parameters,
    # except `own_settings`, which this class handles itself.
    library = ""
    own_settings: tuple[str, ...] = ()
    # Settings that keep a map of a few hundred rows quick (fewer iterations): what the tests and
    # their tiny workflow runs use, so a new reducer needs no entry in any test table.
    small_settings: dict = {}
    allowed: tuple[str, ...] = ()  # settings passed to the library (seed, n_jobs, n_components are ours)
    # distributions whose versions decide the map (a version change reruns this reducer's jobs)
    packages: tuple[str, ...] = ("numpy",)
    # The settings' rules beyond their names (check_settings): the types of the settings this
    # class handles itself; library parameters it needs as whole numbers whatever the docstring
    # says (a neighbour count also sizes the shared graph); settings that are themselves
    # settings of another library function ("module:Class.method"). Read by check_settings
    # alone, while the DAG is built: these four members are left out of the embed jobs' code
    # fingerprints (layermaps.fingerprint.PLANNING_ONLY_MEMBERS), so no job code may read them.
    own_types: dict[str, set[str]] = {}
    whole_numbers: tuple[str, ...] = ()
    nested_settings: dict[str, str] = {}

    @classmethod
    def check_settings(cls, settings: dict, where: str) -> None:
        """Refuse a config entry's settings: a type its library does not take raises
        SettingTypeError naming `where`.key; an unknown name, ValueError."""
        from layermaps.embed.settings import library_settings, type_problem

        signature = library_settings(cls.library) if cls.library else {}
        for key, value in settings.items():
            if key in cls.own_types:
                kinds, default, library = cls.own_types[key], None, f"layermaps' {cls.__name__}"
            elif key in signature:
                (kinds, default), library = signature[key], cls.library
            else:
                continue  # an unknown name: refused below
            if key in cls.whole_numbers:
                kinds = (kinds - {"float"}) | {"int"}
            problem = type_problem(f"{where}.{key}", value, kinds, default, library)
            nested = cls.nested_settings.get(key)
            if not problem and nested and isinstance(value, dict):
                inner = library_settings(nested)
                found = (
                    type_problem(f"{where}.{key}.{k}", v, *inner[k], nested)
                    for k, v in value.items()
                    if k in inner
                )
                problem = next((p for p in found if p), None)
            if problem:
                raise SettingTypeError(problem)
        cls(seed=0, **settings)  # cheap: the names, and what the class checks on creation

    @classmethod
    def graph_needs(cls, settings: dict) -> tuple[int, int] | None:
        """(train, test) neighbours read from a shared graph with these settings; None when
        the reducer searches for itself."""
        return None

    def __init__(self, seed: int, n_jobs: int = 1, **settings):
        self.graph: SharedNeighbors | None = None  # set by embed() when a graph is given
        unknown = sorted(set(settings) - set(self.allowed))
        if unknown:
            raise ValueError(
                f"{self.name}: unknown setting(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(self.allowed)}"
            )
        if int(n_jobs) < 1:
            raise ValueError(f"{self.name}: n_jobs must be >= 1, got {n_jobs}")
        self.seed, self.n_jobs, self.settings = int(seed), int(n_jobs), dict(settings)

    def check_size(self, n_train: int, n_test: int) -> None:
        """Raise ValueError naming the setting when there are too few rows for it."""

    def fit(self, x_train: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def transform(self, x_test: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def train_coords(self, fitted: np.ndarray) -> np.ndarray:
        """Training coordinates as they stand after `transform` (openTSNE moves them)."""
        return fitted

    def run(self, x_train, x_test):
        """-> (train, test, fit_seconds, transform_seconds); float32 (n, 2) coordinates."""
        self.check_size(len(x_train), len(x_test))
        t0 = time.perf_counter()
        fitted = self.fit(x_train)
        t1 = time.perf_counter()
        test = self.transform(x_test)
        t2 = time.perf_counter()
        return _as_2d(self.train_coords(fitted)), _as_2d(test), t1 - t0, t2 - t1


class PCAReducer(Reducer):
    name = "pca"
    packages = ("numpy", "scikit-learn", "scipy")
    library = "sklearn.decomposition:PCA"
    allowed = ("whiten", "svd_solver", "tol", "iterated_power", "n_oversamples", "power_iteration_normalizer")

    def fit(self, x):
        from sklearn.decomposition import PCA

        self.model = PCA(n_components=min(2, *x.shape), random_state=self.seed, **self.settings)
        return self.model.fit_transform(x)

    def transform(self, x):
        return self.model.transform(x)


class TSNEReducer(Reducer):
    """openTSNE. The setting `transform` (a dict) goes to `TSNEEmbedding.transform`."""

    name = "tsne"
    own_types = {"transform": {"dict"}}
    nested_settings = {"transform": "openTSNE:TSNEEmbedding.transform"}
    packages = ("numpy", "openTSNE", "scikit-learn", "scipy")
    library = "openTSNE:TSNE"
    own_settings = ("transform",)
    small_settings = {"n_iter": 250, "early_exaggeration_iter": 125}
    allowed = (
        "perplexity",
        "learning_rate",
        "early_exaggeration_iter",
        "early_exaggeration",
        "n_iter",
        "exaggeration",
        "dof",
        "theta",
        "n_interpolation_points",
        "min_num_intervals",
        "ints_in_interval",
        "initialization",
        "metric",
        "metric_params",
        "initial_momentum",
        "final_momentum",
        "max_grad_norm",
        "max_step_norm",
        "neighbors",
        "knn_kwargs",
        "negative_gradient_method",
        "transform",
    )
    transform_allowed = (
        "perplexity",
        "initialization",
        "k",
        "learning_rate",
        "early_exaggeration",
        "early_exaggeration_iter",
        "exaggeration",
        "n_iter",
        "initial_momentum",
        "final_momentum",
        "max_grad_norm",
        "max_step_norm",
    )

    def __init__(self, seed, n_jobs=1, **settings):
        super().__init__(seed, n_jobs, **settings)
        self.transform_settings = dict(self.settings.pop("transform", None) or {})
        unknown = sorted(set(self.transform_settings) - set(self.transform_allowed))
        if unknown:
            raise ValueError(
                f"tsne: unknown transform setting(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(self.transform_allowed)}"
            )

    @classmethod
    def graph_needs(cls, settings):
        if settings.get("metric", "euclidean") != "euclidean" or {"neighbors", "knn_kwargs"} & set(settings):
            return None
        # openTSNE's own k: 3 x perplexity neighbours for fit, `k` (25) for transform
        return int(3 * settings.get("perplexity", 30)), int((settings.get("transform") or {}).get("k", 25))

    def check_size(self, n_train, n_test):
        # openTSNE would silently lower the perplexity; we refuse instead.
        p = self.settings.get("perplexity", 30)
        _too_small("tsne", "perplexity", p, n_train, int(np.floor(3 * p)) + 1)
        k = self.transform_settings.get("k", 25)
        _too_small("tsne", "transform.k", k, n_train, k)

    def fit(self, x):
        from openTSNE import TSNE

        settings = dict(self.settings)
        if self.graph is not None:
            k_train, _ = self.graph_needs(self.settings)
            settings["neighbors"] = _tsne_index(self.graph, x, min(k_train, len(x) - 1))
        tsne = TSNE(n_components=2, n_jobs=self.n_jobs, random_state=self.seed, **settings)
        self.embedding_ = tsne.fit(x)
        return np.array(self.embedding_)

    def transform(self, x):
        # Re-centres self.embedding_ in place: train_coords() reads it afterwards.
        return np.array(self.embedding_.transform(x, **self.transform_settings))

    def train_coords(self, fitted):
        return np.array(self.embedding_)


@dataclass
class SharedNeighbors:
    """A shared neighbour graph (layermaps.embed.neighbors.NeighborGraph) with the test rows whose
    neighbours it holds: what a library asks when it places new rows is checked against them."""

    graph: object
    test_rows: np.ndarray

    def train(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.graph.train_idx[:, :k], self.graph.train_dist[:, :k]

    def test(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if query.shape != self.test_rows.shape or not np.array_equal(query, self.test_rows):
            raise ValueError(
                "the shared neighbour graph holds the neighbours of this source's "
                "test rows only; other rows cannot be placed with it"
            )
        return self.graph.test_idx[:, :k], self.graph.test_dist[:, :k]


def _tsne_index(graph, x_train: np.ndarray, k: int):
    """An openTSNE KNNIndex that serves the shared graph (fit) and its test rows (transform)."""
    from openTSNE.nearest_neighbors import KNNIndex

    class SharedGraph(KNNIndex):
        VALID_METRICS = ["euclidean"]

        def build(self):
            idx, dist = graph.train(self.k)
            return idx.astype(np.int64), dist.astype(np.float64)

        def query(self, query, k):
            idx, dist = graph.test(query, k)
            return idx.astype(np.int64), dist.astype(np.float64)

    return SharedGraph(x_train, k)


class _UMAPTestSearch:
    """What umap-learn's transform asks of its search index (pynndescent's NNDescent), served
    from the shared graph's neighbours of the test rows."""

    _angular_trees = False

    def __init__(self, graph):
        self.graph = graph

    def query(self, query, k, epsilon=None):
        return self.graph.test(query, k)


def _import_umap():
    """umap-learn's __init__ imports ParametricUMAP, hence TensorFlow when it is installed:
    3 s and 500 MB per embedding job for a class we never use. Hide TensorFlow during that
    import (umap then skips ParametricUMAP, as on a machine without TensorFlow)."""
    import sys

    if "umap" in sys.modules or "tensorflow" in sys.modules:
        import umap

        return umap
    sys.modules["tensorflow"] = None  # makes `import tensorflow` raise ImportError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImportWarning)
            import umap
    finally:
        del sys.modules["tensorflow"]
    return umap


class UMAPReducer(Reducer):
    name = "umap"
    whole_numbers = ("n_neighbors",)
    packages = ("numpy", "umap-learn", "pynndescent", "numba", "scikit-learn", "scipy")
    library = "umap:UMAP"
    small_settings = {"n_epochs": 200}
    allowed = (
        "n_neighbors",
        "metric",
        "metric_kwds",
        "n_epochs",
        "learning_rate",
        "init",
        "min_dist",
        "spread",
        "low_memory",
        "set_op_mix_ratio",
        "local_connectivity",
        "repulsion_strength",
        "negative_sample_rate",
        "transform_queue_size",
        "a",
        "b",
        "angular_rp_forest",
        "transform_seed",
        "force_approximation_algorithm",
        "unique",
        "densmap",
        "dens_lambda",
        "dens_frac",
        "dens_var_shift",
        "disconnection_distance",
    )

    @classmethod
    def graph_needs(cls, settings):
        if (
            settings.get("metric", "euclidean") != "euclidean"
            or settings.get("densmap")
            or settings.get("unique")
        ):
            return None
        k = int(settings.get("n_neighbors", 15))
        return k - 1, k  # umap-learn counts each row as its own nearest neighbour

    def check_size(self, n_train, n_test):
        k = self.settings.get("n_neighbors", 15)
        _too_small("umap", "n_neighbors", k, n_train, k + 1)

    def fit(self, x):
        _set_numba_threads(self.n_jobs)
        umap = _import_umap()

        # umap-learn runs single-threaded whenever random_state is set (and warns if n_jobs
        # says otherwise), so n_jobs=1 here; numba's thread count was still set above.
        kw = {"transform_seed": self.seed, **self.settings}
        if self.graph is not None:
            k = self.graph_needs(self.settings)[1]
            idx, dist = self.graph.train(k - 1)
            own = np.arange(len(x), dtype=np.int32)[:, None]  # each row first, at distance 0
            kw["precomputed_knn"] = (
                np.hstack([own, idx]),
                np.hstack([np.zeros(own.shape, np.float32), dist]),
                _UMAPTestSearch(self.graph),
            )
        self.model = umap.UMAP(n_components=2, random_state=self.seed, n_jobs=1, **kw)
        with warnings.catch_warnings():  # "not an NNDescent object": ours serves transform
            warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
            return self.model.fit_transform(x)

    def transform(self, x):
        return self.model.transform(x)


class PaCMAPReducer(Reducer):
    name = "pacmap"
    whole_numbers = ("n_neighbors",)
    packages = ("numpy", "pacmap", "faiss-cpu", "annoy", "numba", "scikit-learn")
    library = "pacmap:PaCMAP"
    small_settings = {"num_iters": [50, 50, 100]}
    allowed = (
        "n_neighbors",
        "MN_ratio",
        "FP_ratio",
        "distance",
        "lr",
        "num_iters",
        "apply_pca",
        "knn_backend",
    )

    def check_size(self, n_train, n_test):
        k = self.settings.get("n_neighbors", 10)
        if k is not None:
            _too_small("pacmap", "n_neighbors", k, n_train, k + 2)

    def _threads(self):
        _set_numba_threads(self.n_jobs)
        try:
            import faiss
        except ImportError:
            return
        # PaCMAP itself drops FAISS to 1 thread whenever a random_state is given (HNSW
        # construction is otherwise not reproducible), so this only matters without a seed.
        faiss.omp_set_num_threads(self.n_jobs)

    def fit(self, x):
        self._threads()
        import pacmap

        # The seed is module-global in pacmap (set by the constructor): keep fit and
        # transform of one reducer together, as run() does.
        self.model = pacmap.PaCMAP(n_components=2, random_state=self.seed, **self.settings)
        self.x_train = x
        return self.model.fit_transform(x)

    def transform(self, x):
        import pacmap.pacmap as impl

        impl._RANDOM_STATE = self.seed  # another PaCMAP built in between would have reset it
        return self.model.transform(x, basis=self.x_train)


class TriMAPReducer(Reducer):
    """TriMAP (1.1.x, annoy). No out-of-sample transform exists, so:

    out_of_sample="transductive" (default): fit on vstack(train, test), labels never seen;
        the joint fit time is fit_seconds.
    out_of_sample="knn": fit on train; each test row goes to the inverse-distance-weighted
        mean of the 2-D positions of its `knn_k` nearest training rows in input space.
    """

    name = "trimap"
    own_types = {"out_of_sample": {"str"}, "knn_k": {"int"}}
    packages = ("numpy", "trimap", "annoy", "numba", "scikit-learn")
    library = "trimap:TRIMAP"
    own_settings = ("out_of_sample", "knn_k")
    small_settings = {"n_iters": 200}
    allowed = (
        "n_inliers",
        "n_outliers",
        "n_random",
        "distance",
        "lr",
        "n_iters",
        "weight_temp",
        "apply_pca",
        "opt_method",
        "out_of_sample",
        "knn_k",
    )
    modes = ("transductive", "knn")

    def __init__(self, seed, n_jobs=1, **settings):
        super().__init__(seed, n_jobs, **settings)
        self.mode = self.settings.pop("out_of_sample", "transductive")
        self.knn_k = int(self.settings.pop("knn_k", 10))
        if self.mode not in self.modes:
            raise ValueError(f"trimap: setting out_of_sample={self.mode!r}; allowed: {self.modes}")
        if self.knn_k < 1:
            raise ValueError(f"trimap: setting knn_k={self.knn_k} must be >= 1")
        self.protocol = "transductive" if self.mode == "transductive" else "inductive"

    def check_size(self, n_train, n_test):
        n = n_train + n_test if self.mode == "transductive" else n_train
        what = "n_train+n_test" if self.mode == "transductive" else "n_train"
        # trimap asserts n_inliers < n-1 and its outlier rejection sampling never ends
        # when fewer than n_outliers rows lie outside a point's inliers.
        ni, no = self.settings.get("n_inliers", 12), self.settings.get("n_outliers", 4)
        _too_small("trimap", "n_inliers", ni, n, ni + no + 2, what)
        if self.mode == "knn":
            _too_small("trimap", "knn_k", self.knn_k, n_train, self.knn_k)

    def _fit_transform(self, x):
        _set_numba_threads(self.n_jobs)
        import trimap

        _seed_numba(self.seed)  # trimap samples triplets with numba's per-thread np.random
        return trimap.TRIMAP(n_dims=2, verbose=False, **self.settings).fit_transform(x)

    def run(self, x_train, x_test):
        if self.mode == "knn":
            return super().run(x_train, x_test)
        self.check_size(len(x_train), len(x_test))
        t0 = time.perf_counter()
        joint = self._fit_transform(np.vstack([x_train, x_test]))
        t1 = time.perf_counter()
        n = len(x_train)
        return _as_2d(joint[:n]), _as_2d(joint[n:]), t1 - t0, 0.0

    def fit(self, x):
        if self.mode != "knn":
            raise RuntimeError("trimap: transductive mode embeds train and test together; use run()")
        self.x_train, self.train_ = x, self._fit_transform(x)
        return self.train_

    def transform(self, x):
        from sklearn.neighbors import NearestNeighbors

        metric = {"angular": "cosine"}.get(
            self.settings.get("distance", "euclidean"), self.settings.get("distance", "euclidean")
        )
        nn = NearestNeighbors(n_neighbors=self.knn_k, metric=metric, n_jobs=self.n_jobs)
        dist, idx = nn.fit(self.x_train).kneighbors(x)
        # Exact duplicates of training rows take the mean position of those duplicates. Found
        # by comparing rows, not by dist == 0: a computed self-distance may round to 1e-7.
        zero = np.zeros(idx.shape, bool)
        for start in range(0, len(x), 1024):  # (rows, k, columns) at a time, not all at once
            rows = slice(start, start + 1024)
            zero[rows] = (self.x_train[idx[rows]] == x[rows, None, :]).all(axis=2)
        w = np.where(zero.any(axis=1, keepdims=True), zero, 1.0 / np.where(zero, 1.0, dist))
        w /= w.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkd->nd", w, self.train_[idx])


_NUMBA_SEEDER = None


def _seed_numba(seed: int) -> None:
    """Seed numba's np.random in the calling thread and in each worker thread.

    numba keeps one generator per thread; seeding from Python (np.random.seed) reaches none
    of them. With a fixed thread count the static prange schedule makes this reproducible.
    """
    global _NUMBA_SEEDER
    if _NUMBA_SEEDER is None:
        import numba

        @numba.njit
        def seed_here(s):
            np.random.seed(s)

        @numba.njit(parallel=True)
        def seed_workers(s, n):
            for _ in numba.prange(n):
                np.random.seed(s + 1 + numba.get_thread_id())

        _NUMBA_SEEDER = (seed_here, seed_workers, numba.get_num_threads)
    seed_here, seed_workers, n_threads = _NUMBA_SEEDER
    seed_here(seed)
    seed_workers(seed, n_threads())


REDUCERS: dict[str, type[Reducer]] = {
    "pca": PCAReducer,
    "tsne": TSNEReducer,
    "umap": UMAPReducer,
    "trimap": TriMAPReducer,
    "pacmap": PaCMAPReducer,
}


METHOD_KEY = "method"


def reducer_class(name: str, settings: dict | None = None) -> tuple[type[Reducer], dict]:
    """(class, library settings) of a config entry: `name` is the method itself, or the entry
    says `method:` (a variant, one method with other settings under a name of its own)."""
    settings = dict(settings or {})
    method = settings.pop(METHOD_KEY, name)
    if method not in REDUCERS:
        what = f"method {method!r} of reducer {name!r}" if method != name else f"reducer {name!r}"
        raise ValueError(
            f"unknown {what}; known methods: {', '.join(REDUCERS)} (a variant "
            f"names one: `{name}: {{method: tsne, perplexity: 40}}`)"
        )
    return REDUCERS[method], settings


# --------------------------------------------------------------------------- entry point


def _check_inputs(x_train, x_test) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for label, x in (("x_train", x_train), ("x_test", x_test)):
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"{label} must be a 2-D array (rows x features), got shape {x.shape}")
        if x.dtype.kind not in "biuf":
            raise ValueError(f"{label} must hold real numbers, got dtype {x.dtype}")
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"{label} is empty: shape {x.shape}")
        x = np.ascontiguousarray(x, dtype=np.float32)  # a private copy: some libraries mutate
        if not np.isfinite(x).all():
            raise ValueError(f"{label} contains NaN or infinite values")
        out.append(x)
    if out[0].shape[1] != out[1].shape[1]:
        raise ValueError(f"x_train has {out[0].shape[1]} columns but x_test has {out[1].shape[1]}")
    return out[0], out[1]


def embed(
    name: str, x_train, x_test, *, seed: int, n_jobs: int = 1, settings: dict | None = None, graph=None
) -> Embedding:
    """Embed x_train in 2-D with reducer `name` and place x_test in the same coordinates.
    `name` and `settings` are a config entry (a method, or a variant: `reducer_class`).

        Degenerate inputs (e.g. 1- or 2-unit ReLU layers, dead units) skip the reducer:
        effective_dim 0 -> policy "constant" (all zeros); 1 or 2 -> policy "identity" (the
        non-constant columns, zero-padded to 2-D). Both are inductive. Otherwise policy "fit".

        `graph` (layermaps.embed.neighbors.NeighborGraph of these rows) is used by the reducers that take
        one (`Reducer.graph_needs`) and ignored by the others.
    """
    cls, settings = reducer_class(name, settings)
    reducer = cls(seed=seed, n_jobs=n_jobs, **settings)  # validates settings
    x_train, x_test = _check_inputs(x_train, x_test)
    live = np.flatnonzero(np.ptp(x_train, axis=0) > 0)  # non-constant on the training rows
    common = dict(input_dim=x_train.shape[1], effective_dim=len(live), reducer=name)
    if len(live) == 0:
        zeros = lambda x: np.zeros((len(x), 2), np.float32)  # noqa: E731
        return Embedding(zeros(x_train), zeros(x_test), "inductive", "constant", 0.0, 0.0, **common)
    if len(live) <= 2:
        return Embedding(
            _as_2d(x_train[:, live]), _as_2d(x_test[:, live]), "inductive", "identity", 0.0, 0.0, **common
        )
    needs = reducer.graph_needs(settings)
    if graph is not None and needs is not None:
        graph.check(len(x_train), len(x_test), min(needs[0], len(x_train) - 1), needs[1], name)
        reducer.graph = SharedNeighbors(graph, x_test)
    train, test, fit_s, transform_s = reducer.run(x_train, x_test)
    return Embedding(train, test, reducer.protocol, "fit", fit_s, transform_s, **common)
