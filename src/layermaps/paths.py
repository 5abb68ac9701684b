"""Where every output of a run lies, and how its names are spelled: the one table that the
rules, the plan (layermaps.plan) and `python -m layermaps.measured` read, so a path or a name
is spelled in one place.

Each method takes plain values or Snakemake wildcards ("{dataset}") and returns the path or
the pattern: `Paths("results").embedding("{dataset}", "{source}", "{reducer}")` is the embed
rule's output, `Paths("results").embedding("mnist", "raw", "umap")` one file of it.

Names inside paths: a source (`Source`) is `raw`, `{model}/{layer}` or, for a model at one
epoch of its training, `{model}@epoch{e}/{layer}`; a map (`MapName`) is a reducer, or a reducer
fitted on a subset of the fit rows, `tsne_p40@first10000`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

# Job timing records and pending MLflow records of a run (layermaps.tracking.runlog, worktime)
STATE_DIR = ".layermaps"
# A model at one epoch of its training (`snapshots:`) is named like a model, `seed_mlp@epoch10`:
# its activations, embeddings and scores lie where a model's would, `@` keeps the names apart.
SNAPSHOT_SEP = "@epoch"
# Beside a source's arrays that hold only some of the fit rows (a snapshot's): their positions
# within the dataset's fit rows (layermaps.embed.stage.load_source reads it).
SOURCE_ROWS = "fit_rows.npy"
RAW = "raw"  # the source of the inputs themselves (pixels scaled as a layer's input)
MAP_SEP = "@"  # a map's name: its reducer, MAP_SEP, its fit subset's key


def snapshot_name(model: str, epoch) -> str:
    return f"{model}{SNAPSHOT_SEP}{epoch}"


def split_snapshot(name: str) -> tuple[str, int | None]:
    """'seed_mlp@epoch10' -> ('seed_mlp', 10); 'seed_mlp' -> ('seed_mlp', None)."""
    model, sep, epoch = name.partition(SNAPSHOT_SEP)
    return (model, int(epoch)) if sep else (model, None)


def split_source(source: str) -> tuple[str, str]:
    """'raw' -> ('raw', 'raw'); 'seed_mlp/hidden2' -> ('seed_mlp', 'hidden2')."""
    return ("raw", "raw") if source == "raw" else tuple(source.split("/", 1))


@dataclass(frozen=True)
class Source:
    """What a map embeds: the raw inputs, or one layer of a model or of a model's snapshot.

    `Source.parse("seed_mlp@epoch10/hidden2")` -> Source("seed_mlp", "hidden2", 10);
    `str()` gives the name back. `owner` is whose activations they are (`seed_mlp@epoch10`).
    """

    model: str  # RAW for the raw inputs
    layer: str = RAW
    epoch: int | None = None  # a snapshot's epoch

    @classmethod
    def parse(cls, name: str) -> Source:
        owner, layer = split_source(str(name))
        model, epoch = split_snapshot(owner)
        return cls(model, layer, epoch)

    @classmethod
    def of(cls, owner: str, layer: str) -> Source:
        """The layer of a model or snapshot name: Source.of("seed_mlp@epoch10", "hidden2")."""
        model, epoch = split_snapshot(owner)
        return cls(model, layer, epoch)

    @property
    def is_raw(self) -> bool:
        return self.model == RAW

    @property
    def owner(self) -> str:
        """The model, or `{model}@epoch{e}` for a snapshot's layer ("raw" for the inputs)."""
        return self.model if self.epoch is None else snapshot_name(self.model, self.epoch)

    def __str__(self) -> str:
        return RAW if self.is_raw else f"{self.owner}/{self.layer}"


@dataclass(frozen=True)
class MapName:
    """A map's name: its reducer's config entry, and the key of its fit subset if it has one
    (layermaps.embed.subsets): `MapName.parse("tsne_p40@first10000")` -> ("tsne_p40", "first10000")."""

    reducer: str
    subset: str | None = None

    @classmethod
    def parse(cls, name: str) -> MapName:
        reducer, sep, subset = str(name).partition(MAP_SEP)
        return cls(reducer, subset if sep else None)

    def __str__(self) -> str:
        return self.reducer if self.subset is None else f"{self.reducer}{MAP_SEP}{self.subset}"


# Per-model figures: a Paths method marked with @per_model_figure is drawn for every model that
# gets pictures (config figures.models) on every dataset it trains on, where `where` allows;
# the plan lists them from here, so a new one is a method here and a rule that makes it.
MODEL_FIGURES: list[str] = []


def per_model_figure(where: str = "always"):
    """Mark a per-model figure. Its method's arguments after (dataset, model) say what it is
    drawn for: `layer`, each hidden layer; `cls`, the class config figures.class_index names.
    where: "always", "images" (datasets whose inputs are images, for a model with a hidden
    layer) or "plane" (2-D datasets)."""

    def mark(method):
        method.model_figure = where
        MODEL_FIGURES.append(method.__name__)
        return method

    return mark


def figure_arguments(method) -> list[str]:
    """What a per-model figure is drawn for beyond (dataset, model): [], ["layer"] or ["cls"]."""
    return list(inspect.signature(method).parameters)[3:]


class Paths:
    def __init__(self, results: str | Path):
        self.root = str(results).rstrip("/")

    def _in(self, dataset: str, *parts: str) -> str:
        return "/".join([self.root, dataset, *parts])

    # ------------------------------------------------------------------ data
    def raw_file(self, dataset: str, name: str) -> str:
        """A downloaded IDX file, e.g. train-images-idx3-ubyte.gz."""
        return self._in(dataset, "raw", name)

    def download_run(self, dataset: str) -> str:
        return self._in(dataset, "raw", "download.run_id")

    def data(self, dataset: str) -> str:
        """The prepared split (data.npz); its run (data.run_id) is the parent of the rest."""
        return self._in(dataset, "data.npz")

    def data_run(self, dataset: str) -> str:
        return self._in(dataset, "data.run_id")

    def transform(self, dataset: str) -> str:
        """A reduced dataset's input transform, fitted on its parent's training rows."""
        return self._in(dataset, "transform.npz")

    # ------------------------------------------------------------------ models
    def model_file(self, dataset: str, model: str, name: str) -> str:
        """model.keras, history.csv, metrics.json, confusion_test.csv or run_id of a model."""
        return self._in(dataset, "models", model, name)

    def model(self, dataset: str, model: str) -> str:
        """The trained Keras model."""
        return self.model_file(dataset, model, "model.keras")

    def history(self, dataset: str, model: str) -> str:
        """Loss and accuracy per epoch."""
        return self.model_file(dataset, model, "history.csv")

    def metrics(self, dataset: str, model: str) -> str:
        """Final train, validation and test accuracy and loss."""
        return self.model_file(dataset, model, "metrics.json")

    def confusion_counts(self, dataset: str, model: str) -> str:
        """The test set's confusion matrix, counts."""
        return self.model_file(dataset, model, "confusion_test.csv")

    def model_run(self, dataset: str, model: str) -> str:
        """The MLflow run id of a model's training, the parent of its layers' runs."""
        return self.model_file(dataset, model, "run_id")

    def snapshot(self, dataset: str, model: str, epoch) -> str:
        """The model as it was after one epoch of its training (`snapshots:`)."""
        return self._in(dataset, "models", model, "snapshots", f"epoch{epoch}.keras")

    def source_rows(self, dataset: str, model: str) -> str:
        """Which fit rows a snapshot's arrays hold (SOURCE_ROWS)."""
        return self._in(dataset, "activations", model, SOURCE_ROWS)

    def activation(self, dataset: str, model: str, layer: str, split: str) -> str:
        return self._in(dataset, "activations", model, f"{layer}_{split}.npy")

    def raw_activation(self, dataset: str, split: str) -> str:
        """Raw pixels scaled as a layer's input, the `raw` source's arrays."""
        return self._in(dataset, "activations", f"raw_{split}.npy")

    def activations_run(self, dataset: str, model: str) -> str:
        return self._in(dataset, "activations", model, "run_id")

    def source_array(self, dataset: str, source: str, split: str) -> str:
        src = Source.parse(source)
        if src.is_raw:
            return self.raw_activation(dataset, split)
        return self.activation(dataset, src.owner, src.layer, split)

    # ------------------------------------------------------------------ embeddings, scores
    def graph(self, dataset: str, source: str, size: str = "") -> str:
        """A source's base neighbour graph, or one of another size ("k120x25": a variant's)."""
        return self._in(dataset, "neighbors", f"{source}.{size}.npz" if size else f"{source}.npz")

    def embedding(self, dataset: str, source: str, reducer: str, suffix: str = ".npz") -> str:
        """The embedding (.npz) or, with suffix=".run_id", its MLflow run id."""
        return self._in(dataset, "embeddings", source, f"{reducer}{suffix}")

    def score(self, dataset: str, source: str, reducer: str, suffix: str = ".json") -> str:
        """A map's score record; reducer "unreduced" is the kNN ceiling in the source's space."""
        return self._in(dataset, "scores", source, f"{reducer}{suffix}")

    def all_scores(self) -> list[Path]:
        """Every score record that exists under the results folder, in path order."""
        return sorted(Path(self.root).glob("*/scores/**/*.json"))

    def knn_summary(self, dataset: str | None = None, suffix: str = ".csv") -> str:
        """One dataset's kNN table, or with no dataset the table of all datasets."""
        return "/".join([self.root, *([dataset] if dataset else []), f"knn_summary{suffix}"])

    # ------------------------------------------------------------------ measures
    def source_measures(self, dataset: str, source: str) -> str:
        """A source's linear probe and intrinsic dimension (layermaps.measures)."""
        return self._in(dataset, "measures", "sources", f"{source}.json")

    def map_measures(self, dataset: str, source: str, reducer: str) -> str:
        """A map's trustworthiness, continuity, triplet accuracies and neighbourhood hit."""
        return self._in(dataset, "measures", "maps", source, f"{reducer}.json")

    def model_cka(self, dataset: str, model: str, suffix: str = ".json") -> str:
        """Linear CKA between every pair of a model's sources (raw pixels and each layer)."""
        return self._in(dataset, "measures", "cka", f"{model}{suffix}")

    def cka_figure(self, dataset: str, model: str) -> str:
        return self.model_figure(dataset, model, "cka.png")

    def study_cka(self, study: str, dataset: str, suffix: str = ".json") -> str:
        """Linear CKA across a study's seeds, models and snapshots on one dataset."""
        return self.study_file(study, f"cka_{dataset}{suffix}")

    def study_cka_figure(self, study: str, dataset: str) -> str:
        return self.study_file(study, f"cka_{dataset}.png")

    def compare_points(self, study: str, dataset: str, suffix: str = ".npz") -> str:
        """A study's maps compared point by point on one dataset: per-point arrays (.npz), their
        summary and manifest (.json), the job's run (.run_id)."""
        return self.study_file(study, f"compare_{dataset}{suffix}")

    def compare_page(self, study: str) -> str:
        """Two of a study's maps side by side, aligned, with a linked selection."""
        return self.study_file(study, "compare.html")

    def layer_change(self, dataset: str, model: str, reducer: str) -> str:
        """A model's consecutive layers side by side in one map, aligned, coloured by change."""
        return self.model_figure(dataset, model, f"layer_change_{reducer}.png")

    def layer_profile(self, study: str, dataset: str, suffix: str = ".png") -> str:
        """Probe, kNN ceiling, best 2-D kNN and intrinsic dimension against depth, per model."""
        return self.study_file(study, f"layers_{dataset}{suffix}")

    def measures_table(self) -> str:
        """Every measure of every dataset, one tidy row each (README "Layer measures")."""
        return f"{self.root}/measures.csv"

    # ------------------------------------------------------------------ figures, reports
    def figures(self, dataset: str | None = None) -> str:
        """A dataset's figure folder, or with no dataset the figures across datasets."""
        return "/".join([self.root, *([dataset] if dataset else []), "figures"])

    def figure(self, dataset: str, name: str) -> str:
        """A figure of one dataset: knn_heatmap.png, grid_{model}.png, sweep_{sweep}.png ..."""
        return f"{self.figures(dataset)}/{name}"

    def embedding_figure(self, dataset: str, source: str, reducer: str) -> str:
        return f"{self.figures(dataset)}/embeddings/{source}/{reducer}.png"

    def grid(self, dataset: str, model: str) -> str:
        """Every map of raw and a model's embedded layers, rows by source, columns by map."""
        return self.figure(dataset, f"grid_{model}.png")

    def sweep(self, dataset: str, sweep: str, suffix: str = ".png") -> str:
        return self.figure(dataset, f"sweep_{sweep}{suffix}")

    def input_transform(self, dataset: str) -> str:
        """A reduced dataset's inputs next to its parent's."""
        return self.figure(dataset, "input_transform.png")

    def model_figure(self, dataset: str, model: str, name: str) -> str:
        """A per-model picture (the @per_model_figure methods below name each one)."""
        return f"{self.figures(dataset)}/models/{model}/{name}"

    @per_model_figure()
    def training_curves(self, dataset: str, model: str) -> str:
        return self.model_figure(dataset, model, "training_curves.png")

    @per_model_figure()
    def confusion(self, dataset: str, model: str) -> str:
        return self.model_figure(dataset, model, "confusion.png")

    @per_model_figure()
    def input_pair(self, dataset: str, model: str) -> str:
        return self.model_figure(dataset, model, "input_pair.png")

    @per_model_figure("images")
    def activations_gif(self, dataset: str, model: str, cls) -> str:
        return self.model_figure(dataset, model, f"activations_class{cls}.gif")

    @per_model_figure("images")
    def running_mean_gif(self, dataset: str, model: str, cls) -> str:
        return self.model_figure(dataset, model, f"running_mean_class{cls}.gif")

    @per_model_figure("plane")
    def decision_regions(self, dataset: str, model: str) -> str:
        return self.model_figure(dataset, model, "decision_regions.png")

    @per_model_figure()
    def boxplots(self, dataset: str, model: str, layer: str) -> str:
        return self.model_figure(dataset, model, f"boxplots_{layer}.png")

    @per_model_figure()
    def pca(self, dataset: str, model: str, layer: str) -> str:
        return self.model_figure(dataset, model, f"pca_{layer}.png")

    def snapshot_grid(self, dataset: str, model: str, reducer: str) -> str:
        """A model's layers (rows) over its snapshots (columns), one map."""
        return self.model_figure(dataset, model, f"snapshots_{reducer}.png")

    def snapshot_animation(self, dataset: str, model: str, layer: str, reducer: str) -> str:
        return self.model_figure(dataset, model, f"snapshots_{layer}_{reducer}.gif")

    def study_file(self, study: str, name: str) -> str:
        """A file of one study (the methods below name each one)."""
        return f"{self.root}/studies/{study}/{name}"

    def knn_heatmap(self, study: str, dataset: str, suffix: str = ".png") -> str:
        return self.study_file(study, f"knn_heatmap_{dataset}{suffix}")

    def knn_over_training(self, study: str, dataset: str, suffix: str = ".png") -> str:
        return self.study_file(study, f"knn_over_training_{dataset}{suffix}")

    def study_curves(self, study: str, dataset: str, suffix: str = ".png") -> str:
        """The training curves of every model a study trains on one dataset."""
        return self.study_file(study, f"training_curves_{dataset}{suffix}")

    def knn_comparison(self, study: str, suffix: str = ".png") -> str:
        return self.study_file(study, f"knn_mnist_vs_fashion{suffix}")

    def explorer(self, study: str) -> str:
        return self.study_file(study, "explorer.html")

    def study_summary(self, study: str, suffix: str = ".md") -> str:
        return self.study_file(study, f"summary{suffix}")

    def summary(self, suffix: str = ".md") -> str:
        """Every study's summary in one file."""
        return f"{self.root}/summary{suffix}"

    def log(self, *parts: str) -> str:
        """A job's log: log("mnist", "embed", "raw", "umap") -> {root}/logs/mnist/embed/raw/umap.log."""
        return "/".join([self.root, "logs", *parts]) + ".log"

    def state(self) -> str:
        return f"{self.root}/{STATE_DIR}"


def report_listing(path: str | Path) -> dict[str, dict]:
    """Path-table method -> how `snakemake --report` lists its file (workflow/report/listing.yaml):
    the caption workflow/report/<caption>.rst (default: the method's name), the category
    ("{dataset}" unless given), subcategory and labels, as `report()`'s keyword arguments."""
    import yaml

    listing = yaml.safe_load(Path(path).read_text())
    return {
        method: {
            "caption": f"../report/{how.get('caption', method)}.rst",
            "category": how.get("category", "{dataset}"),
            "subcategory": how.get("subcategory"),
            "labels": how["labels"],
        }
        for method, how in listing.items()
    }
