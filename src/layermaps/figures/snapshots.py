"""Layers over training: the figure jobs of a model's snapshots (`snapshots:`), called by
workflow/scripts/plot_snapshot_*.py and animate_snapshots.py inside an MLflow run. A snapshot's
maps and scores are ordinary ones (source `{model}@epoch{e}/{layer}`); these jobs draw them by
layer and epoch, and the animation fits its aligned frames (layermaps.embed.aligned).
"""

from __future__ import annotations

import numpy as np

from layermaps.embed.records import Embedding, accuracy_at, load_scores
from layermaps.figures.stage import _save, log_figures
from layermaps.paths import snapshot_name
from layermaps.tracking.worktime import work


def _class_names(data_path):
    with np.load(data_path, allow_pickle=False) as d:
        return d["test_labels"], [str(c) for c in d["class_names"]]


def snapshot_grid_job(
    *,
    dataset: str,
    model: str,
    reducer: str,
    epochs,
    layers,
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
    """Rows = layers, columns = snapshots: the test points of each map and its kNN accuracy.
    cells: the (layer, epoch) of each embedding path; a cell not among them stays empty."""
    from layermaps.figures.plots import grid_figure

    scores = load_scores(score_paths)
    y_test, names = _class_names(data_path)
    paths = dict(zip(cells, embedding_paths))
    panels = []
    for layer in layers:
        row = []
        for e in epochs:
            acc = accuracy_at(scores.get((f"{snapshot_name(model, e)}/{layer}", reducer)), k)
            row.append(
                None
                if (layer, e) not in paths
                else {
                    "xy": Embedding.load(paths[(layer, e)]).test,
                    "labels": y_test,
                    "title": f"kNN@{k} = {acc:.4f}",
                }
            )
        panels.append(row)
    title = (
        f"{dataset} | {model} over training, {reducer}\ntest points of each layer (rows) "
        f"after each snapshot's epoch (columns); kNN accuracy at k={k}" + (f"\n({k_note})" if k_note else "")
    )
    with work("draw"):
        _save(
            grid_figure(
                panels,
                list(layers),
                [f"epoch {e}" for e in epochs],
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


def over_training_series(scores: dict, plans: dict, k: int) -> dict:
    """model -> {"{layer}" or "{layer} ({map})": (epochs, kNN accuracies at k)} from score
    records keyed (source, map) (plans: layermaps.planning.snapshot_plan)."""
    out = {}
    for model, plan in plans.items():
        lines = {}
        for layer in plan["layers"]:
            for r in plan["maps"]:
                label = layer if len(plan["maps"]) == 1 else f"{layer} ({r})"
                got = [
                    (e, accuracy_at(scores.get((f"{snapshot_name(model, e)}/{layer}", r)), k))
                    for e in plan["epochs"]
                ]
                lines[label] = ([e for e, _ in got], [a for _, a in got])
        out[model] = lines
    return out


def over_training_job(
    *, dataset: str, study: str, plans: dict, score_paths, out_path, k: int, k_note: str, dpi: int, log=print
) -> None:
    """The kNN accuracy of every layer against the epoch, one panel per model."""
    from layermaps.figures.plots import over_training_figure

    series = over_training_series(load_scores(score_paths), plans, k)
    title = (
        f"{dataset} | study {study}\nkNN accuracy at k={k} of each layer's 2-D map of the "
        f"test points, over training" + (f"\n({k_note})" if k_note else "")
    )
    with work("draw"):
        _save(over_training_figure(series, title, ylabel=f"kNN accuracy (k={k})"), out_path, dpi)
    log_figures(out_path)
    log(f"[figures] {out_path}")


def in_box(xy, reference):
    """xy scaled per axis as umap-learn scales an `init` (the reference rows' range to 0..10):
    every frame in the same frame of the screen, as the next fit starts from it."""
    lo, hi = reference.min(axis=0), reference.max(axis=0)
    return 10.0 * (xy - lo) / np.where(hi > lo, hi - lo, 1.0)


def animation_job(
    *,
    dataset: str,
    model: str,
    layer: str,
    reducer: str,
    settings: dict,
    seed: int,
    threads: int,
    epochs,
    first_embedding,
    arrays: dict,
    data_path,
    out_path,
    k: int,
    fps: float,
    dpi: int,
    cmap: str,
    point_size: float,
    log=print,
) -> list[float]:
    """The aligned animation of one layer over the snapshots (arrays: epoch -> (train, test)
    .npy paths): frame 1 is the first snapshot's ordinary map, each later frame fitted from
    the previous one; every frame shows the test rows, placed by `transform`. Returns each
    frame's kNN accuracy at k (logged as aligned_knn_accuracy_{layer}_{reducer}_epoch{e})."""
    from layermaps.embed.aligned import aligned_maps
    from layermaps.embed.scoring import knn_accuracy
    from layermaps.embed.stage import load_source
    from layermaps.figures.plots import map_frames, save_gif
    from layermaps.tracking import runlog

    sources, y_fit, y_test = [], None, None
    for e in epochs:
        x_fit, y, x_test, y_test = load_source(*arrays[e], data_path)
        if y_fit is not None and not np.array_equal(y, y_fit):
            raise ValueError(
                f"the snapshot of epoch {e} holds other fit rows than epoch {epochs[0]}'s: "
                f"rerun its activations"
            )
        y_fit = y
        sources.append((x_fit, x_test))
    first = Embedding.load(first_embedding)
    log(
        f"[aligned] {model}/{layer} {reducer}: {len(epochs)} snapshots of {len(y_fit)} fit rows, "
        f"{len(y_test)} test rows"
    )
    with work("reduce"):
        maps = aligned_maps(
            first, sources, reducer=reducer, settings=settings, seed=seed, n_jobs=threads, log=log
        )
    accuracies = [knn_accuracy(m.train, y_fit, m.test, y_test, ks=[k])[f"k{k}"]["accuracy"] for m in maps]
    _, names = _class_names(data_path)
    frames = [
        {
            "xy": in_box(m.test, m.train),
            "labels": y_test,
            "title": f"epoch {e}: kNN@{k} = {a:.4f}" + (" (its ordinary map)" if i == 0 else ""),
        }
        for i, (m, e, a) in enumerate(zip(maps, epochs, accuracies))
    ]
    title = (
        f"{dataset} | {model}/{layer} over training, {reducer} aligned frame to frame\n"
        f"{len(y_test):,} test points placed in maps of {len(y_fit):,} training rows"
    )
    with work("draw"):
        save_gif(
            map_frames(frames, names, title, cmap=cmap, point_size=point_size, dpi=dpi), out_path, fps=fps
        )
    runlog.log_metrics(
        {f"aligned_knn_accuracy_{layer}_{reducer}_epoch{e}": a for e, a in zip(epochs, accuracies)}
    )
    log_figures(out_path)
    log(f"[figures] {out_path}: " + ", ".join(f"epoch {e} {a:.4f}" for e, a in zip(epochs, accuracies)))
    return accuracies
