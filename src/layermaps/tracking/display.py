"""How a job's MLflow run reads in the UI: its name, the tags a person filters and groups by,
and where it sits in the runs table.

- Names put what tells a run apart from its siblings first, in the words of the README:
  `seed_mlp training`, `umap seed_mlp/hidden2`, `knn heatmap hidden_layers`. The job's full
  identity stays in the tags `layermaps.job` and `layermaps.rule`.
- Tags: dataset, model, layer, source, reducer (the map: `tsne_p40@first10000`), epoch (of a
  snapshot), study, sweep: one per thing a person compares, named by meaning.
- The table's top level holds each dataset's prepared data (its raw-pixel maps and tables
  nested under it) and each model's training (its activations and maps nested under it): an
  embedding is one click away. A training therefore starts a tree of its own; the prepared
  data it trained on is named by the tag `layermaps.data_run`.
Only recording: nothing here changes a result (layermaps.fingerprint).
"""

from __future__ import annotations

from layermaps.paths import Source

# rule -> name pattern, filled from the wildcards (and `model` for rules named per model)
NAMES = {
    "download": "download",
    "prepare": "data split",
    "prepare_reduced": "data split",
    "train": "{model} training",
    "activations": "activations {model}",
    "snapshot_activations": "activations {model}@epoch{epoch}",
    "embed": "{reducer} {source}",
    "ceiling": "unreduced {source}",
    "knn_summary": "knn summary",
    "plot_knn_heatmap": "knn heatmap {study}",
    "plot_knn_over_training": "knn over training {study}",
    "plot_study_curves": "training curves {study}",
    "plot_knn_comparison": "knn mnist vs fashion {study}",
    "plot_sweep": "sweep {sweep}",
    "plot_explorer": "map explorer {study}",
    "report_summary": "summary",
    "study_summary": "summary {study}",
}
# Rules whose runs start a tree of their own in the runs table (see the module docstring).
TOP_LEVEL = ("train",)
DATA_RUN_TAG = "layermaps.data_run"
PER_MODEL = ("train", "activations", "snapshot_activations")  # rules generated as `{rule}_{model}`


def base_rule(rule: str, params: dict | None = None) -> tuple[str, str | None]:
    """'train_seed_mlp' -> ('train', 'seed_mlp'); other rules -> (rule, None)."""
    model = (params or {}).get("model")
    for base in sorted(PER_MODEL, key=len, reverse=True):
        if rule.startswith(base + "_"):
            return base, model or rule[len(base) + 1 :]
    return rule, None


# The studies each dataset's models and sources belong to, set by the Snakefile (a study is not a
# wildcard of most jobs; an environment variable, not a param: it reruns nothing).
STUDY_INDEX_ENV = "LAYERMAPS_STUDY_INDEX"


def study_index(study_models: dict, study_sources: dict) -> dict[str, list[str]]:
    """{"mnist", "mnist|seed_mlp", "mnist|seed_mlp/hidden2", ...: [studies]} from the
    Snakefile's study -> dataset -> models and study -> dataset -> {source: maps}."""
    index: dict[str, list[str]] = {}
    for study, per_dataset in study_models.items():
        for d, models in per_dataset.items():
            keys = [d, *(f"{d}|{m}" for m in models), *(f"{d}|{s}" for s in study_sources[study].get(d, {}))]
            for key in keys:
                index.setdefault(key, [])
                if study not in index[key]:
                    index[key].append(study)
    return index


def _studies(tags: dict) -> str | None:
    import json
    import os

    index = json.loads(os.environ.get(STUDY_INDEX_ENV) or "{}")
    d = tags.get("dataset")
    for key in (f"{d}|{tags.get('source')}", f"{d}|{tags.get('model')}", d):
        if key in index:
            return ",".join(sorted(index[key]))
    return None


def person_tags(rule: str, wildcards: dict, params: dict | None = None) -> dict[str, str]:
    """dataset, model, layer, source, reducer, epoch, study, sweep: those the job has (a run
    that serves several studies has them all in `study`, comma-separated)."""
    _, model = base_rule(rule, params)
    tags = {k: str(wildcards[k]) for k in ("dataset", "study", "sweep", "epoch") if k in wildcards}
    if model or "model" in wildcards:
        tags["model"] = model or str(wildcards["model"])
    source = wildcards.get("source")
    if source:
        tags["source"] = source
        src = Source.parse(source)
        if not src.is_raw:
            tags.update(model=src.model, layer=src.layer)
            if src.epoch is not None:
                tags["epoch"] = str(src.epoch)
    if "reducer" in wildcards:
        tags["reducer"] = str(wildcards["reducer"])
    elif rule == "ceiling":
        tags["reducer"] = "unreduced"  # kNN in the source's own space, beside the maps
    if "study" not in tags and (studies := _studies(tags)):
        tags["study"] = studies
    return tags


def run_name(rule: str, wildcards: dict, params: dict | None = None, fallback: str | None = None) -> str:
    base, model = base_rule(rule, params)
    pattern = NAMES.get(rule) or NAMES.get(base)
    values = {**{k: str(v) for k, v in wildcards.items()}, **({"model": model} if model else {})}
    if pattern:
        try:
            return pattern.format(**values)
        except KeyError:
            pass
    if fallback:
        return fallback
    return " ".join([rule.replace("_", " ")] + [str(v) for _, v in sorted(wildcards.items())])


def is_top_level(rule: str, params: dict | None = None) -> bool:
    return base_rule(rule, params)[0] in TOP_LEVEL


def describe(rule: str, wildcards: dict, outputs: list[str]) -> str:
    """The run's description (MLflow's note): which job made it and what it wrote."""
    what = ", ".join(f"{k}={v}" for k, v in sorted(wildcards.items()))
    files = "\n".join(f"- `{o}`" for o in outputs)
    return f"Snakemake job `{rule}`" + (f" ({what})" if what else "") + f". Its files:\n{files}"
