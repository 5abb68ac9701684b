"""What a configured experiment draws, decided while Snakemake builds the DAG: the sweeps'
members, the k shown in figures, which models and datasets get pictures, the snapshots a study
maps (layermaps.plan puts them together; layermaps.studies plans what trains and embeds).

Cheap on purpose: the rules import it on every `snakemake -n` (no numpy, matplotlib or MLflow).
"""

from __future__ import annotations

import re

from layermaps.models.spec import sweep_repeats
from layermaps.paths import Source

HIDDEN_KEY_RE = re.compile(r"hidden\[(\d+)\]")
COMPARED = ("mnist", "fashion-mnist")  # the seeds' comparison question (docs/experiments.md A)


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
    ((key, values),) = sweep["vary"].items()
    members = []
    for value, repeats in zip(values, sweep_repeats(sweep_name, sweep)):
        first, spec = next(iter(repeats.items()))
        members.append(
            {"value": value, "model": first, "layer": varied_layer(key, spec), "repeats": list(repeats)}
        )
    return {"key": str(key), "members": members}


def figure_models(setting, models, skipped=()) -> list[str]:
    """The models that get per-model pictures: config figures.models ("all": every model but
    those `skipped`, the later repeats; or a list)."""
    if setting == "all":
        return [m for m in models if m not in skipped]
    unknown = [m for m in setting if m not in models]
    if unknown:
        from layermaps.config import ConfigError

        raise ConfigError(
            f"invalid config: figures.models names unknown model(s) "
            f"{', '.join(unknown)}. Models in this config: {', '.join(models) or 'none'}."
        )
    return list(setting)


def gif_datasets(infos: dict, class_index: int) -> tuple[list[str], list[str]]:
    """(datasets that get the activation GIFs, a note for each one that does not): GIFs draw
    the inputs as images and follow one class. infos: dataset -> DatasetInfo."""
    keep, notes = [], []
    for name, (images, n_classes, _) in infos.items():
        if not images:
            notes.append(f"{name}: no activation GIFs (its inputs are not images)")
        elif n_classes is not None and class_index >= n_classes:
            notes.append(
                f"{name}: no activation GIFs (figures.class_index {class_index} is not one "
                f"of its {n_classes} classes)"
            )
        else:
            keep.append(name)
    return keep, notes


def snapshot_plan(by_source: dict) -> dict[str, dict]:
    """model -> {"epochs", "layers", "maps"} of the snapshot sources (`{model}@epoch{e}/{layer}`)
    among one dataset's {source: [maps]}, in the order they appear (epochs ascending)."""
    out: dict[str, dict] = {}
    for source, maps in by_source.items():
        src = Source.parse(source)
        if src.epoch is None:
            continue
        plan = out.setdefault(src.model, {"epochs": [], "layers": [], "maps": []})
        for key, value in (("epochs", src.epoch), ("layers", src.layer), *(("maps", m) for m in maps)):
            if value not in plan[key]:
                plan[key].append(value)
    for plan in out.values():
        plan["epochs"].sort()
    return out


def compared_sources(sources: dict, compared=COMPARED) -> list[str]:
    """The sources a study embeds on both datasets of the comparison figure (none: no figure)."""
    if not all(d in sources for d in compared):
        return []
    return [s for s in sources[compared[0]] if all(s in sources[d] for d in compared[1:])]
