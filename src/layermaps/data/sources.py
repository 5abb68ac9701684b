"""Datasets beyond the built-in MNIST and Fashion-MNIST: a `.npz` file or a folder of IDX files
of your own, and the workshop's generated `two_cosines` (docs/experiments.md D); the checks every dataset
passes before anything trains on it; and the input scaling, a dataset setting.

Every loader returns the same arrays: `train_images`, `train_labels`, `test_images`,
`test_labels` (inputs flattened to one row per example, labels int64 0..C-1), `class_names`
and `image_shape` (empty for data that is not an image). "images" is the name the rest of the
workflow uses for inputs of any kind.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
SCALES = ("255", "none", "standardize")


class DatasetError(ValueError):
    """A dataset that cannot be used; the message names the file, the array and the problem.
    Expected (bad input, not a bug): a job's log and terminal get the message, no traceback."""

    expected = True


# ----------------------------------------------------------------------------- checks
def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: Path, expected: str | None) -> None:
    if expected and (found := sha256_of(path)) != expected.lower():
        raise DatasetError(
            f"{path}: sha256 is {found}, but the config says {expected}; "
            f"the file changed or the config names another file"
        )


def _inputs(x: np.ndarray, name: str, where: str) -> np.ndarray:
    """Numeric, finite, non-empty, at least 2-D; flattened to (n, features)."""
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DatasetError(f"{where}: array {name} has dtype {x.dtype}: inputs must be numbers")
    if x.ndim < 2:
        raise DatasetError(
            f"{where}: array {name} is {x.ndim}-D with shape {x.shape}: inputs need "
            f"one row per example (a single feature is shape (n, 1))"
        )
    if x.size == 0:
        raise DatasetError(f"{where}: array {name} is empty (shape {x.shape})")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise DatasetError(f"{where}: array {name} holds {bad} NaN or infinite value(s)")
    return x.reshape(len(x), -1)


def _labels(y: np.ndarray, name: str, where: str) -> np.ndarray:
    if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(
            f"{where}: array {name} has dtype {y.dtype}: labels must be integers "
            f"0..C-1 (for example y.astype(int) when they are whole numbers)"
        )
    if y.ndim != 1:
        raise DatasetError(
            f"{where}: array {name} has shape {y.shape}: labels must be 1-D, one per "
            f"example (class indices, not one-hot rows)"
        )
    if y.size == 0:
        raise DatasetError(f"{where}: array {name} is empty")
    return y.astype(np.int64)


# A class name is shown in figure legends, the map explorer's hover panel, summary.md and CSV
# tables: one short line (longer ones overflow legends; a control character or a line break
# breaks the tables and the terminal's one-line messages).
MAX_CLASS_NAME = 64


def _class_name_problem(name: str) -> str | None:
    import unicodedata

    if len(name) > MAX_CLASS_NAME:
        return f"is {len(name)} characters long"
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if bad is not None:
        return f"holds the control character U+{ord(bad):04X}"
    return None


def check_dataset(arrays: dict, where: str) -> dict:
    """The checked, flattened arrays; DatasetError naming the first problem found."""
    x_train = _inputs(np.asarray(arrays["train_images"]), "x_train", where)
    x_test = _inputs(np.asarray(arrays["test_images"]), "x_test", where)
    y_train = _labels(np.asarray(arrays["train_labels"]), "y_train", where)
    y_test = _labels(np.asarray(arrays["test_labels"]), "y_test", where)
    for x, y, part in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if len(x) != len(y):
            raise DatasetError(f"{where}: x_{part} has {len(x)} rows but y_{part} has {len(y)} labels")
    if x_train.shape[1] != x_test.shape[1]:
        raise DatasetError(
            f"{where}: x_train has {x_train.shape[1]} features per row but x_test has {x_test.shape[1]}"
        )
    names = [str(c) for c in np.asarray(arrays.get("class_names", []), dtype=str).reshape(-1)]
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    if min(y_train.min(), y_test.min()) < 0:
        raise DatasetError(
            f"{where}: labels must be integers 0..C-1, found {int(min(y_train.min(), y_test.min()))}"
        )
    for i, name in enumerate(names):
        problem = _class_name_problem(name)
        if problem:
            shown = repr(name if len(name) <= 40 else name[:40] + "...")
            raise DatasetError(
                f"{where}: array class_names: name {i} {shown} {problem}; give "
                f"each class a plain one-line name of at most {MAX_CLASS_NAME} "
                f"characters"
            )
    if names and len(names) != n_classes:
        raise DatasetError(
            f"{where}: array class_names has {len(names)} names but the labels have "
            f"{n_classes} classes (0..{n_classes - 1}); give one name per class"
        )
    for y, part in ((y_train, "y_train"), (y_test, "y_test")):
        absent = sorted(set(range(n_classes)) - set(np.unique(y).tolist()))
        if absent:
            raise DatasetError(
                f"{where}: class(es) {', '.join(map(str, absent[:10]))} of 0..{n_classes - 1} "
                f"never occur in {part}: every class needs training and test examples"
            )
    shape = tuple(int(s) for s in np.asarray(arrays.get("image_shape", []), dtype=np.int64).reshape(-1))
    if shape and math.prod(shape) != x_train.shape[1]:
        raise DatasetError(
            f"{where}: image_shape {shape} holds {math.prod(shape)} pixels but each row "
            f"has {x_train.shape[1]} features"
        )
    return {
        "train_images": x_train,
        "train_labels": y_train,
        "test_images": x_test,
        "test_labels": y_test,
        "class_names": np.array(names or [str(c) for c in range(n_classes)]),
        "image_shape": np.array(shape, dtype=np.int64),
    }


# ----------------------------------------------------------------------------- loaders
def load_npz(path: str | Path, sha256: str | None = None) -> dict:
    """A .npz with x_train, y_train, x_test, y_test and optionally class_names and image_shape.
    Inputs of more than two dimensions are flattened; their shape becomes image_shape."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"{path}: no such file (check the dataset's path in the config; relative "
            f"paths are read from the folder snakemake runs in)"
        )
    check_sha256(path, sha256)
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as err:  # not a zip, truncated, a pickle: numpy raises several kinds
        raise DatasetError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DatasetError(
            f"{path}: holds a single array, not the named arrays of an .npz "
            f"(save with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...))"
        )
    arrays = {}
    with npz:
        missing = [a for a in NPZ_ARRAYS if a not in npz.files]
        if missing:
            raise DatasetError(
                f"{path}: array(s) {', '.join(missing)} missing; the file has "
                f"{', '.join(npz.files) or 'no arrays'} (needs {', '.join(NPZ_ARRAYS)})"
            )
        for key in npz.files:
            try:
                arrays[key] = npz[key]
            except ValueError as err:  # object arrays need pickle, which is never loaded
                raise DatasetError(
                    f"{path}: array {key} is an object array ({err}); save plain "
                    f"numeric arrays, e.g. np.asarray(x, dtype=float)"
                ) from None
    x_train = arrays["x_train"]
    if "image_shape" not in arrays and x_train.ndim > 2:
        arrays["image_shape"] = np.array(x_train.shape[1:])
    return check_dataset(
        {
            "train_images": x_train,
            "train_labels": arrays["y_train"],
            "test_images": arrays["x_test"],
            "test_labels": arrays["y_test"],
            **{k: arrays[k] for k in ("class_names", "image_shape") if k in arrays},
        },
        str(path),
    )


IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_files(folder: str | Path) -> dict[str, Path]:
    """key (train_images ...) -> the IDX file of a dataset folder, its .gz copy first."""
    folder, files = Path(folder), {}
    for key, stem in IDX_FILES.items():
        found = [p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()]
        if not found:
            raise DatasetError(
                f"{folder}: {stem}(.gz) missing (an IDX dataset folder holds "
                f"{', '.join(IDX_FILES.values())}, each optionally .gz)"
            )
        files[key] = found[0]
    return files


def load_idx_folder(folder: str | Path) -> dict:
    """A folder holding the four MNIST-style IDX files, gzip-compressed (.gz) or not."""
    from layermaps.data.idx import IdxError, read_idx

    folder, arrays = Path(folder), {}
    for key, path in idx_files(folder).items():
        try:  # in chunks, never beyond the size its header declares
            arrays[key] = read_idx(path)
        except IdxError as err:
            raise DatasetError(str(err)) from None
    shape = arrays["train_images"].shape[1:]
    return check_dataset({**arrays, "image_shape": np.array(shape if len(shape) > 1 else ())}, str(folder))


def two_cosines(n_per_class: int = 1000, seed: int = 42, test_per_class: int | None = None) -> dict:
    """docs/experiments.md D: class 0 on x2 = cos(x1), class 1 on x2 = 1 + cos(x1), x1 ~ U[-pi, pi].

    The workshop draws 1,000 points per class with seed 42 and validates on a fraction of them;
    it has no test set. The test part here is a second, independent draw of the same size from
    the same seed's generator, so the workshop's training points are exactly its own.
    """
    rng = np.random.default_rng(seed)

    def draw(n):
        x1 = rng.uniform(-np.pi, np.pi, size=2 * n)
        y = np.repeat([0, 1], n)
        return np.column_stack([x1, np.cos(x1) + y]).astype(np.float32), y.astype(np.int64)

    x_train, y_train = draw(n_per_class)
    x_test, y_test = draw(test_per_class or n_per_class)
    return check_dataset(
        {
            "train_images": x_train,
            "train_labels": y_train,
            "test_images": x_test,
            "test_labels": y_test,
            "class_names": np.array(["cos(x1)", "1 + cos(x1)"]),
        },
        "two_cosines",
    )


# ----------------------------------------------------------------------------- scaling
def fit_scaling(scale: str, x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(offset, factor) per feature: models and reducers see (x - offset) / factor.

    "255": 8-bit images to [0, 1]; "none": as stored; "standardize": mean and standard
    deviation of the training part only (a constant feature keeps factor 1).
    """
    width = x_train.shape[1]
    if scale == "255":
        return np.zeros(width, np.float32), np.full(width, 255, np.float32)
    if scale == "none":
        return np.zeros(width, np.float32), np.ones(width, np.float32)
    if scale == "standardize":
        x = np.asarray(x_train, np.float64)
        std = x.std(axis=0)
        return x.mean(axis=0).astype(np.float32), np.where(std > 0, std, 1).astype(np.float32)
    raise DatasetError(f"unknown scale {scale!r}; allowed: {', '.join(SCALES)}")
