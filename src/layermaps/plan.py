"""The plan of a run: everything a validated config makes, resolved once by `build(config)`.

Datasets, models and where they train, studies, sources, maps (each reducer entry resolved
once into its class, library settings, fit subset and neighbour-graph size), sweeps, figures
and every target. The rule files read a `Plan` and nothing else: their input functions ask it
(`plan.grid_plan(dataset, model)`), their outputs and its target lists come from the one path
table (layermaps.paths), so a file is named once.

Built while Snakemake builds the DAG, so cheap on purpose (no TensorFlow, MLflow or reducer
libraries; dataset headers only). Frozen: nothing changes it after `build`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from layermaps.config import (
    ConfigError,
    check_config_files,
    check_names,
    check_reducers,
    checked,
    coerce_overrides,
    validate_config,
)
from layermaps.data.checks import check_datasets, dataset_rows
from layermaps.data.datasets import DATASETS as BUILTIN_DATASETS
from layermaps.data.datasets import (
    FILES,
    Dataset,
    dataset_info,
    dataset_specs,
    declared_arrays,
    prepare_mem_mb,
)
from layermaps.embed.neighbors import graph_size, graph_sizes
from layermaps.embed.subsets import check_subset, map_name, subset_size
from layermaps.environment import check_data_mirror, check_results_dir
from layermaps.models.spec import all_models, hidden_layer_names, layer_names, repeat_groups, snapshot_epochs
from layermaps.paths import MODEL_FIGURES, RAW, Paths, Source, figure_arguments, snapshot_name
from layermaps.planning import (
    COMPARED,
    choose_k,
    compared_sources,
    figure_models,
    gif_datasets,
    snapshot_plan,
    sweep_plan,
)
from layermaps.resources import ROWS_OF
from layermaps.studies import (
    IMPLICIT,
    Study,
    check_layers,
    grid_cells,
    later_repeats,
    map_order,
    merge_sources,
    model_sources,
    read_studies,
    split_model_datasets,
    study_models,
    study_sources,
    trained_models,
)

SPLITS = ("train", "test")


def one_of(names) -> str:
    """A wildcard pattern matching exactly these names (escaped: `1.0e+20` is a valid name)."""
    return "|".join(map(re.escape, names)) or "(?!x)x"


RAW_FILES = tuple(Dataset.filename(key) for key in FILES)  # a built-in dataset's downloads


@dataclass(frozen=True)
class MapSpec:
    """One map: a reducer entry of the config, fitted on every training row or on a subset."""

    name: str  # `tsne_p40@first10000` (layermaps.paths.MapName)
    reducer: str  # the config entry (`tsne_p40`)
    subset: dict | None  # the fit subset (layermaps.embed.subsets), None: every fit row
    cls: type  # the reducer class (layermaps.embed.reducers), whose code the embed job runs
    entry: dict  # the config entry as given: the embed job's settings
    graph_size: str | None  # the neighbour graph it reads ("" the base one, "k120x25" its own)

    @property
    def method(self) -> str:
        return self.cls.name

    @property
    def settings(self) -> dict:
        """The embed job's settings: the entry, and the fit subset if it has one (a map without
        one keeps exactly the entry: its jobs see no change)."""
        return self.entry if self.subset is None else {**self.entry, "fit_subset": self.subset}


@dataclass(frozen=True)
class Figures:
    """Plot settings decided from the config: the k shown, which models and datasets get
    which pictures (config `figures:`)."""

    k: int  # the k shown in grid, heatmap and sweep titles
    k_note: str  # why another k than the configured one is shown, or ""
    models: tuple[str, ...]  # the models with per-model pictures
    gif_datasets: tuple[str, ...]  # datasets whose inputs are images: activation GIFs
    plane_datasets: tuple[str, ...]  # 2-D datasets: decision regions
    notes: tuple[str, ...]  # what is not drawn, and why (summary.md)


@dataclass(frozen=True)
class Plan:
    config: dict
    paths: Paths
    dataset_specs: dict[str, dict]  # name -> kind, scale, path ... (layermaps.data.datasets)
    models: dict[str, dict]  # name -> full spec, sweeps' members and repeats included
    sweep_config: dict[str, dict]
    repeats: dict[str, list[str]]  # first model -> all its repeats
    later_repeats: frozenset[str]
    snapshots: dict[str, list[int]]  # model -> the epochs it keeps snapshots of
    snapshot_rows: dict  # the fit subset a snapshot's activations hold
    studies: dict[str, Study]
    trained: dict[str, list[str]]  # dataset -> models trained on it
    study_models: dict[str, dict[str, list[str]]]  # study -> dataset -> models
    study_sources: dict[str, dict[str, dict[str, list[str]]]]  # study -> dataset -> {source: [maps]}
    maps: dict[str, MapSpec]  # in table order
    embedded: dict[str, dict[str, list[str]]]  # dataset -> {source: [maps]} over every study
    graph_k: tuple[int, int]  # the base neighbour graph's (k_train, k_test); (0, 0): none
    sweeps: dict[str, dict]  # name -> members (layermaps.planning.sweep_plan)
    figures: Figures
    _aligned: tuple[str, ...] = field(default=())

    # ------------------------------------------------------------ names
    @property
    def datasets(self) -> list[str]:
        return list(self.dataset_specs)

    @property
    def downloaded(self) -> list[str]:
        return [d for d, s in self.dataset_specs.items() if s["kind"] in BUILTIN_DATASETS]

    @property
    def reduced(self) -> list[str]:
        return [d for d, s in self.dataset_specs.items() if s["kind"] == "reduced"]

    @property
    def compared_datasets(self) -> tuple[str, ...]:
        """The two datasets of the comparison figure (docs/experiments.md A)."""
        return COMPARED

    @property
    def map_names(self) -> list[str]:
        return list(self.maps)

    @property
    def aligned_maps(self) -> list[str]:
        """Maps whose snapshots are animated, each frame fitted from the previous: UMAP's,
        fitted on every row of the source (umap-learn takes an `init`)."""
        return list(self._aligned)

    def source_names(self) -> list[str]:
        """Every source a rule may be asked for: raw, each layer of each model and snapshot."""
        out = [RAW]
        for m, spec in self.models.items():
            owners = [m, *(snapshot_name(m, e) for e in self.snapshots.get(m, ()))]
            out += [str(Source.of(o, layer)) for o in owners for layer in layer_names(spec)]
        return out

    def hidden_layers(self, model: str) -> list[str]:
        return hidden_layer_names(self.models[model])

    def wildcard_constraints(self) -> dict[str, str]:
        """The workflow's global wildcard patterns: each name exactly one the plan holds."""
        return {
            "dataset": one_of(self.datasets),
            "model": one_of(self.models),
            "reducer": one_of(self.map_names),  # a map: a reducer, and the fit subset if it has one
            "study": one_of(self.studies),
            "size": "k[0-9]+x[0-9]+",  # a neighbour graph's (k_train, k_test)
            "source": one_of(self.source_names()),
        }

    # ------------------------------------------------------------ settings the rules pass on
    def style(self, *names: str, **renamed: str) -> dict:
        """Plot settings of config `figures:` as params (a change reruns plot jobs only)."""
        fig = self.config["figures"]
        return {n: fig[n] for n in names} | {param: fig[key] for param, key in renamed.items()}

    @property
    def k_shown(self) -> dict:
        """The k in grid, heatmap and sweep titles, and why it is not the configured one."""
        return {"k": self.figures.k, "k_note": self.figures.k_note}

    @property
    def summary_settings(self) -> dict:
        """What summary.md shows besides its studies' plans (params: a change reruns it)."""
        return {
            "hidden": {m: spec["hidden"] for m, spec in self.models.items()},
            "sweeps": self.sweeps,
            "k": self.config["knn"]["k"],
            "k_sweep": self.figures.k,
            "notes": list(self.figures.notes),
        }

    # ------------------------------------------------------------ inputs of the rules
    def prepare_inputs(self, dataset: str) -> dict:
        """The downloaded files, the dataset's own file(s), or nothing for a generated one."""
        spec = self.dataset_specs[dataset]
        if dataset in self.downloaded:
            return {"files": [self.paths.raw_file(dataset, name) for name in RAW_FILES]}
        if spec["kind"] == "npz":
            return {"own": spec["path"]}
        if spec["kind"] == "idx":
            return {"own": sorted(str(p) for p in Path(spec["path"]).glob("*idx*-ubyte*"))}
        return {}

    def prepare_mem_mb(self, dataset: str, floor: int) -> int:
        """prepare's memory: what the dataset's files declare, never less than `floor`."""
        spec = self.dataset_specs[dataset]
        return prepare_mem_mb(spec, declared_arrays(spec), floor)

    def validation_fraction(self, dataset: str) -> float:
        """The dataset's own validation fraction, else config `data.validation_fraction`."""
        return self.dataset_specs[dataset].get(
            "validation_fraction", self.config["data"]["validation_fraction"]
        )

    def train_rows(self, dataset: str) -> int | None:
        """The dataset's training rows after `data.subsample` (a reduced dataset: its parent's);
        None where its files do not say before its prepare job runs."""
        spec = self.dataset_specs[dataset]
        if spec["kind"] == "reduced":
            return self.train_rows(spec["from"])
        wanted = (self.config["data"].get("subsample") or {}).get("train")  # checked: <= the rows
        return dataset_rows(dataset, spec)[0] if wanted is None else wanted

    def job_rows(self, entry: str, wildcards) -> int | None:
        """The rows a job of a workflow/resources.yaml entry works on, for the requests that grow
        with them (layermaps.resources): its dataset's training rows, or the share of them its
        source (a snapshot's subset) or map (a fit subset) holds."""
        rows = self.train_rows(wildcards.dataset)
        if rows is None or ROWS_OF[entry] == "dataset":
            return rows
        if Source.parse(wildcards.source).epoch is not None:
            rows = subset_size(self.snapshot_rows, rows)
        if ROWS_OF[entry] == "map" and self.maps[wildcards.reducer].subset is not None:
            rows = subset_size(self.maps[wildcards.reducer].subset, rows)
        return rows

    def train_outputs(self, model: str, epochs=(), dataset: str = "{dataset}") -> dict:
        """A training's files (the rule's outputs, or one dataset's); with snapshots, the model
        after each of those epochs too."""
        at = self.paths
        out = {
            "model": at.model(dataset, model),
            "history": at.history(dataset, model),
            "metrics": at.metrics(dataset, model),
            "confusion": at.confusion_counts(dataset, model),
            "run_id": at.model_run(dataset, model),
        }
        return out | (
            {"snapshots": [self.paths.snapshot(dataset, model, e) for e in epochs]} if epochs else {}
        )

    def source_inputs(self, dataset: str, source: str) -> dict:
        """The source's activation arrays, the prepared data, and the run it nests under (a
        snapshot's maps nest under the run of the model it is a snapshot of)."""
        at, src = self.paths, Source.parse(source)
        arrays = {s: at.source_array(dataset, source, s) for s in SPLITS}
        parent = at.data_run(dataset) if src.is_raw else at.model_run(dataset, src.model)
        return {**arrays, "data": at.data(dataset), "parent_run": parent}

    def source_arrays(self, dataset: str, source: str) -> dict:
        """The source's activation arrays and the prepared data (for jobs that log no run)."""
        return {k: v for k, v in self.source_inputs(dataset, source).items() if k != "parent_run"}

    def embed_inputs(self, dataset: str, source: str, map_name: str) -> dict:
        """The source, and its neighbour graph for a reducer that reads one; a map fitted on a
        subset searches its own rows (the graph's neighbours are of every row)."""
        inputs = self.source_inputs(dataset, source)
        m = self.maps[map_name]
        if self.config["embed"]["shared_neighbors"] and m.graph_size is not None and m.subset is None:
            inputs["graph"] = self.paths.graph(dataset, source, m.graph_size)
        return inputs

    def score_files(self, dataset: str, sources: dict | None = None) -> list[str]:
        """The score records of these {source: [maps]} (default: all embedded on the dataset),
        each source's unreduced ceiling last."""
        sources = self.embedded.get(dataset, {}) if sources is None else sources
        return [self.paths.score(dataset, s, r) for s, rs in sources.items() for r in rs] + [
            self.paths.score(dataset, s, "unreduced") for s in sources
        ]

    def grid_plan(self, dataset: str, model: str):
        """(rows, maps, cells) of a model's grid: raw and its layers as the studies with the
        model embed them on this dataset; a cell no study asked for stays empty."""
        return grid_cells(
            model_sources(self.study_sources, self.studies, dataset, [model], self.map_names), self.map_names
        )

    def grid_cells(self, dataset: str, model: str) -> list:
        """[(source, map)] of a model's grid, the cells that exist."""
        return self.grid_plan(dataset, model)[2]

    def grid_inputs(self, dataset: str, model: str) -> dict:
        """A model grid's embeddings and scores, in the order of its cells."""
        cells = self.grid_cells(dataset, model)
        return {
            "embeddings": [self.paths.embedding(dataset, s, r) for s, r in cells],
            "scores": [self.paths.score(dataset, s, r) for s, r in cells],
        }

    def study_sweeps(self, study: str) -> dict[str, list[str]]:
        """dataset -> the study's sweeps with a member trained on it."""
        return {
            d: [
                s
                for s in self.studies[study].sweeps
                if any(m["model"] in ms for m in self.sweeps[s]["members"])
            ]
            for d, ms in self.study_models[study].items()
        }

    def sweep_scores(self, dataset: str, sweep: str) -> dict[str, list[str]]:
        """{source: [maps]} of a sweep's figure: each member's varied layer, as embedded."""
        members = self.sweeps[sweep]["members"]
        found = model_sources(
            self.study_sources,
            self.studies,
            dataset,
            [r for m in members for r in m["repeats"]],
            self.map_names,
        )
        varied = [str(Source(r, m["layer"])) for m in members for r in m["repeats"]]
        return {s: rs for s, rs in found.items() if s in varied}

    def sweep_metrics(self, dataset: str, sweep: str) -> list[str]:
        return [self.paths.metrics(dataset, r) for m in self.sweeps[sweep]["members"] for r in m["repeats"]]

    def curve_models(self, study: str, dataset: str) -> list[str]:
        """The models in a study's curves figure of one dataset: every model it trains there (of
        a model's repeats the first)."""
        return [m for m in self.study_models[study][dataset] if m not in self.later_repeats]

    def curve_histories(self, study: str, dataset: str) -> dict[str, str]:
        return {m: self.paths.history(dataset, m) for m in self.curve_models(study, dataset)}

    def snapshot_sources_of(self, study: str, dataset: str) -> dict[str, list[str]]:
        """{source: [maps]} of a study's snapshot sources on one dataset."""
        return {
            s: rs for s, rs in self.study_sources[study][dataset].items() if Source.parse(s).epoch is not None
        }

    def compared_scores(self, study: str) -> dict[str, dict[str, list[str]]]:
        """dataset -> {source: [maps]} of the study's sources embedded on both datasets."""
        by_dataset = self.study_sources[study]
        keep = compared_sources(by_dataset)
        return {d: {s: by_dataset[d][s] for s in keep} for d in COMPARED}

    def map_columns(self, sources: dict[str, list[str]]) -> list[str]:
        """The maps of these {source: [maps]}, in table order (a figure's columns)."""
        return grid_cells(sources, self.map_names)[1]

    def snapshot_plan(self, study: str, dataset: str) -> dict[str, dict]:
        """model -> {"epochs", "layers", "maps"} of a study's snapshot sources on one dataset."""
        return snapshot_plan(self.study_sources[study][dataset])

    def snapshots_of(self, dataset: str, model: str) -> dict:
        """{"epochs", "layers", "maps"} of the model's snapshots on this dataset, over every study
        that embeds them."""
        empty = {"epochs": [], "layers": [], "maps": []}
        return snapshot_plan(self.embedded.get(dataset, {})).get(model, empty)

    def snapshot_cells(self, dataset: str, model: str, map_name: str) -> list[list]:
        """[layer, epoch] of the snapshot grid's maps with this map, layers outer (a snapshot no
        study maps with it leaves its cell empty)."""
        plan, embedded = self.snapshots_of(dataset, model), self.embedded.get(dataset, {})
        return [
            [layer, e]
            for layer in plan["layers"]
            for e in plan["epochs"]
            if map_name in embedded.get(str(Source(model, layer, e)), [])
        ]

    def snapshot_cell_sources(self, dataset: str, model: str, map_name: str) -> list[str]:
        """The sources of a snapshot grid's cells that exist (layers outer, epochs inner)."""
        return [str(Source(model, layer, e)) for layer, e in self.snapshot_cells(dataset, model, map_name)]

    def snapshot_grid_inputs(self, dataset: str, model: str, map_name: str) -> dict:
        """A snapshot grid's embeddings and scores, in the order of its cells."""
        cells = self.snapshot_cell_sources(dataset, model, map_name)
        return {
            "embeddings": [self.paths.embedding(dataset, s, map_name) for s in cells],
            "scores": [self.paths.score(dataset, s, map_name) for s in cells],
        }

    def animation_inputs(self, dataset: str, model: str, layer: str, map_name: str) -> dict:
        """An aligned animation's first map (which it starts from) and every snapshot's arrays."""
        sources = self.snapshot_sources(dataset, model, layer)
        return {"first": self.paths.embedding(dataset, sources[0], map_name)} | {
            split: [self.paths.source_array(dataset, s, split) for s in sources] for split in SPLITS
        }

    def snapshot_sources(self, dataset: str, model: str, layer: str) -> list[str]:
        return [str(Source(model, layer, e)) for e in self.snapshots_of(dataset, model)["epochs"]]

    def decision_bounds(self, dataset: str):
        """The window of a decision-regions figure: two_cosines' own (docs/experiments.md D),
        else the data's range (None)."""
        return [[-3.141592653589793, 3.141592653589793], [-1, 2]] if self.is_two_cosines(dataset) else None

    def is_two_cosines(self, dataset: str) -> bool:
        return self.dataset_specs[dataset]["kind"] == "two_cosines"

    def explorer_plan(self, study: str):
        """Every map of a study in display order: [{dataset, source, reducer}]; and the models
        whose predictions the page shows, [[dataset, model]] (each has an output layer's test
        array)."""
        maps = [
            {"dataset": d, "source": s, "reducer": r}
            for d, sources in self.study_sources[study].items()
            for s, rs in sources.items()
            for r in rs
        ]
        models = dict.fromkeys(
            (m["dataset"], Source.parse(m["source"]).owner) for m in maps if m["source"] != RAW
        )
        return maps, [list(dm) for dm in models]

    def explorer_inputs(self, study: str) -> dict:
        at = self.paths
        maps, predicted = self.explorer_plan(study)
        return {
            "embeddings": [at.embedding(m["dataset"], m["source"], m["reducer"]) for m in maps],
            "scores": [at.score(m["dataset"], m["source"], m["reducer"]) for m in maps],
            "data": [at.data(d) for d in self.study_sources[study]],
            "predictions": [at.activation(d, m, "output", "test") for d, m in predicted],
        }

    def explored(self, names) -> list[str]:
        """The studies among these that have a map explorer: those that embed something."""
        return [n for n in names if any(self.study_sources[n].values())]

    def summary_inputs(self, names) -> dict:
        scores, metrics, measures = [], [], []
        for name in names:
            for d, ms in self.study_models[name].items():
                scores += self.score_files(d, self.study_sources[name][d])
                metrics += [self.paths.metrics(d, m) for m in ms]
                if self.is_measured(name):
                    measures += self.source_map_measures(d, self.study_sources[name][d])
        return {
            "scores": list(dict.fromkeys(scores)),
            "metrics": list(dict.fromkeys(metrics)),
            "measures": list(dict.fromkeys(measures)),
            "explorers": [self.paths.explorer(n) for n in self.explored(names)],
            "compare_pages": [
                self.paths.compare_page(n) for n in names if self.is_measured(n) and self.compared(n)
            ],
        }

    def study_plan(self, name: str) -> dict:
        """What the summary shows of one study (params of report_summary: a change reruns it)."""
        sweeps = self.study_sweeps(name)
        return {
            "name": name,
            "description": self.studies[name].description,
            "datasets": {
                d: {
                    "models": ms,
                    "sources": self.study_sources[name][d],
                    "sweeps": sweeps[d],
                    "repeats": {m: self.repeats[m] for m in ms if m in self.repeats},
                }
                for d, ms in self.study_models[name].items()
            },
        }

    # ------------------------------------------------------------ targets
    def model_targets(self, dataset: str, models) -> list[str]:
        """Everything the training stage makes for these models on one dataset that a person
        opens (the model and its snapshots, history, metrics, confusion counts): targets, so a
        deleted one is made again. The activation arrays are intermediate: remade only when a
        job needs them (README "What reruns"); their run is a target where a study embeds the
        model (a later repeat's metrics are what the tables use)."""
        embedded = {Source.parse(s).owner for s in self.embedded.get(dataset, {})}
        outputs = [self.train_outputs(m, self.snapshots.get(m, ()), dataset) for m in models]
        files = [f for out in outputs for key, f in out.items() if key != "snapshots"]
        files += [f for out in outputs for f in out.get("snapshots", [])]
        return files + [
            self.paths.activations_run(dataset, m)
            for m in models
            if m not in self.later_repeats or m in embedded
        ]

    def embedding_files(self, dataset: str, sources: dict) -> list[str]:
        """The embeddings of these {source: [maps]} with their runs: targets, like the scores."""
        return [
            self.paths.embedding(dataset, s, r, suffix)
            for s, rs in sources.items()
            for r in rs
            for suffix in (".npz", ".run_id")
        ]

    # ------------------------------------------------------------ layer measures
    def measure_settings(self, kind: str) -> dict:
        """The settings of config `measures:` one kind of measure job reads (its params: a change
        reruns those jobs only)."""
        m = self.config["measures"]
        keys = {
            "source": ("seed", "probe_rows", "probe_max_iter", "id_rows", "id_k"),
            "map": ("seed", "map_rows", "map_k", "triplets_per_row"),
        }[kind]
        return {key: m[key] for key in keys}

    def is_measured(self, study: str) -> bool:
        chosen = self.config["measures"]["studies"]
        return chosen == "all" or study in chosen

    def cka_sources(self, model: str) -> list[str]:
        """What a model's CKA matrix compares: raw pixels and every layer, output included."""
        return [RAW, *(str(Source(model, layer)) for layer in layer_names(self.models[model]))]

    def study_cka_plan(self, study: str, dataset: str) -> dict:
        """What a study's CKA job compares on one dataset, on every test row: each layer across a
        model's repeats ("seeds": first model -> its repeats), corresponding layers across the
        study's models ("across": layer -> the models that have it; a sweep's members, the
        workshop's depths), each snapshot's layer against the trained model's ("snapshots":
        model -> epochs). "values": a sweep member's varied value (a width), for the x axis."""
        trained = self.study_models[study][dataset]
        seeds = {m: [r for r in self.repeats.get(m, []) if r in trained] for m in trained}
        models = [m for m in trained if m not in self.later_repeats]
        across: dict[str, list[str]] = {}
        for m in models:
            for layer in layer_names(self.models[m]):
                across.setdefault(layer, []).append(m)
        values = {m["model"]: m["value"] for sweep in self.sweeps.values() for m in sweep["members"]}
        return {
            "seeds": {m: rs for m, rs in seeds.items() if len(rs) > 1},
            "across": {layer: ms for layer, ms in across.items() if len(ms) > 1},
            "snapshots": {m: plan["epochs"] for m, plan in self.snapshot_plan(study, dataset).items()},
            "values": {m: values[m] for m in models if m in values},
        }

    def study_cka_arrays(self, study: str, dataset: str) -> dict[str, str]:
        """source -> its test array, for every source the study's CKA job reads from a file:
        all but the later repeats' layers (study_cka_models)."""
        plan, out = self.study_cka_plan(study, dataset), []
        for group in plan["seeds"].values():
            out += [Source(group[0], layer) for layer in layer_names(self.models[group[0]])]
        out += [Source(m, layer) for layer, ms in plan["across"].items() for m in ms]
        for m, epochs in plan["snapshots"].items():
            out += [Source(m, layer, e) for layer in layer_names(self.models[m]) for e in [None, *epochs]]
        return {str(s): self.paths.source_array(dataset, str(s), "test") for s in dict.fromkeys(out)}

    def study_cka_models(self, study: str, dataset: str) -> dict[str, str]:
        """later repeat -> its model file, for the repeats the study's CKA job compares: it
        computes their test activations itself (one TensorFlow start for all of them, where an
        activations job per repeat would also extract the training rows that nothing reads)."""
        groups = self.study_cka_plan(study, dataset)["seeds"].values()
        return {r: self.paths.model(dataset, r) for group in groups for r in group[1:]}

    def profile_plan(self, study: str, dataset: str) -> dict[str, list[str]]:
        """model -> its sources of the study on the dataset in depth order, for the layer profile
        ("raw" under its own key when the study embeds the raw inputs); snapshots left out."""
        sources = [Source.parse(s) for s in self.study_sources[study][dataset]]
        out = {RAW: [RAW]} if any(s.is_raw for s in sources) else {}
        for m in dict.fromkeys(s.model for s in sources if not s.is_raw and s.epoch is None):
            held = {s.layer for s in sources if s.model == m and s.epoch is None}
            out[m] = [str(Source(m, layer)) for layer in layer_names(self.models[m]) if layer in held]
        return out

    def depths(self, plan: dict[str, list[str]]) -> dict[str, int]:
        """source -> its depth in its model (1 for hidden1 ... the output last; 0 raw pixels)."""
        out = {}
        for sources in plan.values():
            for s in map(Source.parse, sources):
                out[str(s)] = 0 if s.is_raw else layer_names(self.models[s.model]).index(s.layer) + 1
        return out

    def profile_inputs(self, study: str, dataset: str) -> dict:
        plan = self.profile_plan(study, dataset)
        sources = {s: self.study_sources[study][dataset][s] for ss in plan.values() for s in ss}
        return {
            "measures": [self.paths.source_measures(dataset, s) for s in sources],
            "scores": self.score_files(dataset, sources),
        }

    def study_cka_files(self, study: str) -> list[str]:
        """A study's CKA records and figures: one per dataset with something to compare."""
        at = self.paths
        return [
            f
            for d in self.study_models[study]
            if any(self.study_cka_plan(study, d)[key] for key in ("seeds", "across", "snapshots"))
            for f in (at.study_cka(study, d), at.study_cka_figure(study, d))
        ] + [
            at.layer_profile(study, d)
            for d in self.study_models[study]
            if len(self.profile_plan(study, d)) > 1
        ]

    @property
    def compare_k(self) -> int:
        """The test neighbours per point the compare stage compares (config measures.compare_k)."""
        return self.config["measures"]["compare_k"]

    def compare_maps(self, study: str, dataset: str) -> list[dict]:
        """A study's maps on one dataset in the explorer's order, [{source, reducer}]: what its
        compare job compares point by point."""
        return [
            {"source": s, "reducer": r} for s, rs in self.study_sources[study][dataset].items() for r in rs
        ]

    def compare_inputs(self, study: str, dataset: str) -> dict:
        maps, at = self.compare_maps(study, dataset), self.paths
        return {
            "sources": [
                at.source_array(dataset, s, "test") for s in dict.fromkeys(m["source"] for m in maps)
            ],
            "embeddings": [at.embedding(dataset, m["source"], m["reducer"]) for m in maps],
            "data": at.data(dataset),
        }

    def compared(self, study: str) -> list[str]:
        """The datasets of a study with two maps or more: each gets a compare record."""
        return [d for d in self.study_sources[study] if len(self.compare_maps(study, d)) > 1]

    def compare_files(self, study: str) -> list[str]:
        """A study's compare records (arrays and summary) and its compare page."""
        at, datasets = self.paths, self.compared(study)
        records = [
            f for d in datasets for f in (at.compare_points(study, d), at.compare_points(study, d, ".json"))
        ]
        return records + ([at.compare_page(study)] if datasets else [])

    def compare_page_plan(self, study: str) -> tuple[list[str], list[list[str]]]:
        """The compare page's datasets, and the models whose predictions it shows [[dataset, model]]."""
        datasets = self.compared(study)
        models = dict.fromkeys(
            (d, Source.parse(m["source"]).owner)
            for d in datasets
            for m in self.compare_maps(study, d)
            if m["source"] != RAW
        )
        return datasets, [list(dm) for dm in models]

    def compare_page_inputs(self, study: str) -> dict:
        at = self.paths
        datasets, predicted = self.compare_page_plan(study)
        return {
            "records": [at.compare_points(study, d, ".json") for d in datasets],
            "arrays": [at.compare_points(study, d) for d in datasets],
            "embeddings": [e for d in datasets for e in self.compare_inputs(study, d)["embeddings"]],
            "data": [at.data(d) for d in datasets],
            "predictions": [at.activation(d, m, "output", "test") for d, m in predicted],
        }

    def layer_change_chain(self, dataset: str, model: str, reducer: str) -> list[str]:
        """The sources of a model's layer-change figure in one map: its layers embedded with that
        map (by any study), in depth order, raw pixels first where embedded too; [] if fewer
        than two of its layers are."""
        embedded = self.embedded.get(dataset, {})
        layers = [str(Source(model, layer)) for layer in layer_names(self.models[model])]
        chain = [s for s in layers if reducer in embedded.get(s, ())]
        if len(chain) < 2:
            return []
        return ([RAW] if reducer in embedded.get(RAW, ()) else []) + chain

    def layer_change_figures(self, dataset: str, sources: dict) -> list[str]:
        """The layer-change figures of the trained models among these {source: [maps]}."""
        models = dict.fromkeys(
            p.model for p in map(Source.parse, sources) if not p.is_raw and p.epoch is None
        )
        maps = dict.fromkeys(r for rs in sources.values() for r in rs)
        return [
            self.paths.layer_change(dataset, m, r)
            for m in models
            for r in maps
            if self.layer_change_chain(dataset, m, r)
        ]

    def source_map_measures(self, dataset: str, sources: dict) -> list[str]:
        """The measures records of these {source: [maps]}: each source's and each map's."""
        at = self.paths
        out = [at.source_measures(dataset, s) for s in sources]
        return out + [at.map_measures(dataset, s, r) for s, rs in sources.items() for r in rs]

    def measure_files(self, dataset: str, sources: dict) -> list[str]:
        """Those records, and the CKA record and heatmap of each trained model with an embedded
        layer among the sources."""
        at, parsed = self.paths, [Source.parse(s) for s in sources]
        models = dict.fromkeys(p.model for p in parsed if not p.is_raw and p.epoch is None)
        cka = [f for m in models for f in (at.model_cka(dataset, m), at.cka_figure(dataset, m))]
        return self.source_map_measures(dataset, sources) + cka + self.layer_change_figures(dataset, sources)

    def measure_records(self) -> list[str]:
        """Every measures record of the run (results/measures.csv's inputs), once each."""
        out = []
        for name in filter(self.is_measured, self.studies):
            for d, sources in self.study_sources[name].items():
                out += self.measure_files(d, sources)
            out += self.study_cka_files(name)  # once per study, not per dataset
            out += self.compare_files(name)
        return [f for f in dict.fromkeys(out) if f.endswith(".json")]

    def study_targets(self, name: str) -> list[str]:
        """Everything one study makes (its target rule's input)."""
        out, at = [], self.paths
        for d, models in self.study_models[name].items():
            sources = self.study_sources[name][d]
            out += [
                at.data(d),
                *self.model_targets(d, models),
                *self.score_files(d, sources),
                *self.embedding_files(d, sources),
                *(self.measure_files(d, sources) if self.is_measured(name) else []),
            ]
            out += [at.input_transform(d)] if d in self.reduced else []
        out += self.study_cka_files(name) + self.compare_files(name) if self.is_measured(name) else []
        return out + self.study_figures(name)

    def final_targets(self) -> list[str]:
        """`all`: every study, every dataset's kNN tables and the summary of every study."""
        at = self.paths
        out = [t for d in self.datasets for t in [at.data(d), at.knn_summary(d)]]
        out += [t for name in self.studies for t in self.study_targets(name)]
        out += [at.measures_table()] if self.measure_records() else []
        return list(dict.fromkeys(out + [at.knn_summary(), at.summary()]))  # once each, in order

    def model_figures(self, dataset: str, model: str) -> list[str]:
        """The per-model pictures of a model on a dataset (layermaps.paths @per_model_figure)."""
        hidden = self.hidden_layers(model)
        allowed = {
            "always": True,
            "images": dataset in self.figures.gif_datasets and bool(hidden),
            "plane": dataset in self.figures.plane_datasets,
        }
        out = []
        for name in MODEL_FIGURES:
            method = getattr(self.paths, name)
            if not allowed[method.model_figure]:
                continue
            args = figure_arguments(getattr(Paths, name))
            if args == ["layer"]:
                out += [method(dataset, model, layer) for layer in hidden]
            elif args == ["cls"]:
                out.append(method(dataset, model, self.config["figures"]["class_index"]))
            else:
                out.append(method(dataset, model))
        return out

    def snapshot_figures(self, study: str, dataset: str, by_source: dict) -> list[str]:
        """A study's pictures of layers over training on one dataset: per model and map the grid
        (layers x snapshots), per model, layer and aligned map the animation, and the kNN
        accuracy over training of every layer."""
        at, plans = self.paths, snapshot_plan(by_source)
        out = [at.snapshot_grid(dataset, m, r) for m, p in plans.items() for r in p["maps"]]
        out += [
            at.snapshot_animation(dataset, m, layer, r)
            for m, p in plans.items()
            for layer in p["layers"]
            for r in p["maps"]
            if r in self.aligned_maps
        ]
        return out + ([at.knn_over_training(study, dataset)] if plans else [])

    def study_figures(self, study: str) -> list[str]:
        """Every figure, animation and report file of one study (README lists them)."""
        at, out = self.paths, []
        for d, by_source in self.study_sources[study].items():
            models = [m for m in self.study_models[study][d] if m in self.figures.models]
            out += [at.embedding_figure(d, s, r) for s, rs in by_source.items() for r in rs]
            out += self.snapshot_figures(study, d, by_source)
            out += [at.grid(d, m) for m in models if any(Source.parse(s).owner == m for s in by_source)]
            out += [at.knn_heatmap(study, d)] if by_source else []
            out += [at.sweep(d, s) for s in self.study_sweeps(study)[d]]
            out += [at.study_curves(study, d)] if len(self.curve_models(study, d)) > 1 else []
            out += [f for m in models for f in self.model_figures(d, m)]
        if compared_sources(self.study_sources[study]):
            out.append(at.knn_comparison(study))
        return out + ([at.study_summary(study)] if study != IMPLICIT else [])  # `all` has summary.md


def from_snakemake(config: dict, *, schema: str, configfiles, overrides: dict, environ) -> Plan:
    """The plan of the config Snakemake hands over: its files read for keys given twice (YAML
    would keep the last silently), --config's own values typed by the schema (nested ones arrive
    as strings; every --configfile is typed by YAML already), validated (schema defaults filled
    in), the results folder and data mirror checked, then `build`."""
    check_config_files(configfiles)
    coerce_overrides(config, overrides, schema)
    validate_config(config, schema)
    check_results_dir(config["results_dir"])
    check_data_mirror(environ)
    return build(config)


def build(config: dict) -> Plan:
    """The plan of a validated config (layermaps.config.validate_config); a mistake that the
    schema cannot see raises ConfigError, naming the config key."""
    # A model's `datasets:` says where it may train; the rest of its spec is how it trains.
    model_config, sweep_config, allowed = checked(
        split_model_datasets, config["models"], config.get("sweeps")
    )
    models = checked(all_models, model_config, sweep_config)
    repeats = repeat_groups(model_config, sweep_config)
    resolved = check_reducers(config["reducers"])  # name -> (class, library settings), once
    check_names(config, models)
    snapshots = {m: snapshot_epochs(spec) for m, spec in models.items() if snapshot_epochs(spec)}
    snapshot_rows = checked(check_subset, config["embed"]["snapshot_rows"], "embed.snapshot_rows")
    specs = checked(dataset_specs, config["datasets"])
    check_datasets(config, specs)  # own files present, subsample sizes that fit each dataset
    datasets = list(specs)
    reducer_names = list(config["reducers"])

    studies = checked(read_studies, config, datasets, models, sweep_config, allowed, repeats)
    trained = trained_models(studies, allowed, sweep_config, repeats)
    measured = config["measures"]["studies"]
    if measured != "all" and (unknown := [s for s in measured if s not in studies]):
        raise ConfigError(f"measures.studies names unknown studies {unknown}; studies: {list(studies)}")
    check_layers(config, studies, models, trained)  # a named layer every embedded model has
    per_study_models = {n: study_models(s, trained) for n, s in studies.items()}
    per_study_sources = {
        n: study_sources(s, trained, models, reducer_names, repeats) for n, s in studies.items()
    }

    graph_k = graph_sizes(resolved)
    subsets = {map_name(r, s.fit.get(r)): (r, s.fit.get(r)) for s in studies.values() for r in s.reducers}
    maps = {}
    for name in map_order(studies, reducer_names):
        reducer, subset = subsets[name]
        cls, settings = resolved[reducer]
        maps[name] = MapSpec(
            name, reducer, subset, cls, config["reducers"][reducer], graph_size(cls, settings, graph_k)
        )
    aligned = tuple(n for n, m in maps.items() if m.subset is None and m.method == "umap")

    fig = config["figures"]
    k, k_note = choose_k(config["knn"]["k"], fig["k"])
    infos = {d: dataset_info(specs[d]) for d in datasets}
    gifs, notes = gif_datasets(infos, fig["class_index"])
    figures = Figures(
        k,
        k_note,
        tuple(figure_models(fig["models"], models, later_repeats(repeats))),
        tuple(gifs),
        tuple(d for d, info in infos.items() if info.width == 2),
        tuple(notes),
    )
    return Plan(
        config=config,
        paths=Paths(config["results_dir"]),
        dataset_specs=specs,
        models=models,
        sweep_config=sweep_config,
        repeats=repeats,
        later_repeats=frozenset(later_repeats(repeats)),
        snapshots=snapshots,
        snapshot_rows=snapshot_rows,
        studies=studies,
        trained=trained,
        study_models=per_study_models,
        study_sources=per_study_sources,
        maps=maps,
        embedded=merge_sources(per_study_sources, list(maps)),
        graph_k=graph_k,
        sweeps={name: sweep_plan(name, sweep) for name, sweep in sweep_config.items()},
        figures=figures,
        _aligned=aligned,
    )
