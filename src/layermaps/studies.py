"""Studies: the named parts of a config, one per source document (docs/experiments.md A, B, D ...).

A study names its datasets, its models (a sweep stands for its members), what of them is
embedded (raw inputs, which layers) and with which reducers. From the studies alone this
module plans, while Snakemake builds the DAG, which model trains on which dataset and which
source is embedded with which reducers. A model or an embedding that two studies ask for is
made once. Cheap on purpose (no numpy): `snakemake -n` imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from layermaps.config import ConfigError
from layermaps.embed.subsets import check_subset, is_subset_spec, map_name, ordered_maps
from layermaps.models.spec import expand_sweep, layer_names, snapshot_epochs
from layermaps.paths import RAW, Source, snapshot_name

# A config without `studies:` is one study of everything, configured by the global `embed:`
# keys (the layout of configs written before studies existed). Its name is that of the
# target rule that makes it.
IMPLICIT = "all"


@dataclass(frozen=True)
class Study:
    name: str
    datasets: tuple[str, ...]
    models: tuple[str, ...]  # model names, sweeps expanded to their members
    sweeps: tuple[str, ...]  # the sweeps it names (their figures and tables)
    raw: bool  # embed the raw inputs
    layers: str | tuple[str, ...]  # "all" hidden layers, "last" hidden layer, "every" (the
    # hidden layers and the output), or names
    reducers: tuple[str, ...]
    embed_models: str | tuple[str, ...] = "all"  # of `models`, those whose layers are embedded
    description: str = ""
    fit: dict = field(default_factory=dict)  # reducer -> fit subset (layermaps.embed.subsets)
    # "first": of a model's repeats (`repeats:`) only the first is embedded; "all": every one
    repeats: str = "first"
    # embed the layers of each model's snapshots (`snapshots:`, its epochs) instead of the
    # trained model's: sources `{model}@epoch{e}/{layer}` (layers over training)
    snapshots: bool = False


def split_model_datasets(config_models: dict | None, config_sweeps: dict | None):
    """(models, sweeps, allowed): the config's models and sweeps without their `datasets:`
    key (it says where a model may train, not how: it must not reach the training's params),
    and model or sweep name -> the datasets it allows (None: any)."""
    models, sweeps, allowed = {}, {}, {}
    for kind, given, out in (("models", config_models, models), ("sweeps", config_sweeps, sweeps)):
        for name, spec in (given or {}).items():
            spec = dict(spec or {})
            ds = spec.pop("datasets", None)
            if ds is not None and (
                not isinstance(ds, list) or not ds or not all(isinstance(d, str) for d in ds)
            ):
                raise ValueError(
                    f"{kind}.{name}.datasets = {ds!r}: expected a non-empty list of dataset names"
                )
            allowed[name] = None if ds is None else tuple(ds)
            out[name] = spec
    return models, sweeps, allowed


def _members(where: str, names, models: dict, sweeps: dict, groups: dict) -> tuple[list[str], list[str]]:
    """(models, sweeps) of a list naming models and sweeps; sweeps expand to their members, a
    model to its repeats (groups: layermaps.models.spec.repeat_groups)."""
    members, named_sweeps = [], []
    for m in names:
        if m in sweeps:
            named_sweeps.append(m)
            members += [x for x in expand_sweep(m, sweeps[m]) if x not in members]
        elif m in models:
            members += [x for x in groups.get(m, [m]) if x not in members]
        else:
            raise ValueError(
                f"{where}: {m!r} is neither a model nor a sweep of this config "
                f"(models: {', '.join(models) or 'none'}; sweeps: "
                f"{', '.join(sweeps) or 'none'})"
            )
    return members, named_sweeps


def read_studies(
    config: dict,
    datasets: list[str],
    models: dict,
    sweeps: dict,
    allowed: dict | None = None,
    groups: dict | None = None,
) -> dict[str, Study]:
    """The config's studies (models: every model spec by name, sweeps expanded included;
    sweeps: the sweep configs; groups: a model's repeats). A study's `embed:` keys default to
    the global `embed:` ones."""
    reducers = list(config["reducers"])
    groups = groups or {}
    where_allowed = allowed_datasets(allowed or {}, sweeps, groups)
    embed = config["embed"]
    default_layers = embed.get("layers", "all")
    given = config.get("studies")
    if not given:
        chosen = embed.get("models", "all")
        return {
            IMPLICIT: Study(
                IMPLICIT,
                tuple(datasets),
                tuple(models),
                tuple(sweeps),
                bool(embed.get("raw", True)),
                _layers(default_layers),
                tuple(reducers),
                "all" if chosen == "all" else tuple(chosen),
                fit=_fit(embed.get("fit"), reducers, "embed.fit"),
                repeats=_repeats(embed.get("repeats", "first"), "embed.repeats"),
            )
        }
        # (snapshots are a study's choice: a config without studies embeds the trained models)
    out = {}
    for name, s in given.items():
        where = f"studies.{name}"
        members, named_sweeps = _members(f"{where}.models", s.get("models", []), models, sweeps, groups)
        chosen = list(s.get("datasets", datasets))
        wanted = s.get("reducers", "all")
        wanted = reducers if wanted == "all" else list(wanted)
        unknown = [d for d in chosen if d not in datasets] + [r for r in wanted if r not in reducers]
        if unknown:
            raise ValueError(
                f"{where}: {', '.join(map(repr, unknown))} not configured "
                f"(datasets: {', '.join(datasets)}; reducers: {', '.join(reducers)})"
            )
        study_embed = s.get("embed") or {}
        embed_models = study_embed.get("models", "all")
        if embed_models != "all":
            embed_models, _ = _members(f"{where}.embed.models", embed_models, models, sweeps, groups)
            strays = [m for m in embed_models if m not in members]
            if strays:
                raise ValueError(
                    f"{where}.embed.models: {', '.join(strays)} not among the study's "
                    f"models ({', '.join(members) or 'none'})"
                )
        snapshots = study_embed.get("snapshots", False)
        if not isinstance(snapshots, bool):
            raise ValueError(
                f"{where}.embed.snapshots = {snapshots!r}: true (embed each model's snapshots) or false"
            )
        kept = [m for m in members if snapshot_epochs(models[m])]
        if snapshots and not kept:
            raise ValueError(
                f"{where}.embed.snapshots: none of its models keeps snapshots; give "
                f"one `snapshots: [first, middle, last]` (or epoch numbers)"
            )
        for m in members:
            ok = where_allowed.get(m)
            if ok is not None and not set(ok) & set(chosen):
                raise ValueError(
                    f"{where}: model {m} trains on {', '.join(ok)} only, none of the "
                    f"study's datasets ({', '.join(chosen)})"
                )
        out[name] = Study(
            name,
            tuple(chosen),
            tuple(members),
            tuple(named_sweeps),
            bool(study_embed.get("raw", embed.get("raw", True))),
            _layers(study_embed.get("layers", default_layers)),
            tuple(wanted),
            "all" if embed_models == "all" else tuple(embed_models),
            s.get("description", ""),
            _fit(study_embed.get("fit", embed.get("fit")), wanted, f"{where}.embed.fit"),
            _repeats(study_embed.get("repeats", embed.get("repeats", "first")), f"{where}.embed.repeats"),
            snapshots,
        )
    return out


def _repeats(value, where: str) -> str:
    if value not in ("first", "all"):
        raise ValueError(f'{where} = {value!r}: "first" (embed the first of a model\'s repeats) or "all"')
    return value


def _fit(value, reducers: list[str], where: str) -> dict:
    """reducer -> fit subset: one spec for every reducer, or specs keyed by reducer."""
    if value is None:
        return {}
    if is_subset_spec(value):
        spec = check_subset(value, where)
        return dict.fromkeys(reducers, spec)
    if not isinstance(value, dict):
        raise ValueError(
            f"{where} = {value!r}: a fit subset ({{first: N}} or {{stratified: F}}) or reducer -> fit subset"
        )
    strays = [r for r in value if r not in reducers]
    if strays:
        raise ValueError(
            f"{where}: {', '.join(strays)} not among the study's reducers ({', '.join(reducers)})"
        )
    return {r: check_subset(spec, f"{where}.{r}") for r, spec in value.items()}


def _layers(value) -> str | tuple[str, ...]:
    return value if value in ("all", "last", "every") else tuple(value)


def allowed_datasets(
    allowed: dict, sweeps: dict, groups: dict | None = None
) -> dict[str, tuple[str, ...] | None]:
    """Model name -> the datasets it may train on (None: any), a sweep's members inheriting
    the sweep's `datasets:` and a model's repeats the model's (allowed: split_model_datasets's,
    by model or sweep name)."""
    out = {name: ok for name, ok in allowed.items() if name not in sweeps}
    for name, ok in list(out.items()):
        out.update(dict.fromkeys((groups or {}).get(name, []), ok))
    for s, sweep in sweeps.items():
        out.update(dict.fromkeys(expand_sweep(s, sweep), allowed.get(s)))
    return out


def check_study_names(studies: dict[str, Study], taken) -> None:
    """A study's name becomes a target rule: it may not be the name of another rule."""
    clash = sorted(set(studies) & set(taken) - {IMPLICIT})
    if clash:
        raise ValueError(
            f"studies: {', '.join(clash)} is the name of a rule of the workflow "
            f"(a study's name becomes its target rule): rename the study"
        )


def trained_models(
    studies: dict[str, Study], allowed: dict, sweeps: dict, groups: dict | None = None
) -> dict[str, list[str]]:
    """dataset -> the models trained on it: those a study lists with the dataset, where the
    model (or its sweep) allows the dataset. In order of first mention."""
    where_allowed = allowed_datasets(allowed, sweeps, groups)
    out: dict[str, list[str]] = {}
    for study in studies.values():
        for dataset in study.datasets:
            models = out.setdefault(dataset, [])
            for m in study.models:
                ok = where_allowed.get(m)
                if (ok is None or dataset in ok) and m not in models:
                    models.append(m)
    return out


def study_models(study: Study, trained: dict[str, list[str]]) -> dict[str, list[str]]:
    """dataset -> the study's models trained on it."""
    return {d: [m for m in study.models if m in trained.get(d, [])] for d in study.datasets}


def chosen_layers(spec: dict, layers) -> list[str]:
    """The hidden layers (or output) of a model that an embed setting picks."""
    hidden = [l for l in layer_names(spec) if l != "output"]
    if layers == "every":
        return layer_names(spec)
    if layers == "all":
        return hidden
    if layers == "last":
        return hidden[-1:]
    return [l for l in layer_names(spec) if l in layers]


def later_repeats(groups: dict) -> set[str]:
    """Every repeat but the first of each model (groups: repeat_groups)."""
    return {m for names in groups.values() for m in names[1:]}


def study_sources(
    study: Study,
    trained: dict[str, list[str]],
    models: dict,
    reducer_order: list[str],
    groups: dict | None = None,
) -> dict[str, dict[str, list[str]]]:
    """dataset -> {source: [maps]} of one study. Sources: `raw` and `{model}/{layer}`; maps:
    its reducers' names, with the fit subset if it has one (layermaps.embed.subsets). Of a
    model's repeats only the first, unless the study embeds all repeats. A study of snapshots
    embeds `{model}@epoch{e}/{layer}` for each snapshot of its models that keep them."""
    out = {}
    skipped = later_repeats(groups or {}) if study.repeats == "first" else set()
    for dataset, members in study_models(study, trained).items():
        chosen = ["raw"] if study.raw else []
        for m in members:
            if (study.embed_models == "all" or m in study.embed_models) and m not in skipped:
                layers = chosen_layers(models[m], study.layers)
                names = [snapshot_name(m, e) for e in snapshot_epochs(models[m])] if study.snapshots else [m]
                chosen += [str(Source.of(name, l)) for name in names for l in layers]
        maps = [map_name(r, study.fit.get(r)) for r in reducer_order if r in study.reducers]
        out[dataset] = {s: list(maps) for s in chosen}
    return out


def map_order(studies: dict[str, Study], reducer_order: list[str]) -> list[str]:
    """Every map name the studies make (a reducer, or a reducer fitted on a subset), in config
    order of the reducers, a reducer's full map before its subsets: the order of tables."""
    return ordered_maps(
        {map_name(r, s.fit.get(r)) for s in studies.values() for r in s.reducers}, reducer_order
    )


def merge_sources(
    per_study: dict[str, dict], reducer_order: list[str], keep=lambda source: True
) -> dict[str, dict[str, list[str]]]:
    """dataset -> {source: [reducers]} merged over studies (a source two studies embed is
    embedded once, with the reducers of both, in config order); only sources `keep` accepts."""
    out: dict[str, dict[str, set]] = {}
    for sources in per_study.values():
        for dataset, by_source in sources.items():
            merged = out.setdefault(dataset, {})
            for source, reducers in by_source.items():
                if keep(source):
                    merged.setdefault(source, set()).update(reducers)
    return {d: {s: [r for r in reducer_order if r in rs] for s, rs in by.items()} for d, by in out.items()}


def model_sources(
    per_study: dict[str, dict], studies: dict[str, Study], dataset: str, models, reducer_order: list[str]
) -> dict[str, list[str]]:
    """{source: [reducers]} on one dataset of the studies that have any of `models`: raw and
    those models' layers (the rows of a model's grid, the panels of a sweep's figure)."""
    merged = merge_sources(
        {
            n: {dataset: s.get(dataset, {})}
            for n, s in per_study.items()
            if set(studies[n].models) & set(models)
        },
        reducer_order,
        keep=lambda s: s == RAW or Source.parse(s).owner in models,
    )
    found = merged.get(dataset, {})
    ordered = [s for s in found if s == "raw"] + [s for s in found if s != "raw"]
    return {s: found[s] for s in ordered}


def grid_cells(sources: dict[str, list[str]], reducer_order: list[str]):
    """(rows, columns, [(source, reducer), ...] that exist) of a grid of maps."""
    rows = list(sources)
    cols = [r for r in reducer_order if any(r in rs for rs in sources.values())]
    return rows, cols, [(s, r) for s in rows for r in cols if r in sources[s]]


def check_layers(config: dict, studies: dict, models: dict, trained: dict) -> None:
    """Layers named in a study's embed.layers must exist in every model whose layers it embeds
    (else that model would silently get no maps)."""
    given = config.get("studies") or {}
    for name, study in studies.items():
        if isinstance(study.layers, str):
            continue
        setting = (
            f"studies.{name}.embed.layers"
            if "layers" in ((given.get(name) or {}).get("embed") or {})
            else "embed.layers"
        )
        trained_here = {m for d in study.datasets for m in trained.get(d, [])}
        for m in study.models:
            if m not in trained_here or (study.embed_models != "all" and m not in study.embed_models):
                continue
            have = layer_names(models[m])
            missing = [l for l in study.layers if l not in have]
            if missing:
                hint = f"studies.{name}.embed.models" if given else "embed.models"
                raise ConfigError(
                    f"invalid config: {setting} names {', '.join(missing)}, which model {m} does not "
                    f"have (its layers: {', '.join(have)}): name layers every embedded model has, use "
                    f"last, all or every, or leave {m} out of {hint}."
                )
