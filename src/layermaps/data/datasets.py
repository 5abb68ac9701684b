"""The datasets a config can name, and `prepare`, which turns any of them into data.npz.

Built in: MNIST and Fashion-MNIST (canonical IDX files fetched from mirrors; checksums are of
the *decompressed* content, so any faithful mirror passes whether or not it recompressed the
files). Beyond them (layermaps.data.sources): a .npz file or an IDX folder of one's own and the
generated two_cosines. `dataset_specs` reads config `datasets:`; `prepare` checks, subsamples,
splits and records the input scaling that every later stage applies (`scaled`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from layermaps.data.idx import read_idx_gz
from layermaps.resources import memory_request

FILES = ("train-images", "train-labels", "t10k-images", "t10k-labels")


@dataclass(frozen=True)
class Dataset:
    name: str
    class_names: tuple[str, ...]
    sha256: dict  # file key (see FILES) -> sha256 of the decompressed content

    @staticmethod
    def filename(key: str) -> str:
        return f"{key}-idx{3 if key.endswith('images') else 1}-ubyte.gz"


DATASETS = {
    "mnist": Dataset(
        "mnist",
        tuple(str(d) for d in range(10)),
        {
            "train-images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
    ),
    "fashion-mnist": Dataset(
        "fashion-mnist",
        (
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        {
            "train-images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
    ),
}


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


# kind -> the scale used when the config names none (a dataset of one's own must say)
DEFAULT_SCALE = {
    "mnist": "255",
    "fashion-mnist": "255",
    "idx": "255",
    "two_cosines": "none",
    "reduced": "none",
}
KINDS = (*DATASETS, "npz", "idx", "two_cosines", "reduced")
REDUCED_KEYS = {"from", "method", "keep", "trees", "seed"}  # kind reduced (layermaps.data.transforms)
METHODS = ("pca", "forest")  # a reduced dataset's input transform (layermaps.data.transforms)


def _check_reduced(where: str, spec: dict, names) -> None:
    """A reduced dataset's settings; fills trees and seed (the MSDS report's forest: 100, 42)."""
    if "validation_fraction" in spec:
        raise ValueError(
            f"{where}: a reduced dataset keeps the split of {spec.get('from')}: no validation_fraction"
        )
    stray = sorted(set(spec) - REDUCED_KEYS - {"kind", "scale"})
    if stray:
        raise ValueError(
            f"{where}: {', '.join(stray)} is not a setting of kind reduced "
            f"(settings: {', '.join(sorted(REDUCED_KEYS))})"
        )
    if spec.get("from") not in names or spec.get("from") == where.split(".", 1)[1]:
        raise ValueError(
            f"{where}: from: {spec.get('from')!r} must name another dataset of this "
            f"config ({', '.join(n for n in names if n != where.split('.', 1)[1])})"
        )
    if spec.get("method") not in METHODS:
        raise ValueError(f"{where}: method: {spec.get('method')!r}; allowed: {', '.join(METHODS)}")
    keep = spec.get("keep")
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ValueError(f"{where}: keep: {keep!r} must be a whole number of columns >= 1")
    if spec["method"] == "pca" and "trees" in spec:
        raise ValueError(f"{where}: trees is a setting of method forest")
    if str(spec.get("scale", "none")) != "none":
        raise ValueError(f"{where}: a reduced dataset takes its parent's scaled inputs: no scale")
    if spec["method"] == "forest":
        spec.setdefault("trees", 100)
    spec.setdefault("seed", 42)


def dataset_specs(datasets) -> dict[str, dict]:
    """Config `datasets:` (a list of built-in names, or name -> spec) as name -> full spec:
    kind, scale and the kind's own settings (path and sha256; n_per_class and seed), and the
    validation fraction of its prepared split when it has its own (else data.validation_fraction)."""
    items = {name: {} for name in datasets} if isinstance(datasets, list) else dict(datasets)
    out = {}
    for name, given in items.items():
        spec = dict(given or {})
        kind = spec.setdefault("kind", name if name in (*DATASETS, "two_cosines") else None)
        where = f"datasets.{name}"
        if kind not in KINDS:
            raise ValueError(
                f"{where}: say which kind of dataset it is with kind: npz or idx (with "
                f"path:), two_cosines or reduced; built-in datasets are {', '.join(DATASETS)}"
                + (f" (got kind {kind!r})" if kind else "")
            )
        if (kind in ("npz", "idx")) != ("path" in spec):
            raise ValueError(
                f"{where}: "
                + (
                    f"kind {kind} needs path: (the .npz file or the IDX folder)"
                    if "path" not in spec
                    else f"kind {kind} takes no path"
                )
            )
        if "sha256" in spec and kind != "npz":
            raise ValueError(f"{where}: sha256 checks a .npz file; kind {kind} takes none")
        if kind not in ("two_cosines", "reduced") and {"n_per_class", "seed"} & set(spec):
            raise ValueError(f"{where}: n_per_class and seed are settings of kind two_cosines")
        if "scale" not in spec and kind not in DEFAULT_SCALE:
            raise ValueError(
                f"{where}: say how to scale its inputs with scale: 255 (8-bit images "
                f"to [0, 1]), none, or standardize (mean and deviation of the "
                f"training part)"
            )
        spec["scale"] = str(spec.get("scale", DEFAULT_SCALE.get(kind)))
        if kind == "two_cosines":
            spec.setdefault("n_per_class", 1000)
            spec.setdefault("seed", 42)
        out[name] = spec
    for name, spec in out.items():
        if spec["kind"] == "reduced":
            _check_reduced(f"datasets.{name}", spec, list(out))
            if out[spec["from"]]["kind"] == "reduced":
                raise ValueError(
                    f"datasets.{name}: from: {spec['from']} is itself reduced; reduce its parent instead"
                )
    return out


# ---- What a dataset's files declare, read from their headers at start-up (while Snakemake builds
# the DAG: layermaps.data.checks.check_datasets refuses a dataset larger than data.max_dataset_gb,
# data.smk sizes prepare's memory, figures.smk plans the figures) before anything reads the data.
SMALL = 100_000  # labels of at most this many rows are read at start-up (the class count)
BUILTIN_SHAPES = {
    "x_train": (60_000, 28, 28),
    "y_train": (60_000,),
    "x_test": (10_000, 28, 28),
    "y_test": (10_000,),
}


class Declared(NamedTuple):
    arrays: dict  # name (x_train, y_train, x_test, y_test, ...) -> (shape, dtype)
    files: dict  # name -> the file that declares it (a .npz, or one IDX file of a folder)
    small: dict  # y_train, y_test -> the labels, where they are small (SMALL)

    @property
    def nbytes(self) -> int:
        """What reading every array takes: the sum of their declared sizes."""
        return sum(_array_bytes(*declared) for declared in self.arrays.values())

    def largest(self) -> str:
        """The largest array in words: "x_train of big.npz: 1,000,000 x 1,000 float64 (8.0 GB)",
        or "letters/train-images-idx3-ubyte.gz: ..." in an IDX folder."""
        key = max(self.arrays, key=lambda k: _array_bytes(*self.arrays[k]))
        shape, dtype = self.arrays[key]
        size = _array_bytes(shape, dtype)
        dims = " x ".join(f"{d:,}" for d in shape) or "scalar"
        named = f"{key} of " if len(set(map(str, self.files.values()))) == 1 else ""  # a .npz
        return f"{named}{self.files[key]}: {dims} {dtype.name} ({gigabytes(size)})"


def _array_bytes(shape: tuple, dtype: np.dtype) -> int:
    """The bytes an array of this declared shape and dtype takes (int64: no overflow)."""
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def gigabytes(nbytes: int) -> str:
    return f"{nbytes / 1e9:.1f} GB" if nbytes >= 1e8 else f"{nbytes / 1e6:.1f} MB"


def _npy_header(f):
    """(shape, dtype) from the header of one .npy stream."""
    fmt = np.lib.format
    read = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else fmt.read_array_header_2_0
    shape, _, dtype = read(f)  # 3.0 differs from 2.0 only in non-ASCII field names
    return tuple(shape), np.dtype(dtype)


@functools.cache
def _declared_npz(path: Path, stamp) -> Declared:
    import zipfile

    from layermaps.data.sources import DatasetError

    arrays, small = {}, {}
    try:
        z = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as err:
        raise DatasetError(f"{path}: not a .npz file ({err}); save it with numpy.savez.") from None
    with z:
        for info in z.infolist():
            name = info.filename.removesuffix(".npy")
            if not info.filename.endswith(".npy"):  # np.load gives such a member as bytes
                arrays[name] = ((info.file_size,), np.dtype(np.uint8))
                continue
            try:
                with z.open(info) as f:
                    arrays[name] = _npy_header(f)
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
                raise DatasetError(f"{path}: array {name} cannot be read ({err}).") from None
    labels = [
        k
        for k in ("y_train", "y_test")
        if k in arrays and int(np.prod(arrays[k][0], dtype=np.int64)) <= SMALL
    ]
    with np.load(path, allow_pickle=False) as npz:
        for key in labels:
            try:  # a read stops at the array's declared size
                small[key] = npz[key]
            except (OSError, ValueError, EOFError) as err:
                raise DatasetError(f"{path}: array {key} cannot be read ({err}).") from None
    return Declared(arrays, dict.fromkeys(arrays, path), small)


@functools.cache
def _declared_idx(folder: Path, stamp) -> Declared:
    from layermaps.data.idx import IdxError, declared_idx, read_idx
    from layermaps.data.sources import DatasetError, idx_files

    names = {
        "train_images": "x_train",
        "train_labels": "y_train",
        "test_images": "x_test",
        "test_labels": "y_test",
    }
    arrays, files, small = {}, {}, {}
    try:
        for key, path in idx_files(folder).items():
            arrays[names[key]], files[names[key]] = declared_idx(path), path
            if key.endswith("labels") and int(np.prod(arrays[names[key]][0])) <= SMALL:
                small[names[key]] = read_idx(path)
    except IdxError as err:
        raise DatasetError(str(err)) from None
    return Declared(arrays, files, small)


def _stamp(path: Path):
    """What changes when a file or folder is replaced: the cache of headers follows it."""
    paths = sorted(path.iterdir()) if path.is_dir() else [path]
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in paths)


def declared_arrays(spec: dict) -> Declared | None:
    """What a dataset's files declare (read once per file version), None for one that is
    generated (two_cosines) or made from another (reduced). DatasetError (naming the file) when
    a file cannot be read."""
    kind = spec["kind"]
    if kind in DATASETS:
        arrays = {k: (shape, np.dtype(np.uint8)) for k, shape in BUILTIN_SHAPES.items()}
        return Declared(arrays, dict.fromkeys(arrays, f"the downloaded {kind}"), {})
    if kind not in ("npz", "idx"):
        return None
    from layermaps.data.sources import DatasetError

    path = Path(spec["path"])
    try:
        stamp = _stamp(path)
    except OSError as err:
        raise DatasetError(f"{path}: {err.strerror or err}") from None
    return (_declared_npz if kind == "npz" else _declared_idx)(path, stamp)


# prepare's peak memory (MB): about 300 MB for the interpreter, numpy, scikit-learn and MLflow
# (the full MNIST job peaked at 411 MB with 55 MB of arrays), the arrays as read plus their
# subsampled copy (2 x the declared bytes), and with scale standardize a float64 copy of the
# training inputs and its deviation's temporary (16 bytes a value). Measured past the imports
# (load_dataset, prepare and save_npz of 100,000 to 300,000 rows of uint8 or float32, README "A
# dataset of your own"): 1.95 x the declared bytes with scale 255 or none; with standardize
# 2 x plus 15 bytes a value (uint8) or 14.4 (float32).
PREPARE_BASE_MB = 300


def prepare_peak_mb(spec: dict, declared: Declared | None) -> float:
    """The peak memory a `prepare` job of this dataset needs, from its declared sizes."""
    if declared is None:
        return PREPARE_BASE_MB
    peak = PREPARE_BASE_MB + 2 * declared.nbytes / 1e6
    if spec.get("scale") == "standardize" and "x_train" in declared.arrays:
        peak += 16 * int(np.prod(declared.arrays["x_train"][0], dtype=np.int64)) / 1e6
    return peak


def prepare_mem_mb(spec: dict, declared: Declared | None, floor: int) -> int:
    """prepare's `mem_mb`, as workflow/resources.yaml sets every rule's: 1.5 x the peak, at least
    `floor` (that file's entry), rounded up to 500 MB."""
    return memory_request(1.5 * prepare_peak_mb(spec, declared), floor)


class DatasetInfo(NamedTuple):
    images: bool  # inputs are images (image_shape known)
    n_classes: int | None  # None: not known before prepare
    width: int | None  # input features per row; None: not known before prepare


def dataset_info(spec: dict) -> DatasetInfo:
    """What Snakemake needs to plan a dataset's figures, read cheaply (headers and small labels,
    not the inputs); prepare checks the dataset in full later."""
    kind = spec["kind"]
    if kind in DATASETS:
        return DatasetInfo(True, len(DATASETS[kind].class_names), 784)
    if kind == "two_cosines":
        return DatasetInfo(False, 2, 2)
    if kind == "reduced":  # its inputs are columns picked or mixed from the parent's, not images
        return DatasetInfo(False, None, spec["keep"])
    try:
        declared = declared_arrays(spec)
        x_shape = declared.arrays["x_train"][0]
        image = len(x_shape) > 2 or declared.arrays.get("image_shape", ((0,),))[0] != (0,)
        labels = [declared.small.get(key) for key in ("y_train", "y_test")]
        known = all(y is not None and y.size and y.dtype.kind in "iu" for y in labels)
        n_classes = int(max(y.max() for y in labels)) + 1 if known else None
        return DatasetInfo(image, n_classes, int(np.prod(x_shape[1:])))
    except (KeyError, ValueError):  # prepare reports what is wrong with the file
        return DatasetInfo(False, None, None)


def load_dataset(spec: dict, folder: str | Path | None = None) -> dict:
    """The checked arrays of a dataset (layermaps.data.sources.check_dataset): built-in ones
    from the downloaded `folder`, the others from their path or generator."""
    from layermaps.data import sources

    kind = spec["kind"]
    if kind in DATASETS:
        raw = load_raw(folder)
        return sources.check_dataset(
            {**raw, "class_names": np.array(DATASETS[kind].class_names), "image_shape": np.array([28, 28])},
            str(folder),
        )
    if kind == "npz":
        return sources.load_npz(spec["path"], spec.get("sha256"))
    if kind == "idx":
        return sources.load_idx_folder(spec["path"])
    return sources.two_cosines(spec["n_per_class"], spec["seed"])


def load_raw(folder: str | Path) -> dict:
    """Read the four IDX files of a dataset folder: images flattened to 784 uint8 columns."""
    folder = Path(folder)
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx_gz(folder / Dataset.filename(f"{prefix}-images"), expect_ndim=3)
        labels = read_idx_gz(folder / Dataset.filename(f"{prefix}-labels"), expect_ndim=1)
        if len(images) != len(labels):
            raise ValueError(f"{folder}: {len(images)} {split} images but {len(labels)} labels")
        arrays[f"{split}_images"] = images.reshape(len(images), -1)
        arrays[f"{split}_labels"] = labels.astype(np.int64)
    return arrays


def stratified_subsample(labels: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a class-stratified sample of `size` rows (all rows when size is None)."""
    n = len(labels)
    if size is None or size >= n:
        return np.arange(n)
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(
        np.arange(n), train_size=size, stratify=labels, random_state=int(rng.integers(2**31))
    )
    return np.sort(idx)


def prepare(
    raw: dict,
    *,
    scale: str,
    train_size: int | None,
    test_size: int | None,
    validation_fraction: float,
    seed: int,
) -> dict:
    """Everything data.npz holds: inputs as stored (uint8 images stay uint8), labels, class
    names, image shape, the train/validation split and the input scaling.

    `fit_idx` / `val_idx` index the train arrays: models train on fit_idx and validate on
    val_idx (the seed MLP's 5/6 : 1/6 split); embeddings are fitted on fit_idx rows too.
    The scaling is fitted on the kept training rows (never the test rows).
    """
    from layermaps.data.sources import fit_scaling

    rng = np.random.default_rng(seed)
    train_keep = stratified_subsample(raw["train_labels"], train_size, rng)
    test_keep = stratified_subsample(raw["test_labels"], test_size, rng)
    train_labels = raw["train_labels"][train_keep]
    from sklearn.model_selection import train_test_split

    fit_idx, val_idx = train_test_split(
        np.arange(len(train_keep)), test_size=validation_fraction, stratify=train_labels, random_state=seed
    )
    train_images = raw["train_images"][train_keep]
    offset, factor = fit_scaling(scale, train_images)
    return {
        "train_images": train_images,
        "train_labels": train_labels,
        "test_images": raw["test_images"][test_keep],
        "test_labels": raw["test_labels"][test_keep],
        "class_names": raw["class_names"],
        "image_shape": raw["image_shape"],
        "scale": np.array(scale),
        "scale_offset": offset,
        "scale_factor": factor,
        "fit_idx": np.sort(fit_idx),
        "val_idx": np.sort(val_idx),
        "train_source_rows": train_keep,
        "test_source_rows": test_keep,
    }


def save_npz(path: str | Path, arrays: dict) -> None:
    """Write arrays to an .npz atomically (a killed job leaves no complete-looking file)."""
    from layermaps.atomic import atomic_path

    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def load_prepared(path: str | Path) -> dict:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def scaled(images: np.ndarray, data: dict) -> np.ndarray:
    """Inputs as the models and reducers see them: (x - offset) / factor in float32, with the
    dataset's scaling from data.npz (uint8 pixels / 255 for the built-in datasets)."""
    return (images.astype(np.float32) - data["scale_offset"]) / data["scale_factor"]


def raw_activations_job(*, data_path, out: dict) -> None:
    """Raw inputs as a source, scaled as the models see them; rows in the order of data.npz."""
    from layermaps.atomic import atomic_path

    data = load_prepared(data_path)
    for split in ("train", "test"):
        with atomic_path(out[split]) as tmp:
            np.save(tmp, scaled(data[f"{split}_images"], data))
