"""A small map explorer whose every number is known: two datasets, maps whose kNN votes and
model predictions are chosen point by point, and class names that hold markup, quotes, `&`
and `$` (issue 29, item 4). Used by tests/test_browser.py (what a person sees) and
tests/test_explorer.py (the page's bytes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from layermaps.embed.records import Embedding, Score

K = 3
# Each would show up as something else, or run, if it reached the page's HTML as markup.
ODD_CLASSES = [
    '<b>bold</b> & "quoted"',
    "it's $5 & $x^2$",
    '<img src=x onerror="window.pwned=1">',
    "</script><script>window.pwned=2</script>",
]
PLAIN_CLASSES = ["zero", "one"]
N_TEST = 12
# (dataset, source, reducer) -> the test points whose kNN vote in that map is wrong
MISVOTED = {
    ("odd", "raw", "pca"): [1, 6],
    ("odd", "net/hidden1", "pca"): [2],
    ("odd", "net/hidden1", "umap"): [0, 5, 11],
    ("odd", "net/hidden2", "pca"): [],
    ("plain", "raw", "pca"): [3],
}
SPACING = 10.0  # between test points in a map: a hover finds exactly one


def labels(dataset: str) -> np.ndarray:
    n_classes = len(ODD_CLASSES if dataset == "odd" else PLAIN_CLASSES)
    return np.arange(N_TEST) % n_classes


def votes(dataset: str, source: str, reducer: str) -> np.ndarray:
    y = labels(dataset).copy()
    n_classes = y.max() + 1
    for i in MISVOTED[(dataset, source, reducer)]:
        y[i] = (y[i] + 1) % n_classes
    return y


def predicted(dataset: str) -> np.ndarray:
    """The model `net`'s predicted class of each test point: right but for points 3 and 4."""
    y = labels(dataset).copy()
    y[[3, 4]] = (y[[3, 4]] + 2) % (y.max() + 1)
    return y


def test_points(map_index: int) -> np.ndarray:
    """Each map its own layout: points on a line, turned by the map's index."""
    i = np.arange(N_TEST, dtype=np.float64)
    xy = np.stack([i * SPACING, (i % 3) * SPACING * (1 + map_index)], axis=1)
    return xy if map_index % 2 == 0 else xy[:, ::-1].copy()


def write_data(path: Path, dataset: str, fit_labels: np.ndarray) -> None:
    """A prepared data file (what `prepare` writes) with the arrays the explorer reads."""
    names = ODD_CLASSES if dataset == "odd" else PLAIN_CLASSES
    arrays = {
        "test_labels": labels(dataset),
        "train_labels": fit_labels,
        "fit_idx": np.arange(len(fit_labels)),
        "class_names": np.array(names),
        "test_images": (np.arange(N_TEST * 4).reshape(N_TEST, 4) * 5 % 256).astype(np.uint8),
    }
    if dataset == "odd":
        arrays["image_shape"] = np.array([2, 2])
    np.savez(path, **arrays)


def build(folder: Path) -> dict:
    """The inputs of explorer_page: {study, maps, data_paths, prediction_paths, k}. A map's
    training points sit three on each of its test points, labelled with the vote wanted there,
    so its kNN (k=3) votes exactly `votes`; each map's rows of the dataset's fit labels are
    its `fit_rows`."""
    folder.mkdir(parents=True, exist_ok=True)
    data_paths = {d: folder / f"{d}.npz" for d in ("odd", "plain")}
    fit_labels = {d: [] for d in data_paths}
    maps = []
    for j, (dataset, source, reducer) in enumerate(MISVOTED):
        v = votes(dataset, source, reducer)
        start = len(fit_labels[dataset])
        fit_labels[dataset].extend(np.repeat(v, 3))
        test = test_points(j)
        stem = f"{dataset}_{source.replace('/', '_')}_{reducer}"
        Embedding(
            train=np.repeat(test, 3, axis=0).astype(np.float32),
            test=test.astype(np.float32),
            protocol="inductive",
            policy="fit",
            fit_seconds=0.0,
            transform_seconds=0.0,
            input_dim=4,
            effective_dim=4,
            reducer=reducer,
            fit_rows=np.arange(start, start + 3 * N_TEST),
        ).save(folder / f"{stem}.npz")
        model, _, layer = source.partition("/")
        Score(
            dataset=dataset,
            source=source,
            model=model,
            layer=layer or "raw",
            reducer=reducer,
            protocol="inductive",
            policy="fit",
            knn={f"k{K}": {"k": K, "accuracy": float(np.mean(v == labels(dataset)))}},
            trustworthiness=0.5 + j / 100,
            fit_seconds=0.0,
            transform_seconds=0.0,
        ).save(folder / f"{stem}.json")
        maps.append(
            {
                "dataset": dataset,
                "source": source,
                "reducer": reducer,
                "embedding": folder / f"{stem}.npz",
                "score": folder / f"{stem}.json",
            }
        )
    for d, path in data_paths.items():
        write_data(path, d, np.array(fit_labels[d]))
    np.save(folder / "odd_net_output_test.npy", np.eye(len(ODD_CLASSES))[predicted("odd")])
    return {
        "study": "odd_names",
        "maps": maps,
        "data_paths": data_paths,
        "prediction_paths": {("odd", "net"): folder / "odd_net_output_test.npy"},
        "k": K,
    }
