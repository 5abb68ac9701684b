"""The compare stage's jobs (workflow/rules/measures.smk): a study's maps compared point by point
on one dataset (`compare_job`, read by the compare page and results/measures.csv), and a
model's consecutive layers side by side in one map (`layer_change_job`, a static figure).

Every per-point value is computed here, once (layermaps.measures.pointwise: exact neighbour
searches over the test rows in each source's own space and in each map); the page only draws
them.
"""

from __future__ import annotations

import json
import re
from itertools import combinations
from pathlib import Path

import numpy as np

from layermaps.atomic import atomic_path
from layermaps.measures.map_quality import overlap
from layermaps.measures.pointwise import (
    jaccard,
    knn_votes,
    neighbours_in_map,
    neighbours_in_source,
    procrustes,
)
from layermaps.tracking import runlog
from layermaps.tracking.worktime import work


def _labels(data_path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(fit labels, test labels, class names) of a dataset."""
    with np.load(data_path, allow_pickle=False) as d:
        return d["train_labels"][d["fit_idx"]], d["test_labels"], [str(c) for c in d["class_names"]]


def _source_neighbours(paths: dict, n: int, k: int) -> dict[str, np.ndarray]:
    """{source: each test row's k nearest test rows in the source's own space} (exact search)."""
    out = {}
    for source, path in paths.items():
        x = np.load(path)
        if len(x) != n:
            raise ValueError(f"{path} holds {len(x)} test rows, the dataset {n}: rerun its activations")
        out[source] = neighbours_in_source(x, k)
    return out


def compared_map_pairs(maps: list[dict]) -> list[tuple[int, int]]:
    """The pairs of maps whose 2-D neighbourhoods are compared: those that share their source
    (two reducers of one layer) or their reducer (two layers in one reducer). Pairs that share
    neither differ in two ways at once; leaving them out keeps the page within its budget."""
    return [
        (i, j)
        for i, j in combinations(range(len(maps)), 2)
        if maps[i]["source"] == maps[j]["source"] or maps[i]["reducer"] == maps[j]["reducer"]
    ]


def _changed(shared: np.ndarray, y: np.ndarray, classes: list[str], k: int) -> dict:
    """A pair's per-point neighbourhood change, summarised: mean Jaccard, the share of points
    that keep none of their k neighbours, and the mean Jaccard of each class."""
    j = jaccard(shared, k)
    return {
        "jaccard_mean": float(j.mean()),
        "none_shared": float(np.mean(shared == 0)),
        "jaccard_by_class": {classes[c]: float(j[y == c].mean()) for c in np.unique(y) if c < len(classes)},
    }


def compare_job(
    *,
    study: str,
    dataset: str,
    maps: list[dict],
    k: int,
    vote_k: int,
    test_paths: dict,
    embedding_paths: list,
    data_path,
    out_path,
    record_path,
    log=print,
) -> dict:
    """maps: [{source, reducer}] in display order, embedding_paths in the same order;
    test_paths: {source: its test activations}. Writes the per-point arrays (out_path, .npz)
    and their manifest and summary (record_path, .json: a measures record)."""
    from layermaps.embed.records import Embedding

    y_fit, y_test, classes = _labels(data_path)
    n = len(y_test)
    sources = list(dict.fromkeys(m["source"] for m in maps))
    k = min(k, n - 1)
    with work("neighbours"):
        src_nn = _source_neighbours({s: test_paths[s] for s in sources}, n, k)
    coords, map_nn, kept, votes = [], [], [], []
    with work("maps"):
        for m, path in zip(maps, embedding_paths):
            emb = Embedding.load(path)
            if len(emb.test) != n:
                raise ValueError(f"{path} places {len(emb.test)} test points, the dataset has {n}: rerun it")
            xy = np.asarray(emb.test, dtype=np.float64)
            coords.append(xy)
            map_nn.append(neighbours_in_map(xy, k))
            kept.append(overlap(src_nn[m["source"]], map_nn[-1]))
            votes.append(knn_votes(emb, emb.fit_labels(y_fit), vote_k).astype(np.uint8))
    source_pairs = list(combinations(range(len(sources)), 2))
    map_pairs = compared_map_pairs(maps)
    with work("pairs"):
        source_shared = [overlap(src_nn[sources[a]], src_nn[sources[b]]) for a, b in source_pairs]
        map_shared = [overlap(map_nn[a], map_nn[b]) for a, b in map_pairs]
    with work("procrustes"):
        m_count = len(maps)
        affine = np.zeros((m_count, m_count, 3, 2))  # aligned = [x, y, 1] @ affine[ref, other]
        disparity = np.zeros((m_count, m_count))
        for ref, other in ((a, b) for a in range(m_count) for b in range(m_count) if a != b):
            fit = procrustes(coords[ref], coords[other])
            linear = fit.scale * fit.rotation
            affine[ref, other, :2] = linear
            affine[ref, other, 2] = fit.ref_mean - fit.other_mean @ linear
            disparity[ref, other] = fit.disparity
        for i in range(m_count):
            affine[i, i, :2] = np.eye(2)
    dtype = np.uint8 if k < 256 else np.uint16
    arrays = {
        "source_neighbours": np.stack([src_nn[s] for s in sources]),
        "map_kept": np.stack(kept).astype(dtype),
        "votes": np.stack(votes),
        "source_shared": np.stack(source_shared).astype(dtype) if source_shared else np.zeros((0, n), dtype),
        "map_shared": np.stack(map_shared).astype(dtype) if map_shared else np.zeros((0, n), dtype),
        "affine": affine,
        "disparity": disparity,
    }
    with atomic_path(Path(out_path)) as tmp:
        np.savez_compressed(tmp, **arrays)
    record = {
        "dataset": dataset,
        "study": study,
        "compare": {
            "rows": n,
            "k": k,
            "vote_k": vote_k,
            "classes": classes,
            "sources": sources,
            "maps": [
                {
                    "source": m["source"],
                    "map": m["reducer"],
                    "kept_mean": float(kept[i].mean() / k),
                    "vote_accuracy": float(np.mean(votes[i] == y_test)),
                }
                for i, m in enumerate(maps)
            ],
            "source_pairs": [
                {"pair": [a, b], **_changed(s, y_test, classes, k)}
                for (a, b), s in zip(source_pairs, source_shared)
            ],
            "map_pairs": [
                {"pair": [a, b], "disparity": float(disparity[a, b]), **_changed(s, y_test, classes, k)}
                for (a, b), s in zip(map_pairs, map_shared)
            ],
        },
    }
    from layermaps.measures.stage import _write

    _write(record, record_path)
    c = record["compare"]
    runlog.log_metrics(
        {
            _metric_name(f"jaccard_{sources[a]}_vs_{sources[b]}"): p["jaccard_mean"]
            for p, (a, b) in zip(c["source_pairs"], source_pairs)
        }
    )
    log(
        f"[compare] {study} {dataset}: {len(maps)} maps of {len(sources)} sources, {n} test points, "
        f"k={k}: {len(source_pairs)} source pairs, {len(map_pairs)} map pairs, "
        f"{Path(out_path).stat().st_size / 1e6:.1f} MB"
    )
    return record


def _metric_name(name: str) -> str:
    """A metric name MLflow takes: a snapshot's '@' (and anything else it refuses) as '_'."""
    return re.sub(r"[^\w\-. :/]", "_", name)


def read_compare(record_path, arrays_path=None) -> tuple[dict, dict]:
    """(the compare record, its arrays: {} unless arrays_path is given)."""
    record = json.loads(Path(record_path).read_text())
    if arrays_path is None:
        return record, {}
    with np.load(arrays_path, allow_pickle=False) as z:
        return record, {name: z[name] for name in z.files}


def layer_change_job(
    *,
    dataset: str,
    model: str,
    reducer: str,
    sources: list[str],
    k: int,
    test_paths: list,
    embedding_paths: list,
    data_path,
    out_path,
    dpi: int,
    log=print,
):
    """A model's consecutive sources (raw pixels first where embedded) side by side in one map:
    each aligned onto the one before it (Procrustes over the test points) and coloured by its
    points' neighbourhood change from it (Jaccard of the k test neighbours in each source's
    own space); the first coloured by class. Logged to the run of the model's last embedding."""
    from layermaps.embed.records import Embedding
    from layermaps.figures.plots import layer_change
    from layermaps.figures.stage import _save, log_figures, source_label

    _, y_test, classes = _labels(data_path)
    k = min(k, len(y_test) - 1)
    with work("neighbours"):
        nn = list(_source_neighbours(dict(zip(sources, test_paths)), len(y_test), k).values())
    panels, previous = [], None
    for i, (source, path) in enumerate(zip(sources, embedding_paths)):
        xy = np.asarray(Embedding.load(path).test, dtype=np.float64)
        entry = {"label": source_label(source), "xy": xy}
        if previous is not None:
            fit = procrustes(previous, xy)
            entry["xy"] = fit.apply(xy)
            entry["disparity"] = fit.disparity
            entry["jaccard"] = jaccard(overlap(nn[i - 1], nn[i]), k)
        panels.append(entry)
        previous = entry["xy"]
    title = (
        f"{dataset}, {model}, {reducer}: each layer aligned to the one before, coloured by how "
        f"many of its test points' {k} nearest neighbours it keeps"
    )
    with work("draw"):
        _save(layer_change(panels, y_test, classes, title), out_path, dpi)
    log_figures(out_path)
    log(
        f"[figures] {out_path}: mean Jaccard "
        + ", ".join(f"{p['label']} {p['jaccard'].mean():.3f}" for p in panels[1:])
    )
