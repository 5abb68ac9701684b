"""The datasets layermaps knows: canonical files, their checksums, class names; and `prepare`.

Checksums are of the *decompressed* IDX content, so any faithful mirror passes whether or not
it recompressed the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layermaps.data.idx import read_idx_gz

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
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
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

    idx, _ = train_test_split(np.arange(n), train_size=size, stratify=labels,
                              random_state=int(rng.integers(2**31)))
    return np.sort(idx)


def prepare(folder: str | Path, dataset: str, *, train_size: int | None, test_size: int | None,
            validation_fraction: float, seed: int) -> dict:
    """Everything data.npz holds: uint8 images, labels, class names and the train/validation split.

    `fit_idx` / `val_idx` index the train arrays: models train on fit_idx and validate on
    val_idx (the seed MLP's 5/6 : 1/6 split); embeddings are fitted on fit_idx rows too.
    """
    ds = get_dataset(dataset)
    raw = load_raw(folder)
    rng = np.random.default_rng(seed)
    train_keep = stratified_subsample(raw["train_labels"], train_size, rng)
    test_keep = stratified_subsample(raw["test_labels"], test_size, rng)
    train_labels = raw["train_labels"][train_keep]
    from sklearn.model_selection import train_test_split

    fit_idx, val_idx = train_test_split(np.arange(len(train_keep)), test_size=validation_fraction,
                                        stratify=train_labels, random_state=seed)
    return {
        "train_images": raw["train_images"][train_keep],
        "train_labels": train_labels,
        "test_images": raw["test_images"][test_keep],
        "test_labels": raw["test_labels"][test_keep],
        "class_names": np.array(ds.class_names),
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


def scaled(images: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1], as the models see them."""
    return images.astype(np.float32) / np.float32(255)


def raw_activations_job(*, data_path, out: dict) -> None:
    """Raw pixels as a source: float32 in [0, 1], rows in the order of data.npz."""
    from layermaps.atomic import atomic_path

    data = load_prepared(data_path)
    for split in ("train", "test"):
        with atomic_path(out[split]) as tmp:
            np.save(tmp, scaled(data[f"{split}_images"]))
