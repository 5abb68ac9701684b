"""The figure stage's jobs, called by workflow/scripts/plot_*.py inside an MLflow run (what
they draw and where is planned by layermaps.planning). matplotlib and MLflow are imported
inside the jobs.
Every job reads files the earlier stages wrote (embeddings, scores, activations, metrics) and
never trains or embeds anything itself.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from layermaps.embed.records import Embedding, accuracy_at, load_scores
from layermaps.paths import Source
from layermaps.tracking.worktime import work

ARTIFACT_PATH = "figures"


# ----------------------------------------------------------------------------- reading
def read_history(path) -> dict[str, list[float]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(r[key]) for r in rows] for key in (rows[0] if rows else {}) if key != "epoch"}


def read_confusion(path) -> tuple[np.ndarray, list[str]]:
    """The counts and class names of confusion_test.csv (header: class names, quoted by the csv
    module where they hold a comma or a quote: models.stage.write_confusion)."""
    with open(path, newline="") as f:
        names, *rows = csv.reader(f)
    return np.array(rows, dtype=np.int64).reshape(len(rows), len(names)), names


def source_label(source: str) -> str:
    return "raw pixels" if source == "raw" else source


def log_figures(*paths) -> None:
    """Attach the written figures to the job's MLflow run, under figures/."""
    from layermaps.tracking import runlog

    runlog.log_artifacts(*paths, artifact_path=ARTIFACT_PATH)


def _save(fig, path, dpi) -> None:
    from layermaps.figures.plots import save_figure

    save_figure(fig, path, dpi=dpi, tight=False)


# ----------------------------------------------------------------------------- jobs
def embedding_job(
    *,
    dataset: str,
    source: str,
    reducer: str,
    embedding_path,
    data_path,
    out_path,
    dpi: int,
    cmap: str,
    point_size: float,
    log=print,
) -> None:
    """One embedding: train and test side by side in the same coordinates, coloured by class."""
    from layermaps.figures.plots import embedding_figure

    emb = Embedding.load(embedding_path)
    with np.load(data_path, allow_pickle=False) as d:
        y_fit, y_test = emb.fit_labels(d["train_labels"][d["fit_idx"]]), d["test_labels"]
        names = [str(c) for c in d["class_names"]]
    if len(emb.train) != len(y_fit) or len(emb.test) != len(y_test):
        raise ValueError(
            f"{embedding_path} has {len(emb.train)}/{len(emb.test)} train/test rows, "
            f"{data_path} {len(y_fit)}/{len(y_test)}: rerun the embedding"
        )
    note = "" if emb.policy == "fit" else f", policy {emb.policy}"
    fitted = "the training points" if emb.fit_rows is None else f"{len(emb.train)} training points"
    title = (
        f"{dataset} | {source_label(source)} | {reducer}: fitted on {fitted}, "
        f"test points placed in the same map ({emb.protocol}{note})"
    )
    with work("draw"):
        _save(
            embedding_figure(
                emb.train, y_fit, emb.test, y_test, names, title, cmap=cmap, point_size=point_size
            ),
            out_path,
            dpi,
        )
    log_figures(out_path)
    from layermaps.tracking import runlog

    # the map itself beside its picture, for a notebook (mlflow.artifacts.download_artifacts)
    runlog.log_artifacts(embedding_path, artifact_path="embedding")
    log(f"[figures] {out_path}")


def grid_job(
    *,
    dataset: str,
    model: str,
    rows: list[str],
    reducers: list[str],
    cells,
    embedding_paths,
    score_paths,
    data_path,
    out_path,
    k: int,
    k_note: str,
    dpi: int,
    cmap: str,
    point_size: float,
    log=print,
) -> None:
    """Rows = sources (raw, hidden1, ...), columns = reducers; test points; kNN accuracy at k.

    cells: the (source, reducer) of each embedding path, in the same order; a cell of the grid
    that is not among them (no study embeds that source with that reducer) stays empty.
    """
    from layermaps.figures.plots import grid_figure

    scores = load_scores(score_paths)
    with np.load(data_path, allow_pickle=False) as d:
        y_test = d["test_labels"]
        names = [str(c) for c in d["class_names"]]
    if len(embedding_paths) != len(cells):
        raise ValueError(f"{len(embedding_paths)} embeddings for {len(cells)} cells")
    paths = {tuple(cell): path for cell, path in zip(cells, embedding_paths)}
    panels = []
    for source in rows:
        row = []
        for reducer in reducers:
            path = paths.get((source, reducer))
            acc = accuracy_at(scores.get((source, reducer)), k)
            row.append(
                None
                if path is None
                else {
                    "xy": Embedding.load(path).test,
                    "labels": y_test,
                    "title": f"{reducer}: kNN@{k} = {acc:.4f}",
                }
            )
        panels.append(row)
    title = (
        f"{dataset} | {model}: 2-D maps of the test points; kNN accuracy at k={k} "
        f"(training points as neighbours)" + (f"\n({k_note})" if k_note else "")
    )
    with work("draw"):
        _save(
            grid_figure(
                panels,
                [source_label(s) if s == "raw" else Source.parse(s).layer for s in rows],
                reducers,
                names,
                title,
                cmap=cmap,
                point_size=point_size,
            ),
            out_path,
            dpi,
        )
    log_figures(out_path)
    log(f"[figures] {out_path}")


def heatmap_job(
    *,
    dataset: str,
    score_paths,
    sources: list[str],
    reducers: list[str],
    k: int,
    k_note: str,
    out_path,
    dpi: int,
    log=print,
) -> None:
    """kNN accuracy at one k: sources x (reducers + the unreduced ceiling)."""
    from layermaps.figures.plots import knn_heatmap

    scores = load_scores(score_paths)
    cols = list(reducers) + (["unreduced"] if any(r == "unreduced" for _, r in scores) else [])
    values = [[accuracy_at(scores.get((s, r)), k) for r in cols] for s in sources]
    title = f"{dataset}: kNN accuracy at k={k} of the test points" + (f"\n({k_note})" if k_note else "")
    with work("draw"):
        _save(knn_heatmap(values, [source_label(s) for s in sources], cols, title), out_path, dpi)
    log_figures(out_path)
    log(f"[figures] {out_path}")


def comparison_job(
    *,
    datasets: list[str],
    score_paths: dict,
    sources: list[str],
    reducers: list[str],
    k: int,
    k_note: str,
    out_path,
    dpi: int,
    log=print,
) -> None:
    """Grouped bars, one panel per reducer: each source's kNN accuracy, one bar per dataset."""
    from layermaps.figures.plots import comparison_bars

    scores = {d: load_scores(score_paths[d]) for d in datasets}
    cols = list(reducers) + (
        ["unreduced"] if any(r == "unreduced" for d in datasets for _, r in scores[d]) else []
    )
    panels = {
        r: {d: [accuracy_at(scores[d].get((s, r)), k) for s in sources] for d in datasets} for r in cols
    }
    title = f"kNN accuracy at k={k}: {' vs '.join(datasets)}, per source and reducer" + (
        f"\n({k_note})" if k_note else ""
    )
    with work("draw"):
        _save(
            comparison_bars(
                [source_label(s) for s in sources], panels, datasets, title, ylabel=f"kNN accuracy (k={k})"
            ),
            out_path,
            dpi,
        )
    log_figures(out_path)
    log(f"[figures] {out_path}")


def sweep_job(
    *,
    dataset: str,
    sweep: str,
    plan: dict,
    metrics_paths,
    score_paths,
    reducers: list[str],
    k: int,
    k_note: str,
    out_path,
    dpi: int,
    log=print,
) -> None:
    """Model accuracy and the varied layer's 2-D kNN accuracy against the varied value."""
    from layermaps.figures.plots import sweep_figure

    metrics = {}
    for path in metrics_paths:
        metrics[Path(path).parent.name] = json.loads(Path(path).read_text())
    scores = load_scores(score_paths)
    members = plan["members"]
    repeats = [m.get("repeats", [m["model"]]) for m in members]  # every repeat of a member
    acc = {
        split: [[metrics[r].get(f"{split}_accuracy", float("nan")) for r in rs] for rs in repeats]
        for split in ("train", "val", "test")
    }
    knn = {}
    for r in list(reducers) + ["unreduced"]:
        vals = [
            [scores[key].accuracy(k) for key in ((f"{name}/{m['layer']}", r) for name in rs) if key in scores]
            or [float("nan")]
            for m, rs in zip(members, repeats)
        ]
        if not all(np.isnan(v).all() for v in vals):
            knn[r] = vals
    layers = sorted({m["layer"] for m in members})
    title = (
        f"{dataset} | sweep {sweep}: accuracy against {plan['key']}; kNN accuracy at k={k} "
        f"of layer {', '.join(layers)} in 2-D" + (f"\n({k_note})" if k_note else "")
    )
    with work("draw"):
        _save(
            sweep_figure(
                [m["value"] for m in members],
                plan["key"],
                acc,
                knn,
                title,
                knn_label=f"kNN accuracy (k={k}, {', '.join(layers)})",
            ),
            out_path,
            dpi,
        )
    log_figures(out_path)
    log(f"[figures] {out_path}")


def study_curves_job(*, dataset: str, study: str, history_paths: dict, out_path, dpi: int, log=print) -> None:
    """The training curves of every model of a study on one dataset, in one figure
    (history_paths: model -> history.csv)."""
    from layermaps.figures.plots import curves_by_model

    histories = {m: read_history(p) for m, p in history_paths.items()}
    with work("draw"):
        _save(
            curves_by_model(
                histories, f"{dataset} | study {study}: training curves of its {len(histories)} models"
            ),
            out_path,
            dpi,
        )
    log_figures(out_path)
    log(f"[figures] {out_path}")


def training_figures_job(
    *,
    dataset: str,
    model: str,
    history_path,
    confusion_path,
    metrics_path,
    data_path,
    train_outputs_path,
    test_outputs_path,
    input_pair,
    out_curves,
    out_confusion,
    out_input_pair,
    dpi: int,
    cmap: str,
    point_size: float,
    log=print,
) -> None:
    """A model's training curves; its confusion matrices on the training rows (the rows of the
    training part, validation rows included, as the MSDS report drew it) and on the test rows;
    and two input columns of the test rows coloured by its predicted class (input_pair)."""
    from sklearn.metrics import confusion_matrix

    from layermaps.data.datasets import load_prepared, scaled
    from layermaps.figures.plots import confusion_heatmaps, input_pair_figure, training_curves

    metrics = json.loads(Path(metrics_path).read_text())
    test_counts, names = read_confusion(confusion_path)
    data = load_prepared(data_path)
    predicted = {
        split: np.argmax(np.load(path), axis=1)
        for split, path in (("train", train_outputs_path), ("test", test_outputs_path))
    }
    for split, pred in predicted.items():
        if len(pred) != len(data[f"{split}_labels"]):
            raise ValueError(
                f"{model}'s {split} outputs have {len(pred)} rows, {data_path} "
                f"{len(data[f'{split}_labels'])} {split} rows"
            )
    y_train = data["train_labels"]
    train_counts = confusion_matrix(y_train, predicted["train"], labels=np.arange(len(names)))
    train_acc = float(np.mean(predicted["train"] == y_train))
    title = f"{dataset} | {model}"
    x_train, x_test = scaled(data["train_images"], data), scaled(data["test_images"], data)
    columns = pair_columns(x_train, input_pair)
    shape = tuple(int(v) for v in data.get("image_shape", ()))
    image = len(shape) == 2 and int(np.prod(shape)) == x_train.shape[1]
    marks = [tuple(int(v) for v in np.unravel_index(c, shape)) for c in columns] if image else []
    col_names = (
        [f"pixel {n} (row {r}, column {c})" for n, (r, c) in zip("ab", marks)]
        if image
        else [f"input column {c}" for c in columns]
    )
    with work("draw"):
        _save(
            training_curves(
                read_history(history_path),
                f"{title}: training curves ({metrics.get('epochs_run', '?')} epochs)",
                layout="constrained",
            ),
            out_curves,
            dpi,
        )
        _save(
            confusion_heatmaps(
                [
                    (
                        train_counts,
                        f"training rows ({len(y_train):,}, validation included): accuracy {train_acc:.4f}",
                    ),
                    (
                        test_counts,
                        f"test rows ({int(test_counts.sum()):,}): accuracy {metrics['test_accuracy']:.4f}",
                    ),
                ],
                names,
                f"{title}: confusion matrices",
                layout="constrained",
            ),
            out_confusion,
            dpi,
        )
        _save(
            input_pair_figure(
                x_test[:, columns],
                predicted["test"],
                data["test_labels"],
                names,
                f"{title}: two inputs of the {len(x_test):,} test rows",
                names=col_names,
                image=x_train.mean(axis=0).reshape(shape) if image else None,
                marks=marks,
                cmap=cmap,
                point_size=point_size,
            ),
            out_input_pair,
            dpi,
        )
    log_figures(out_curves, out_confusion, out_input_pair)
    log(f"[figures] {out_curves}, {out_confusion}, {out_input_pair} (columns {columns})")


def pair_columns(x_train: np.ndarray, setting) -> list[int]:
    """The two input columns of the input-pair figure: the config's [i, j] (flattened column
    indices), or "auto": the column of largest variance over the training rows and the column of
    largest variance of those nearly uncorrelated with it (|r| < 0.2; neighbouring pixels move
    together and would draw a diagonal), else the second largest. Lower index first on a tie."""
    width = x_train.shape[1]
    if setting == "auto":
        if width < 2:
            raise ValueError(f"the input-pair figure needs two input columns; the data has {width}")
        x = x_train.astype(np.float64)
        order = np.argsort(-x.var(axis=0), kind="stable")
        first, rest = int(order[0]), order[1:]
        centred = x - x.mean(axis=0)
        norms = np.sqrt((centred**2).sum(axis=0))
        r = centred[:, rest].T @ centred[:, first] / np.maximum(norms[rest] * norms[first], 1e-12)
        apart = rest[np.abs(r) < 0.2]
        return sorted([first, int(apart[0] if len(apart) else rest[0])])
    columns = [int(c) for c in setting]
    if len(columns) != 2 or len(set(columns)) != 2 or not all(0 <= c < width for c in columns):
        raise ValueError(
            f'figures.input_pair must be "auto" or two different input columns in '
            f"0..{width - 1}; got {setting}"
        )
    return columns


def class_rows(data_path, class_index: int) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Test-row indices of one class (test order), the test images, the class names, the
    image shape."""
    with np.load(data_path, allow_pickle=False) as d:
        names = [str(c) for c in d["class_names"]]
        if not 0 <= class_index < len(names):
            raise ValueError(f"class index {class_index} is not a class of {data_path} (0..{len(names) - 1})")
        rows = np.flatnonzero(d["test_labels"] == class_index)
        images = d["test_images"]
        shape = d["image_shape"] if "image_shape" in d.files else np.array([28, 28])
    if not len(rows):
        raise ValueError(f"no test image of class {class_index} ({names[class_index]}) in {data_path}")
    return rows, images, names, shape


def activation_gifs_job(
    *,
    dataset: str,
    model: str,
    class_index: int,
    data_path,
    layer_paths: dict,
    output_path,
    n_images: int,
    n_running: int,
    fps: float,
    dpi: int,
    out_activations,
    out_running,
    log=print,
) -> dict:
    """docs/experiments.md A's pictures: (1) test images of one class beside each hidden layer's activations
    as bars; (2) the running mean of each hidden layer over the first 1..n_running images."""
    from layermaps.figures.plots import activation_frames, running_mean_frames, save_gif

    rows, images, names, shape = class_rows(data_path, class_index)
    name = names[class_index]
    layers = {layer: np.load(path, mmap_mode="r") for layer, path in layer_paths.items()}
    predicted = np.load(output_path, mmap_mode="r")
    show, first = rows[:n_images], rows[:n_running]
    captions = [
        f"test image {i + 1} of {len(show)}\npredicted: {names[int(np.argmax(predicted[r]))]}"
        for i, r in enumerate(show)
    ]
    shown = {k: np.asarray(v[show]) for k, v in layers.items()}
    running = {k: np.asarray(v[first]) for k, v in layers.items()}
    with work("draw"):
        frames = activation_frames(
            images[show],
            shown,
            captions,
            f"{dataset} | {model}: hidden-layer activations for test images of class {name!r}",
            dpi=dpi,
            image_shape=shape,
        )
        save_gif(frames, out_activations, fps=fps)
        frames_rm = running_mean_frames(
            images[first],
            running,
            f"{dataset} | {model}: running mean of the hidden activations over test images of class {name!r}",
            dpi=dpi,
            image_shape=shape,
        )
        save_gif(frames_rm, out_running, fps=fps)
    log_figures(out_activations, out_running)
    log(f"[figures] {out_activations} ({len(frames)} frames), {out_running} ({len(frames_rm)} frames)")
    return {"activation_frames": len(frames), "running_mean_frames": len(frames_rm)}


def hidden_layer_job(
    *,
    dataset: str,
    model: str,
    layer: str,
    acts_path,
    output_path,
    data_path,
    n_units: int,
    dpi: int,
    cmap: str,
    point_size: float,
    out_boxplots,
    out_pca,
    log=print,
) -> None:
    """docs/experiments.md B's pictures of one hidden layer on the test set: its first units' activations
    grouped by predicted class, and the PCA of the layer in 2-D and 3-D."""
    from layermaps.figures.plots import pca_figure, unit_boxplots

    acts = np.load(acts_path)
    predicted = np.argmax(np.load(output_path), axis=1)
    with np.load(data_path, allow_pickle=False) as d:
        labels = d["test_labels"]
        names = [str(c) for c in d["class_names"]]
    if len(acts) != len(labels):
        raise ValueError(f"{acts_path} has {len(acts)} rows, {data_path} {len(labels)} test rows")
    title = f"{dataset} | {model} | {layer} ({acts.shape[1]} units)"
    with work("draw"):
        _save(
            unit_boxplots(
                acts,
                predicted,
                names,
                f"{title}: activation of the first "
                f"{min(n_units, acts.shape[1])} unit(s) by predicted class (test set)",
                n_units=n_units,
            ),
            out_boxplots,
            dpi,
        )
        _save(
            pca_figure(
                acts,
                labels,
                names,
                f"{title}: PCA of the test activations, coloured by true class",
                cmap=cmap,
                point_size=point_size,
            ),
            out_pca,
            dpi,
        )
    log_figures(out_boxplots, out_pca)
    log(f"[figures] {out_boxplots}, {out_pca}")


def plane_bounds(x: np.ndarray, margin: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
    """((x1 min, x1 max), (x2 min, x2 max)) of 2-D inputs, widened by `margin` of each range."""
    lo, hi = x.min(axis=0).astype(float), x.max(axis=0).astype(float)
    pad = margin * np.maximum(hi - lo, 1e-9)
    return (lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1])


def decision_regions_job(
    *,
    dataset: str,
    model: str,
    model_path,
    data_path,
    metrics_path,
    bounds,
    curves: bool,
    resolution: int,
    out_path,
    dpi: int,
    cmap: str,
    threads: int = 1,
    log=print,
) -> None:
    """A model on a 2-D dataset: its predicted class over a resolution x resolution grid of the
    plane (`bounds`, or the training inputs' range), the test points, and for two_cosines both
    curves (docs/experiments.md D: the workshop draws x1 in [-pi, pi], x2 in [-1, 2])."""
    import keras

    from layermaps.data.datasets import load_prepared, scaled
    from layermaps.figures.plots import decision_regions
    from layermaps.models.training import configure_threads

    configure_threads(threads)
    data = load_prepared(data_path)
    if data["train_images"].shape[1] != 2:
        raise ValueError(
            f"{data_path}: decision regions need 2-D inputs, this dataset has "
            f"{data['train_images'].shape[1]} features"
        )
    (lo1, hi1), (lo2, hi2) = bounds or plane_bounds(data["train_images"])
    x1, x2 = np.linspace(lo1, hi1, resolution), np.linspace(lo2, hi2, resolution)
    grid = np.column_stack(
        [np.repeat(x1[None, :], resolution, 0).ravel(), np.repeat(x2[:, None], resolution, 1).ravel()]
    )
    net = keras.saving.load_model(model_path)
    with work("predict"):
        predicted = np.argmax(net.predict(scaled(grid, data), batch_size=8192, verbose=0), axis=1)
    names = [str(c) for c in data["class_names"]]
    lines = []
    if curves:  # two_cosines: class 0 on x2 = cos(x1), class 1 on x2 = 1 + cos(x1)
        lines = [(x1, np.cos(x1), names[0]), (x1, 1 + np.cos(x1), names[1])]
    accuracy = json.loads(Path(metrics_path).read_text()).get("test_accuracy", float("nan"))
    title = f"{dataset} | {model}: predicted class over the plane (test accuracy {accuracy:.4f})"
    with work("draw"):
        _save(
            decision_regions(
                x1,
                x2,
                predicted.reshape(resolution, resolution),
                names,
                title,
                points=(data["test_images"], data["test_labels"]),
                curves=lines,
                cmap=cmap,
            ),
            out_path,
            dpi,
        )
    log_figures(out_path)
    log(f"[figures] {out_path}")


def input_transform_job(*, dataset: str, transform_path, parent_path, out_path, dpi: int, log=print) -> None:
    """What a reduced dataset keeps of its parent's inputs (layermaps.data.transforms)."""
    from layermaps.data.datasets import load_prepared, scaled
    from layermaps.data.transforms import InputTransform
    from layermaps.figures.plots import input_transform_figure

    transform = InputTransform.load(transform_path)
    parent = load_prepared(parent_path)
    example = scaled(parent["test_images"][:1], parent)[0]
    with work("draw"):
        _save(
            input_transform_figure(
                transform,
                example,
                parent["image_shape"],
                f"{dataset}: {transform.describe()}, fitted on {transform.n_fit} training rows",
            ),
            out_path,
            dpi,
        )
    log_figures(out_path)
    log(f"[figures] {out_path}")
