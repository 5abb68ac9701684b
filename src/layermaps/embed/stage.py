"""The embedding and scoring stage's jobs: embed one source with one reducer; score it;
the unreduced kNN ceiling of a source; the summary tables.

Embeddings are fitted on the prepared `fit_idx` training rows (the rows the seed MLP trained
on: 50,000 of 60,000 on the full data) and every test row is placed in the same coordinates.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from layermaps.atomic import atomic_path
from layermaps.embed.records import Embedding, Score
from layermaps.paths import SOURCE_ROWS, MapName, split_source
from layermaps.tracking import runlog
from layermaps.tracking.worktime import work

SUMMARY_COLUMNS = [
    "dataset",
    "model",
    "layer",
    "reducer",
    "protocol",
    "policy",
    "k",
    "accuracy",
    "trustworthiness",
    "fit_seconds",
    "transform_seconds",
]


def source_rows(train_path) -> np.ndarray | None:
    """Positions within the dataset's fit rows of the rows a source's train array holds: a
    snapshot's subset (paths.SOURCE_ROWS beside its arrays); None: it holds every training row."""
    path = Path(train_path).parent / SOURCE_ROWS
    return np.load(path, allow_pickle=False) if path.exists() else None


def load_source(train_path, test_path, data_path, *, fit_rows: bool = True) -> tuple[np.ndarray, ...]:
    """(x_fit, y_fit, x_test, y_test): the source's activations on the fit rows and test rows
    (of a snapshot, on its subset of the fit rows: source_rows). With fit_rows=False x_fit is
    None."""
    with np.load(data_path, allow_pickle=False) as data:  # labels and split, not the images
        train_labels, fit_idx, y_test = data["train_labels"], data["fit_idx"], data["test_labels"]
    rows = source_rows(train_path)
    train = np.load(train_path, mmap_mode="r")  # only the fit rows are read into memory
    x_test = np.load(test_path)
    expected = len(train_labels) if rows is None else len(rows)
    if len(x_test) != len(y_test) or len(train) != expected:
        raise ValueError(
            f"{train_path} / {test_path} do not match the rows of {data_path}: "
            f"rerun the activations (snakemake --forcerun) for this source"
        )
    fit = fit_idx if rows is None else slice(None)
    y_fit = train_labels[fit_idx] if rows is None else train_labels[fit_idx][rows]
    x_fit = np.ascontiguousarray(train[fit], np.float32) if fit_rows else None
    return x_fit, y_fit, x_test.astype(np.float32), y_test


def dataset_fit_labels(data_path) -> np.ndarray:
    """The labels of every fit row of the dataset (Embedding.fit_labels picks a map's rows)."""
    with np.load(data_path, allow_pickle=False) as data:
        return data["train_labels"][data["fit_idx"]]


def neighbors_job(
    *, k_train: int, k_test: int, threads: int, train_path, test_path, data_path, out_path, log=print
):
    """The source's exact neighbour graph, read by the embed jobs of UMAP and t-SNE."""
    from layermaps.embed.neighbors import build_graph

    x_fit, _, x_test, _ = load_source(train_path, test_path, data_path)
    log(
        f"[neighbors] exact {k_train} nearest neighbours of {x_fit.shape[0]} x {x_fit.shape[1]} "
        f"training rows and {k_test} of {x_test.shape[0]} test rows, {threads} thread(s)"
    )
    with work("neighbors"):
        graph = build_graph(x_fit, x_test, k_train=k_train, k_test=k_test, threads=threads, log=log)
    graph.save(out_path)
    log(f"[neighbors] done in {graph.seconds:.1f} s")
    return graph


def embed_job(
    *,
    reducer: str,
    settings: dict,
    seed: int,
    threads: int,
    train_path,
    test_path,
    data_path,
    out_path,
    graph_path=None,
    log=print,
):
    """Embed one source with one map: `reducer` is the map's name and `settings` its reducer's
    config entry, with `fit_subset` for a map fitted on a subset of the fit rows
    (layermaps.embed.subsets). `graph_path` is given for the maps that read the shared graph."""
    from layermaps.embed.neighbors import NeighborGraph
    from layermaps.embed.reducers import embed
    from layermaps.embed.subsets import subset_rows

    settings = dict(settings)
    subset = settings.pop("fit_subset", None)
    x_fit, y_fit, x_test, _ = load_source(train_path, test_path, data_path)
    rows = None if subset is None else subset_rows(subset, y_fit)
    if rows is not None:
        x_fit = x_fit[rows]
    graph = NeighborGraph.load(graph_path) if graph_path else None
    log(
        f"[embed] {reducer}: fitting on {x_fit.shape[0]} x {x_fit.shape[1]}"
        + ("" if rows is None else f" (subset {subset} of {len(y_fit)} fit rows)")
        + f", placing {x_test.shape[0]} test rows, {threads} thread(s), "
        + ("the shared neighbour graph" if graph else "its own neighbour search")
    )
    with work("reduce"):
        emb = embed(
            MapName.parse(reducer).reducer,
            x_fit,
            x_test,
            seed=seed,
            n_jobs=threads,
            settings=settings,
            graph=graph,
        )
    # positions within the dataset's fit rows (a snapshot's source holds some of them only)
    held = source_rows(train_path)
    emb.fit_rows = rows if held is None else (held if rows is None else held[rows])
    emb.save(out_path)
    method = settings.get("method", emb.reducer)
    runlog.set_tags(
        {
            "protocol": emb.protocol,
            "policy": emb.policy,
            "reducer": reducer,
            "method": method,
            "neighbors": "shared graph" if graph else "own search",
        }
    )
    graph_metrics = (
        {}
        if graph is None
        else {
            "graph_seconds": graph.seconds,
            "graph_k_train": graph.train_idx.shape[1],
            "graph_k_test": graph.test_idx.shape[1],
        }
    )
    runlog.log_metrics(
        {
            "fit_seconds": emb.fit_seconds,
            "transform_seconds": emb.transform_seconds,
            "input_dim": emb.input_dim,
            "effective_dim": emb.effective_dim,
            "n_fit": len(x_fit),
            "n_test": len(x_test),
            **graph_metrics,
        }
    )
    log(
        f"[embed] {reducer}: policy {emb.policy}, protocol {emb.protocol}, fit "
        f"{emb.fit_seconds:.1f} s, transform {emb.transform_seconds:.1f} s"
    )
    return emb


def score_job(
    *,
    dataset: str,
    source: str,
    reducer: str,
    ks,
    trust_max: int,
    trust_k: int,
    seed: int,
    embedding_path,
    train_path,
    test_path,
    data_path,
    out_path,
    run_id: str,
    log=print,
) -> Score:
    from layermaps.embed.scoring import knn_accuracy, trustworthiness_subsample

    emb = Embedding.load(embedding_path)
    _, _, x_test, y_test = load_source(train_path, test_path, data_path, fit_rows=False)
    y_fit = emb.fit_labels(dataset_fit_labels(data_path))  # a map of some fit rows scores with them
    with work("knn"):
        knn = knn_accuracy(emb.train, y_fit, emb.test, y_test, ks=ks)
    with work("trustworthiness"):
        trust = trustworthiness_subsample(x_test, emb.test, n_max=trust_max, n_neighbors=trust_k, seed=seed)
    model, layer = split_source(source)
    score = Score(
        dataset=dataset,
        source=source,
        model=model,
        layer=layer,
        reducer=reducer,
        protocol=emb.protocol,
        policy=emb.policy,
        knn=knn,
        trustworthiness=trust,
        fit_seconds=emb.fit_seconds,
        transform_seconds=emb.transform_seconds,
        n_train=len(emb.train),
        n_test=len(emb.test),
        mlflow_run_id=run_id,
    )
    score.save(out_path)
    runlog.log_metrics(
        {f"knn_accuracy_k{k}": score.accuracy(k) for k in score.ks} | {"trustworthiness": trust}
    )
    runlog.log_dict(score.to_dict(), "scores.json")
    log(
        f"[score] {source} {reducer}: "
        + ", ".join(f"k={k} {score.accuracy(k):.4f}" for k in score.ks)
        + f", trustworthiness {trust:.4f}"
    )
    return score


def ceiling_job(
    *, dataset: str, source: str, ks, train_path, test_path, data_path, out_path, log=print
) -> Score:
    """kNN accuracy in the unreduced space: the ceiling a 2-D map is compared with."""
    from layermaps.embed.scoring import knn_accuracy

    x_fit, y_fit, x_test, y_test = load_source(train_path, test_path, data_path)
    with work("knn"):
        knn = knn_accuracy(x_fit, y_fit, x_test, y_test, ks=ks)
    model, layer = split_source(source)
    score = Score(
        dataset=dataset,
        source=source,
        model=model,
        layer=layer,
        reducer="unreduced",
        protocol="none",
        policy=f"{x_fit.shape[1]}-d",
        knn=knn,
        trustworthiness=1.0,
        fit_seconds=0.0,
        transform_seconds=0.0,
    )
    score.save(out_path)
    runlog.log_metrics({f"knn_accuracy_k{k}": score.accuracy(k) for k in score.ks})
    log(f"[ceiling] {source}: " + ", ".join(f"k={k} {score.accuracy(k):.4f}" for k in score.ks))
    return score


def summary_rows(score_paths) -> list[dict]:
    """One row per score file and k (knn_summary.csv)."""
    rows = []
    for s in map(Score.load, score_paths):
        for k in s.ks:
            rows.append(
                {
                    "dataset": s.dataset,
                    "model": s.model,
                    "layer": s.layer,
                    "reducer": s.reducer,
                    "protocol": s.protocol,
                    "policy": s.policy,
                    "k": k,
                    "accuracy": round(s.accuracy(k), 6),
                    "trustworthiness": round(s.trustworthiness, 6),
                    "fit_seconds": round(s.fit_seconds, 3),
                    "transform_seconds": round(s.transform_seconds, 3),
                }
            )
    return rows


def write_csv(path, rows: list[dict], columns=SUMMARY_COLUMNS) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)


def concat_csv(paths, out_path) -> None:
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            rows.extend(csv.DictReader(f))
    write_csv(out_path, rows)
