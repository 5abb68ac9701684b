"""The measures stage's jobs (workflow/rules/measures.smk): each reads what the earlier stages
wrote (activations, embeddings), writes one JSON record, and logs its numbers as metrics of the
MLflow run it describes (a source's: its unreduced ceiling run; a map's: its embedding run; a
model's CKA: a run of its own under the model's)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from layermaps.atomic import write_text
from layermaps.paths import RAW, Source
from layermaps.tracking import runlog
from layermaps.tracking.worktime import work


def _plain(value):
    """A record as plain JSON: NaN (no estimate) becomes null, numpy numbers Python ones."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _write(record: dict, out_path) -> None:
    write_text(out_path, json.dumps(_plain(record), indent=1, allow_nan=False) + "\n")


def _read(path) -> dict:
    return json.loads(Path(path).read_text())


def _metric(value) -> float:
    return float("nan") if value is None else float(value)


def map_fit_activations(x_fit: np.ndarray, held, fit_rows) -> np.ndarray:
    """The source's rows of a map's `train` points: `fit_rows` (positions within the dataset's fit
    rows, None: all of them) picked from `x_fit`, which holds every fit row, or only `held` (a
    snapshot's subset)."""
    if fit_rows is None:
        return x_fit
    if held is None:
        return x_fit[fit_rows]
    pos = np.searchsorted(held, fit_rows)
    if np.any(pos >= len(held)) or not np.array_equal(held[np.minimum(pos, len(held) - 1)], fit_rows):
        raise ValueError("the map holds fit rows its source's activations do not: rerun its embedding")
    return x_fit[pos]


def source_measures_job(
    *, dataset: str, source: str, settings: dict, train_path, test_path, data_path, out_path, log=print
):
    """A source's linear probe and intrinsic dimension."""
    from layermaps.embed.stage import load_source
    from layermaps.measures.intrinsic import intrinsic_dimension
    from layermaps.measures.probe import linear_probe

    s = settings
    x_fit, y_fit, x_test, y_test = load_source(train_path, test_path, data_path)
    with work("probe"):
        probe = linear_probe(
            x_fit, y_fit, x_test, y_test, n_max=s["probe_rows"], max_iter=s["probe_max_iter"], seed=s["seed"]
        )
    with work("intrinsic_dimension"):
        ident = intrinsic_dimension(x_fit, k=s["id_k"], n_max=s["id_rows"], seed=s["seed"])
    record = {
        "dataset": dataset,
        "source": source,
        "width": int(x_fit.shape[1]),
        "probe": probe.to_dict(),
        "intrinsic_dimension": ident.to_dict(),
        "settings": s,
    }
    _write(record, out_path)
    runlog.log_metrics(
        {
            "probe_accuracy": probe.accuracy,
            "probe_converged": float(probe.converged),
            "id_twonn": ident.twonn,
            "id_mle": ident.mle,
            "id_duplicate_rows": ident.duplicates,
        }
    )
    state = "converged" if probe.converged else "NOT converged"
    log(
        f"[measures] {source}: probe {probe.accuracy:.4f} ({state} in {probe.iterations} of "
        f"{probe.max_iter} iterations, {probe.fit_rows} fit rows), intrinsic dimension TwoNN "
        f"{ident.twonn:.2f}, MLE {ident.mle:.2f} ({ident.duplicates} duplicate rows of {ident.rows} "
        "left out)" + (f": {ident.note}" if ident.note else "")
    )
    return record


def map_measures_job(
    *,
    dataset: str,
    source: str,
    reducer: str,
    settings: dict,
    embedding_path,
    train_path,
    test_path,
    data_path,
    out_path,
    log=print,
):
    """A map's trustworthiness and continuity, random and centroid triplet accuracy,
    neighbourhood hit and preservation, on its first `map_rows` fit rows (the Parametric UMAP
    paper's protocol)."""
    from layermaps.embed.records import Embedding
    from layermaps.embed.stage import dataset_fit_labels, load_source, source_rows
    from layermaps.measures import map_quality as q

    s, k = settings, settings["map_k"]
    emb = Embedding.load(embedding_path)
    x_fit, _, _, _ = load_source(train_path, test_path, data_path)
    high = map_fit_activations(x_fit, source_rows(train_path), emb.fit_rows)
    labels = emb.fit_labels(dataset_fit_labels(data_path))
    n = min(s["map_rows"], len(high))
    high, low, labels = high[:n], np.asarray(emb.train[:n], dtype=np.float64), labels[:n]
    with work("trustworthiness"):
        found = q.neighbourhoods(high, low, k)
        trust, continuity = q.trustworthiness_continuity(high, low, k=k, found=found)
    with work("triplets"):
        random = q.random_triplet_accuracy(high, low, per_row=s["triplets_per_row"], seed=s["seed"])
        centroid = q.centroid_triplet_accuracy(high, low, labels) if len(np.unique(labels)) >= 3 else math.nan
    hit = q.neighbourhood_hit(low, labels, k=k, low_nn=found[1])
    values = {
        f"trustworthiness_k{k}": trust,
        f"continuity_k{k}": continuity,
        "random_triplet_accuracy": random,
        "centroid_triplet_accuracy": centroid,
        f"neighbourhood_hit_k{k}": hit,
        f"neighbourhood_preservation_k{k}": q.neighbourhood_preservation(*found),
    }
    record = {
        "dataset": dataset,
        "source": source,
        "map": reducer,
        "rows": n,
        "values": values,
        "settings": s,
    }
    _write(record, out_path)
    runlog.log_metrics(values)
    log(
        f"[measures] {source} {reducer}, first {n} fit rows: "
        + ", ".join(f"{m} {v:.4f}" for m, v in values.items())
    )
    return record


def cka_job(*, dataset: str, model: str, names: list[str], test_paths: list, out_path, log=print):
    """Linear CKA, biased and debiased, between every pair of a model's sources on every test
    row (its heatmap: `cka_figure_job`)."""
    from layermaps.measures.cka import cka_matrix

    sources = {name: np.load(path) for name, path in zip(names, test_paths)}
    rows = {len(a) for a in sources.values()}
    if len(rows) != 1:
        raise ValueError(
            f"the test arrays of {model} hold different rows: {sorted(rows)}: rerun its activations"
        )
    with work("cka"):
        biased, debiased = cka_matrix(sources), cka_matrix(sources, debiased=True)
    record = {
        "dataset": dataset,
        "model": model,
        "sources": names,
        "rows": rows.pop(),
        "cka": biased.tolist(),
        "cka_debiased": debiased.tolist(),
    }
    _write(record, out_path)
    layers = [Source.parse(n).layer for n in names]  # "raw" for the inputs
    runlog.log_metrics({f"cka_{a}_{b}": biased[i, i + 1] for i, (a, b) in enumerate(zip(layers, layers[1:]))})
    log(
        f"[measures] CKA of {model}'s consecutive sources: "
        + ", ".join(f"{v:.3f}" for v in np.diag(biased, 1))
    )
    return record


def cka_figure_job(*, record_path, out_path, dpi: int, log=print):
    """The layer x layer heatmap of a model's CKA record (logged to the CKA's run)."""
    from layermaps.figures.plots import cka_heatmaps
    from layermaps.figures.stage import _save, log_figures, source_label

    record = _read(record_path)
    names, model = record["sources"], record["model"]
    labels = [source_label(n) if n == RAW else Source.parse(n).layer for n in names]
    matrices = [np.array(record[k], dtype=float) for k in ("cka", "cka_debiased")]
    title = f"{record['dataset']}: linear CKA between the layers of {model} ({record['rows']} test rows)"
    with work("draw"):
        _save(cka_heatmaps(*matrices, labels, title), out_path, dpi)
    log_figures(out_path)
    log(f"[figures] {out_path}")


def study_cka_job(
    *,
    study: str,
    dataset: str,
    plan: dict,
    arrays: dict,
    out_path,
    models: dict | None = None,
    data_path=None,
    threads: int = 1,
    log=print,
):
    """Linear CKA on every test row across a study's seeds (each layer, every pair of a model's
    repeats), across its models (corresponding layers) and over training (each snapshot's layer
    against the trained model's); one record (its figure: `study_cka_figure_job`).

    `arrays` maps a source to its test activations file; the layers of the `models` (a later
    repeat -> its model file: Plan.study_cka_models) are computed here from the models and
    `data_path`."""
    from itertools import combinations

    from layermaps.measures.cka import linear_cka, pair_summary

    cache: dict[str, np.ndarray] = {}
    if models:  # its own work ("extract"): never inside the "cka" block below
        from layermaps.models.stage import test_activations

        for model, acts in test_activations(models, data_path, threads=threads, log=log):
            cache.update({str(Source(model, layer)): a for layer, a in acts.items()})

    def act(model, layer, epoch=None):
        name = str(Source(model, layer, epoch))
        if name not in cache:
            cache[name] = np.load(arrays[name])
        return cache[name]

    def both(a, b):
        return {"cka": linear_cka(a, b), "cka_debiased": linear_cka(a, b, debiased=True)}

    record: dict = {"dataset": dataset, "study": study, "seeds": {}, "across": {}, "snapshots": {}}
    with work("cka"):
        for first, group in plan["seeds"].items():
            layers = _layers(arrays, group[0])
            record["seeds"][first] = {
                layer: {
                    kind: pair_summary(
                        both(act(a, layer), act(b, layer))[kind] for a, b in combinations(group, 2)
                    )
                    for kind in ("cka", "cka_debiased")
                }
                for layer in layers
            }
        for layer, models in plan["across"].items():
            pairs = {(a, b): both(act(a, layer), act(b, layer)) for a, b in combinations(models, 2)}
            record["across"][layer] = {
                "models": models,
                **{kind: _matrix(models, pairs, kind) for kind in ("cka", "cka_debiased")},
            }
        for model, epochs in plan["snapshots"].items():
            record["snapshots"][model] = {
                layer: {str(e): both(act(model, layer, e), act(model, layer)) for e in epochs}
                for layer in _layers(arrays, model)
            }
    record["rows"] = next(iter(cache.values())).shape[0] if cache else 0
    record["values"] = plan["values"]
    _write(record, out_path)
    metrics = {
        f"cka_seeds_{m}_{layer}": s["cka"]["mean"]
        for m, by in record["seeds"].items()
        for layer, s in by.items()
    }
    metrics |= {
        f"cka_to_final_{m}_{layer}_epoch{e}": v["cka"]
        for m, by in record["snapshots"].items()
        for layer, per in by.items()
        for e, v in per.items()
    }
    runlog.log_metrics(metrics)
    log(f"[measures] {study} {dataset}: CKA of {len(cache)} sources, {len(metrics)} metrics")
    return record


def study_cka_figure_job(*, record_path, out_path, dpi: int, log=print):
    """A study's CKA figure from its record (logged to the record's run)."""
    from layermaps.figures.plots import study_cka_figure
    from layermaps.figures.stage import _save, log_figures

    record = _read(record_path)
    title = f"{record['study']}, {record['dataset']}: linear CKA ({record['rows']} test rows)"
    with work("draw"):
        _save(study_cka_figure(record, title), out_path, dpi)
    log_figures(out_path)
    log(f"[figures] {out_path}")


def _layers(arrays: dict, owner: str) -> list[str]:
    """The layers of `owner` (a model) among the arrays' sources, in their order."""
    return [p.layer for p in map(Source.parse, arrays) if p.model == owner and p.epoch is None]


def _matrix(models, pairs, kind) -> list[list[float]]:
    m = np.eye(len(models))
    for (a, b), v in pairs.items():
        i, j = models.index(a), models.index(b)
        m[i, j] = m[j, i] = v[kind]
    return m.tolist()


def layer_profile_job(
    *,
    study: str,
    dataset: str,
    plan: dict,
    depths: dict,
    k: int,
    measure_paths,
    score_paths,
    out_path,
    dpi: int,
    log=print,
):
    """Probe accuracy, kNN ceiling, best 2-D kNN accuracy (over the study's maps, at k) and
    intrinsic dimension against depth, one line per model (raw pixels at depth 0)."""
    from layermaps.embed.records import accuracy_at, load_scores
    from layermaps.figures.plots import layer_profile
    from layermaps.figures.stage import _save, log_figures

    records = {r["source"]: r for r in map(_read, measure_paths)}
    scores = load_scores(score_paths)
    best: dict[str, float] = {}
    for (source, reducer), score in scores.items():
        if reducer != "unreduced":
            best[source] = max(best.get(source, -1.0), accuracy_at(score, k))

    def series(source):
        r, ceiling = records[source], scores.get((source, "unreduced"))
        i = r["intrinsic_dimension"]
        return {
            "probe accuracy": r["probe"]["accuracy"],
            f"kNN ceiling (k={k})": accuracy_at(ceiling, k) if ceiling else math.nan,
            f"best 2-D kNN (k={k})": best.get(source, math.nan),
            "intrinsic dimension (TwoNN)": _metric(i["twonn"]),
            "intrinsic dimension (MLE)": _metric(i["mle"]),
        }

    lines = {model: [(depths[s], series(s)) for s in sources] for model, sources in plan.items()}
    with work("draw"):
        _save(layer_profile(lines, f"{study}, {dataset}: the layers measured"), out_path, dpi)
    log_figures(out_path)
    log(f"[measures] layer profile of {len(lines)} lines: {out_path}")
