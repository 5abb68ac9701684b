"""What a configured experiment draws, decided while Snakemake builds the DAG: the sweeps'
members, the k shown in figures, and the list of every figure of a study (what a study trains
and embeds is planned by layermaps.studies).

Cheap on purpose: the rules import it on every `snakemake -n` (no numpy, matplotlib or MLflow).
"""

from __future__ import annotations

import re

from layermaps.models.spec import sweep_repeats
from layermaps.paths import Paths, split_snapshot

HIDDEN_KEY_RE = re.compile(r"hidden\[(\d+)\]")
COMPARED = ("mnist", "fashion-mnist")  # the seeds' comparison question (SEEDS.md A)


def choose_k(ks, wanted: int) -> tuple[int, str]:
    """The k shown in grid/heatmap/sweep titles: `wanted` if configured, else the middle k.

    Returns (k, note); the note says which k was used instead, or is empty.
    """
    ks = sorted(int(k) for k in ks)
    if int(wanted) in ks:
        return int(wanted), ""
    k = ks[len(ks) // 2]
    return k, f"k={wanted} is not among the configured k {ks}: the middle k={k} is shown"


def varied_layer(key: str, spec: dict) -> str:
    """The hidden layer a sweep's 2-D kNN accuracy is read from: the varied layer when the key
    is hidden[i] (layer hidden{i+1}), else the model's last hidden layer."""
    n = len(spec["hidden"])
    m = HIDDEN_KEY_RE.fullmatch(str(key))
    if m and int(m.group(1)) < n:
        return f"hidden{int(m.group(1)) + 1}"
    return f"hidden{n}"


def sweep_plan(sweep_name: str, sweep: dict) -> dict:
    """{"key": varied key path, "members": [{"value", "model", "layer", "repeats"}, ...]} in
    config order; `model` is a value's first repeat, `repeats` every repeat's name (itself
    first; just itself without `repeats:`)."""
    (key, values), = sweep["vary"].items()
    members = []
    for value, repeats in zip(values, sweep_repeats(sweep_name, sweep)):
        first, spec = next(iter(repeats.items()))
        members.append({"value": value, "model": first, "layer": varied_layer(key, spec),
                        "repeats": list(repeats)})
    return {"key": str(key), "members": members}


def figure_models(setting, models, skipped=()) -> list[str]:
    """The models that get per-model pictures: config figures.models ("all": every model but
    those `skipped`, the later repeats; or a list)."""
    if setting == "all":
        return [m for m in models if m not in skipped]
    unknown = [m for m in setting if m not in models]
    if unknown:
        from layermaps.config import ConfigError

        raise ConfigError(f"invalid config: figures.models names unknown model(s) "
                          f"{', '.join(unknown)}. Models in this config: {', '.join(models) or 'none'}.")
    return list(setting)


def gif_datasets(infos: dict, class_index: int) -> tuple[list[str], list[str]]:
    """(datasets that get the activation GIFs, a note for each one that does not): GIFs draw
    the inputs as images and follow one class. infos: dataset -> DatasetInfo."""
    keep, notes = [], []
    for name, (images, n_classes, _) in infos.items():
        if not images:
            notes.append(f"{name}: no activation GIFs (its inputs are not images)")
        elif n_classes is not None and class_index >= n_classes:
            notes.append(f"{name}: no activation GIFs (figures.class_index {class_index} is not one "
                         f"of its {n_classes} classes)")
        else:
            keep.append(name)
    return keep, notes


def grid_models(models, sources) -> list[str]:
    """The models (of `models`) that have a grid: those with at least one embedded layer."""
    return [m for m in models if any(s.startswith(f"{m}/") for s in sources)]


def snapshot_plan(by_source: dict) -> dict[str, dict]:
    """model -> {"epochs", "layers", "maps"} of the snapshot sources (`{model}@epoch{e}/{layer}`)
    among one dataset's {source: [maps]}, in the order they appear (epochs ascending)."""
    out: dict[str, dict] = {}
    for source, maps in by_source.items():
        name, _, layer = source.partition("/")
        model, epoch = split_snapshot(name)
        if epoch is None:
            continue
        plan = out.setdefault(model, {"epochs": [], "layers": [], "maps": []})
        for key, value in (("epochs", epoch), ("layers", layer), *(("maps", m) for m in maps)):
            if value not in plan[key]:
                plan[key].append(value)
    for plan in out.values():
        plan["epochs"].sort()
    return out


def snapshot_figures(at: Paths, study: str, dataset: str, by_source: dict, aligned=()) -> list[str]:
    """A study's pictures of layers over training on one dataset: per model and map the grid
    (layers x snapshots), per model, layer and aligned map (`aligned`: those a frame can start
    from the previous one) the animation, and the kNN accuracy over training of every layer."""
    plans = snapshot_plan(by_source)
    out = [at.model_figure(dataset, m, f"snapshots_{r}.png") for m, p in plans.items() for r in p["maps"]]
    out += [at.model_figure(dataset, m, f"snapshots_{l}_{r}.gif") for m, p in plans.items()
            for l in p["layers"] for r in p["maps"] if r in aligned]
    return out + ([at.study_file(study, f"knn_over_training_{dataset}.png")] if plans else [])


def study_figures(*, results: str, study: str, sources: dict, models: dict, sweeps: dict,
                  hidden_layers: dict, class_index: int, gifs=None, plane=(),
                  compared=COMPARED, summary: bool = True, curves=None, aligned=()) -> list[str]:
    """Every figure, animation and report file of one study (README lists them).

    sources: dataset -> {source: [reducers]} the study embeds; models: dataset -> its models
    trained there that get pictures; sweeps: dataset -> its sweeps trained there. Activation
    GIFs only for the datasets in `gifs` (all when None, see gif_datasets) and models with a
    hidden layer; decision regions for the 2-D datasets in `plane`; the study's own summary.md
    unless `summary` is false; curves: dataset -> every model the study trains there, whose
    training curves share one figure when there are two or more; aligned: the maps whose
    snapshots are animated (snapshot_figures)."""
    at, out = Paths(results), []
    for d, by_source in sources.items():
        out += [at.embedding_figure(d, s, r) for s, rs in by_source.items() for r in rs]
        out += snapshot_figures(at, study, d, by_source, aligned)
        out += [at.figure(d, f"grid_{m}.png") for m in grid_models(models.get(d, []), by_source)]
        out += [at.study_file(study, f"knn_heatmap_{d}.png")] if by_source else []
        out += [at.figure(d, f"sweep_{s}.png") for s in sweeps.get(d, [])]
        out += [at.study_file(study, f"training_curves_{d}.png")] if len((curves or {}).get(d, [])) > 1 else []
        for m in models.get(d, []):
            out += [at.model_figure(d, m, f) for f in ("training_curves.png", "confusion.png", "input_pair.png")]
            if (gifs is None or d in gifs) and hidden_layers[m]:
                out += [at.model_figure(d, m, f"{kind}_class{class_index}.gif")
                        for kind in ("activations", "running_mean")]
            if d in plane:
                out.append(at.model_figure(d, m, "decision_regions.png"))
            for layer in hidden_layers[m]:
                out += [at.model_figure(d, m, f"boxplots_{layer}.png"), at.model_figure(d, m, f"pca_{layer}.png")]
    if compared_sources(sources, compared):
        out.append(at.study_file(study, "knn_mnist_vs_fashion.png"))
    return out + ([at.study_file(study, "summary.md")] if summary else [])


def compared_sources(sources: dict, compared=COMPARED) -> list[str]:
    """The sources a study embeds on both datasets of the comparison figure (none: no figure)."""
    if not all(d in sources for d in compared):
        return []
    return [s for s in sources[compared[0]] if all(s in sources[d] for d in compared[1:])]
