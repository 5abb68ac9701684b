"""Where every output of a run lies: the one table that the rules, the figure lists and
`python -m layermaps.measured` read, so a path is spelled in one place.

Each method takes plain values or Snakemake wildcards ("{dataset}") and returns the path or
the pattern: `Paths("results").embedding("{dataset}", "{source}", "{reducer}")` is the embed
rule's output, `Paths("results").embedding("mnist", "raw", "umap")` one file of it. A source
is `raw` or `{model}/{layer}`.
"""

from __future__ import annotations

from pathlib import Path

# Job timing records and pending MLflow records of a run (layermaps.tracking.runlog, worktime)
STATE_DIR = ".layermaps"
# A model at one epoch of its training (`snapshots:`) is named like a model, `seed_mlp@epoch10`:
# its activations, embeddings and scores lie where a model's would, `@` keeps the names apart.
SNAPSHOT_SEP = "@epoch"
# Beside a source's arrays that hold only some of the fit rows (a snapshot's): their positions
# within the dataset's fit rows (layermaps.embed.stage.load_source reads it).
SOURCE_ROWS = "fit_rows.npy"


def snapshot_name(model: str, epoch) -> str:
    return f"{model}{SNAPSHOT_SEP}{epoch}"


def split_snapshot(name: str) -> tuple[str, int | None]:
    """'seed_mlp@epoch10' -> ('seed_mlp', 10); 'seed_mlp' -> ('seed_mlp', None)."""
    model, sep, epoch = name.partition(SNAPSHOT_SEP)
    return (model, int(epoch)) if sep else (model, None)


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
        if source == "raw":
            return self.raw_activation(dataset, split)
        model, layer = source.split("/")
        return self.activation(dataset, model, layer, split)

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

    # ------------------------------------------------------------------ figures, reports
    def figures(self, dataset: str | None = None) -> str:
        """A dataset's figure folder, or with no dataset the figures across datasets."""
        return "/".join([self.root, *([dataset] if dataset else []), "figures"])

    def figure(self, dataset: str, name: str) -> str:
        """A figure of one dataset: knn_heatmap.png, grid_{model}.png, sweep_{sweep}.png ..."""
        return f"{self.figures(dataset)}/{name}"

    def embedding_figure(self, dataset: str, source: str, reducer: str) -> str:
        return f"{self.figures(dataset)}/embeddings/{source}/{reducer}.png"

    def model_figure(self, dataset: str, model: str, name: str) -> str:
        """A per-model picture: training_curves.png, confusion.png, pca_{layer}.png ..."""
        return f"{self.figures(dataset)}/models/{model}/{name}"

    def study_file(self, study: str, name: str) -> str:
        """A file of one study: knn_heatmap_{dataset}.png, knn_mnist_vs_fashion.png, summary.md."""
        return f"{self.root}/studies/{study}/{name}"

    def summary(self, suffix: str = ".md") -> str:
        """Every study's summary in one file."""
        return f"{self.root}/summary{suffix}"

    def log(self, *parts: str) -> str:
        """A job's log: log("mnist", "embed", "raw", "umap") -> {root}/logs/mnist/embed/raw/umap.log."""
        return "/".join([self.root, "logs", *parts]) + ".log"

    def state(self) -> str:
        return f"{self.root}/{STATE_DIR}"
