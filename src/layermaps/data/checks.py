"""A config's datasets checked before anything runs: names that would collide with the
workflow's own files, each dataset's own file or folder and what its headers declare (read
through layermaps.data.datasets.declared_arrays, the one reader of dataset shapes), and
subsample sizes that fit each dataset."""

from __future__ import annotations

import math
import os
from pathlib import Path

from layermaps.config import ConfigError
from layermaps.data.datasets import declared_arrays, gigabytes, prepare_peak_mb
from layermaps.data.sources import DatasetError
from layermaps.paths import Paths

BUILTIN_ROWS = {"mnist": (60000, 10000), "fashion-mnist": (60000, 10000)}  # (train, test) rows
BUILTIN_CLASSES = 10
NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def declared(name: str, spec: dict):
    """What dataset `name`'s own files declare (layermaps.data.datasets.declared_arrays), their
    problems as one line naming the setting; None for a dataset without files of its own."""
    if spec["kind"] not in ("npz", "idx"):
        return declared_arrays(spec)
    path = Path(spec["path"])
    where = f"invalid config: datasets.{name}.path = {spec['path']}"
    if spec["kind"] == "npz" and not path.is_file():
        raise ConfigError(
            f"{where}: no such file (relative to the working directory "
            f"{Path.cwd()}); give the .npz file's path."
        )
    if spec["kind"] == "idx":
        if not path.is_dir():
            raise ConfigError(
                f"{where}: no such folder (relative to the working directory "
                f"{Path.cwd()}); give the folder holding its four IDX files."
            )
        if not any(path.glob("*idx*-ubyte*")):
            raise ConfigError(
                f"{where}: the folder holds no IDX files "
                f"(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
                f"t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])."
            )
    try:
        return declared_arrays(spec)
    except DatasetError as err:
        text = str(err).removeprefix(f"{path}: ")
        if spec["kind"] == "idx" and "missing" not in text:  # a header that is not IDX
            text += "; each file must be in the IDX format of MNIST (gzip-compressed or not)."
        raise ConfigError(f"{where}: {text}") from None


def dataset_rows(name: str, spec: dict) -> tuple[int | None, int | None, int | None]:
    """(train rows, test rows, classes) of a dataset before subsampling, from its files' headers
    (and its labels where they are small); None where not known before its job runs."""
    kind = spec["kind"]
    if kind in BUILTIN_ROWS:
        return (*BUILTIN_ROWS[kind], BUILTIN_CLASSES)
    if kind == "two_cosines":
        return 2 * spec["n_per_class"], 2 * spec["n_per_class"], 2
    if kind not in ("npz", "idx"):
        return None, None, None  # reduced: its parent's rows
    found = declared(name, spec)
    missing = [a for a in NPZ_ARRAYS if a not in found.arrays]
    where = f"invalid config: datasets.{name}.path = {spec['path']}"
    if missing:
        raise ConfigError(
            f"{where}: it has no array(s) {', '.join(missing)} (it has: "
            f"{', '.join(sorted(found.arrays)) or 'none'}); a dataset .npz holds "
            f"{', '.join(NPZ_ARRAYS)}."
        )
    shape = {a: found.arrays[a][0] for a in NPZ_ARRAYS}
    # an array by its name in a .npz, by its file in an IDX folder
    called = {a: a if kind == "npz" else found.files[a].name for a in NPZ_ARRAYS}
    for split in ("train", "test"):
        x, y = shape[f"x_{split}"], shape[f"y_{split}"]
        if not x or not y or x[0] != y[0]:
            raise ConfigError(
                f"{where}: {called[f'x_{split}']} has shape {x} but "
                f"{called[f'y_{split}']} {y}: they need one label per row."
            )
    ytr, yte = found.small.get("y_train"), found.small.get("y_test")
    classes = None
    if ytr is not None and yte is not None and ytr.size and yte.size and ytr.dtype.kind in "iu":
        classes = int(max(ytr.max(), yte.max())) + 1
    return int(shape["x_train"][0]), int(shape["x_test"][0]), classes


def check_declared_size(name: str, spec: dict, limit_gb: float) -> None:
    """A dataset's own arrays, as their headers declare them, within data.max_dataset_gb: a small
    file can declare gigabytes (a compressed .npz of zeros), and prepare reads all of it."""
    found = declared(name, spec)
    if found is None or found.nbytes <= limit_gb * 1e9:
        return
    raise ConfigError(
        f"invalid config: datasets.{name}.path = {spec['path']}: its arrays declare "
        f"{gigabytes(found.nbytes)} (largest: {found.largest()}), more than data.max_dataset_gb = "
        f"{limit_gb:g}; prepare would need about {prepare_peak_mb(spec, found) / 1e3:.0f} GB of "
        f"memory. Give a smaller file, or raise data.max_dataset_gb if the machine that runs "
        f"prepare has that memory."
    )


def min_train_rows(classes: int, validation_fraction: float) -> int:
    """The fewest training rows `prepare` can split: its stratified subsample needs a row per
    class, and its stratified validation split (scikit-learn's train_test_split, which holds
    out ceil(fraction x n) rows) needs at least one row per class on each side."""
    n = classes
    while True:
        held = math.ceil(validation_fraction * n)
        if held >= classes and n - held >= classes:
            return n
        n += 1


def reserved_names(config: dict) -> dict[str, str]:
    """name -> what it is, of every top-level entry of results_dir that is the workflow's own: a
    dataset's folder of that name would collide with it. Spelled in layermaps.paths (the one
    place), and the local store's files (tracking.store, tracking.artifact_root)."""
    p = Paths("R")
    own = {
        p.knn_summary(): "the kNN table of every dataset",
        p.summary(): "every study's summary",
        p.knn_summary(suffix=".run_id"): "the run of the kNN table",
        p.summary(".run_id"): "the run of the summary",
        p.figures(): "the figures across datasets",
        p.study_file("s", "f"): "the studies' figures and summaries",
        p.log("x"): "the jobs' logs",
        p.state(): "the records of its runs",
    }
    names = {path.removeprefix("R/").split("/")[0]: what for path, what in own.items()}
    for key, what in (("store", "the local MLflow store"), ("artifact_root", "its artifacts")):
        path = os.path.normpath(config["tracking"][key])
        if not os.path.isabs(path) and not path.startswith(".."):
            top = path.split(os.sep)[0]
            names[top] = f"{what} (tracking.{key})"
            if key == "store" and top == path:  # SQLite's files beside it
                names.update({f"{top}{end}": f"a file of {what}" for end in ("-journal", "-wal", "-shm")})
    return names


def check_datasets(config: dict, specs: dict) -> None:
    """No dataset is named like one of the workflow's own files; each dataset's file or folder
    exists (a .npz: with its arrays) and declares no more than data.max_dataset_gb; the
    subsample sizes fit every dataset they apply to (all but reduced ones, which keep their
    parent's rows)."""
    reserved = reserved_names(config)
    for name in specs:
        if name in reserved:
            raise ConfigError(
                f"invalid config: datasets.{name}: the name {name!r} is reserved: "
                f"{config['results_dir']}/{name} is {reserved[name]}; give the "
                f"dataset another name."
            )
    sub = config["data"].get("subsample") or {}
    for name, spec in specs.items():
        check_declared_size(name, spec, config["data"]["max_dataset_gb"])
        n_train, n_test, classes = dataset_rows(name, spec)
        if spec["kind"] == "reduced":
            continue
        vf = spec.get("validation_fraction", config["data"]["validation_fraction"])
        for split, n in (("train", n_train), ("test", n_test)):
            size = sub.get(split)
            if size is None:
                continue
            where = f"invalid config: data.subsample.{split} = {size}"
            if n is not None and size > n:
                raise ConfigError(
                    f"{where} is more than the {n:,} {split} rows of dataset {name}: "
                    f"at most {n:,} (or leave it out, or null, for all of them)."
                )
            if n is not None and classes and n - classes < size < n:
                raise ConfigError(
                    f"{where}: a stratified sample of dataset {name}'s {n:,} {split} "
                    f"rows leaves out at least one per class ({classes}): at most "
                    f"{n - classes:,}, or leave it out for all {n:,}."
                )
            if classes is None:
                continue
            need = min_train_rows(classes, vf) if split == "train" else classes
            if size < need:
                why = (
                    f"its stratified validation split (validation_fraction {vf:.4g}) needs at "
                    f"least one row per class ({classes}) among both the held-out and the fit rows"
                    if split == "train"
                    else f"a stratified sample needs a row per class ({classes})"
                )
                raise ConfigError(f"{where} is too few for dataset {name}: {why}: at least {need}.")
