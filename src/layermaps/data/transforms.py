"""Reduced inputs (docs/experiments.md B): a dataset made from another one by a transform of its inputs.

    mnist_pca154: {kind: reduced, from: mnist, method: pca, keep: 154}
    mnist_rf70:   {kind: reduced, from: mnist, method: forest, keep: 70}  # trees 100, seed 42

The transform is fitted on the parent's prepared training rows only (never its test rows) by
the `fit_input_transform` job and stored (transform.npz); the reduced dataset's `prepare` job
then puts the parent's training *and* test rows through the stored transform. The reduced
dataset keeps the parent's rows, labels and split, so it flows through every stage as any
dataset does: models train on it and its `raw` source (the reduced inputs) is embedded like
pixels.

- pca: the first `keep` principal components (scikit-learn PCA, seeded), the parent's scaled
  inputs projected onto them.
- forest: the `keep` input columns that a RandomForestClassifier (`trees` trees,
  random_state `seed`) ranks most important, kept as they are (scaled like the parent's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layermaps.atomic import NpzRecord


@dataclass
class InputTransform(NpzRecord):
    method: str  # "pca" | "forest"
    parent: str  # the dataset it was fitted on
    mean: np.ndarray  # pca: (d,) the training rows' mean; forest: empty
    components: np.ndarray  # pca: (keep, d) principal axes; forest: empty
    explained_variance_ratio: np.ndarray  # pca: (keep,); forest: empty
    columns: np.ndarray  # forest: (keep,) the kept input columns, most important first; pca: empty
    importances: np.ndarray  # forest: (d,) every column's importance; pca: empty
    n_fit: int  # training rows it was fitted on
    seconds: float

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Rows of the parent's scaled inputs -> the reduced inputs (float32)."""
        x = np.asarray(x, np.float32)
        width = len(self.mean) if self.method == "pca" else len(self.importances)
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(
                f"the {self.method} transform of {self.parent} takes rows of {width} "
                f"columns, got shape {x.shape}"
            )
        if self.method == "pca":
            return ((x - self.mean) @ self.components.T).astype(np.float32)
        return np.ascontiguousarray(x[:, self.columns])

    def describe(self) -> str:
        """One line for tags and titles, e.g. 'pca 154 of mnist (0.950 of the variance)'."""
        if self.method == "pca":
            return (
                f"pca {len(self.components)} of {self.parent} "
                f"({self.explained_variance_ratio.sum():.3f} of the variance)"
            )
        return f"forest {len(self.columns)} of {len(self.importances)} columns of {self.parent}"


def fit_transform(
    spec: dict, parent: str, x: np.ndarray, y: np.ndarray, *, threads: int = 1, log=print
) -> InputTransform:
    """Fit a reduced dataset's transform (spec: dataset_specs's) on training rows x, labels y."""
    import time

    keep, width = int(spec["keep"]), x.shape[1]
    if not 1 <= keep < width:
        raise ValueError(
            f"keep {keep}: a reduced input keeps between 1 and {width - 1} of {parent}'s {width} columns"
        )
    empty = np.zeros(0, np.float32)
    t0 = time.perf_counter()
    if spec["method"] == "pca":
        from sklearn.decomposition import PCA

        log(f"[transform] PCA to {keep} components of {x.shape[0]} x {width} training rows")
        pca = PCA(n_components=keep, random_state=spec["seed"]).fit(x)
        return InputTransform(
            "pca",
            parent,
            pca.mean_.astype(np.float32),
            pca.components_.astype(np.float32),
            pca.explained_variance_ratio_.astype(np.float32),
            empty.astype(np.int64),
            empty,
            len(x),
            time.perf_counter() - t0,
        )
    from sklearn.ensemble import RandomForestClassifier

    log(
        f"[transform] random forest of {spec['trees']} trees on {x.shape[0]} x {width} training "
        f"rows, {threads} thread(s): the {keep} most important columns"
    )
    forest = RandomForestClassifier(
        n_estimators=spec["trees"], random_state=spec["seed"], n_jobs=threads
    ).fit(x, y)
    importances = forest.feature_importances_.astype(np.float32)
    columns = np.argsort(-importances, kind="stable")[:keep].astype(np.int64)
    return InputTransform(
        "forest",
        parent,
        empty,
        empty.reshape(0, width),
        empty,
        columns,
        importances,
        len(x),
        time.perf_counter() - t0,
    )


def reduced_dataset(parent: dict, transform: InputTransform) -> dict:
    """The reduced dataset's data.npz arrays from the parent's (layermaps.data.datasets.prepare):
    the same rows, labels and split, inputs put through the stored transform, scale none."""
    from layermaps.data.datasets import scaled

    train = transform.apply(scaled(parent["train_images"], parent))
    test = transform.apply(scaled(parent["test_images"], parent))
    width = train.shape[1]
    keep = (
        "train_labels",
        "test_labels",
        "class_names",
        "fit_idx",
        "val_idx",
        "train_source_rows",
        "test_source_rows",
    )
    return {
        **{k: parent[k] for k in keep},
        "train_images": train,
        "test_images": test,
        "image_shape": np.zeros(0, np.int64),  # not an image: no GIFs, no pixel pictures
        "scale": np.array("none"),
        "scale_offset": np.zeros(width, np.float32),
        "scale_factor": np.ones(width, np.float32),
    }


def fit_job(*, dataset: str, spec: dict, parent_path, threads: int, out_path, log=print) -> InputTransform:
    """The fit_input_transform job: fit on every prepared training row of the parent (fit and
    validation rows: never a test row), save."""
    from layermaps.data.datasets import load_prepared, scaled
    from layermaps.tracking.worktime import work

    parent = load_prepared(parent_path)
    with work("fit"):
        transform = fit_transform(
            spec,
            spec["from"],
            scaled(parent["train_images"], parent),
            parent["train_labels"],
            threads=threads,
            log=log,
        )
    transform.save(out_path)
    log(f"[transform] {dataset}: {transform.describe()}, fitted in {transform.seconds:.1f} s")
    return transform


def prepare_job(*, dataset: str, parent_path, transform_path, out_path, log=print) -> dict:
    """A reduced dataset's prepare job: the parent's rows through the stored transform; the
    transform and what it keeps are logged to the dataset's run (the parent of its models')."""
    from layermaps.data.datasets import load_prepared, save_npz
    from layermaps.tracking import runlog
    from layermaps.tracking.worktime import work

    transform = InputTransform.load(transform_path)
    with work("prepare"):
        arrays = reduced_dataset(load_prepared(parent_path), transform)
        save_npz(out_path, arrays)
    runlog.set_tags({"dataset.transform": transform.describe()})  # with what it keeps
    metrics = {
        "input_columns": arrays["train_images"].shape[1],
        "transform_fit_rows": transform.n_fit,
        "transform_seconds": transform.seconds,
    }
    if transform.method == "pca":
        metrics["explained_variance"] = float(transform.explained_variance_ratio.sum())
    runlog.log_metrics(metrics)
    if transform.method == "forest":
        runlog.log_dict(
            {
                "columns": transform.columns.tolist(),
                "importances": transform.importances[transform.columns].round(6).tolist(),
            },
            "kept_columns.json",
        )
    runlog.log_artifacts(transform_path)
    log(
        f"[prepare] {dataset}: {transform.describe()}; {arrays['train_images'].shape[0]} training and "
        f"{arrays['test_images'].shape[0]} test rows of {arrays['train_images'].shape[1]} columns"
    )
    return arrays
