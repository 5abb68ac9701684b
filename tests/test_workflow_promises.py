"""Promises of the README that only a real run shows: a dataset of IDX files of one's own
through every stage (README "A dataset of your own"), and the same results under any `--cores`
(README "Threads"). One tiny config (3 classes of 8 x 8 IDX images, one small model, PCA) is
run twice through the real snakemake CLI, with --cores 1 and with --cores 2."""

import csv
import gzip
import json
import re

import numpy as np
import pytest
import yaml
from conftest import REPO, snakemake, write_config
from mlflow.tracking import MlflowClient
from test_idx import idx_bytes

pytestmark = pytest.mark.workflow

CLASSES, SIDE = 3, 8


def write_idx_dataset(folder, n_train=240, n_test=90):
    """The four MNIST-style IDX files of 3 classes of 8 x 8 uint8 images, class c bright on
    row c; the train files gzip-compressed, the test files not (both are allowed)."""
    rng = np.random.default_rng(0)

    def part(n):
        y = (np.arange(n) % CLASSES).astype(np.uint8)
        x = rng.integers(0, 60, size=(n, SIDE, SIDE))
        x[np.arange(n), y] += 150
        return x.astype(np.uint8), y

    folder.mkdir(parents=True)
    for prefix, (x, y), pack in (
        ("train", part(n_train), gzip.compress),
        ("t10k", part(n_test), lambda b: b),
    ):
        (folder / f"{prefix}-images-idx3-ubyte{'.gz' if prefix == 'train' else ''}").write_bytes(
            pack(idx_bytes(x))
        )
        (folder / f"{prefix}-labels-idx1-ubyte{'.gz' if prefix == 'train' else ''}").write_bytes(
            pack(idx_bytes(y))
        )


def configure(work):
    """The default config with only the IDX dataset, one small model and PCA (replaced, not
    merged into the default's models, sweeps and reducers)."""
    # 2 training threads, more than --cores 1 gives a job: the run under each --cores must agree
    write_config(
        work,
        embed={"layers": ["hidden2"], "models": ["tiny"]},
        knn={"k": [3, 5]},
        threads={"train": 2, "embed": 1},
    )
    config = yaml.safe_load((work / "config.yaml").read_text())
    config.update(
        datasets={"letters": {"kind": "idx", "path": "data/letters"}},
        sweeps={},
        models={"tiny": {"hidden": [16, 4], "epochs": 2, "batch_size": 32, "seed": 1}},
        reducers={"pca": {}},
    )
    config["data"]["subsample"] = {"train": None, "test": None}
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{cores: the folder snakemake ran in}: the same config and dataset, the default target."""
    folders = {}
    for cores in (1, 2):
        work = tmp_path_factory.mktemp(f"cores{cores}")
        write_idx_dataset(work / "data/letters")
        configure(work)
        snakemake(work, "--cores", str(cores))
        folders[cores] = work
    return folders


# ---- a dataset of IDX files of one's own ---------------------------------------------------------
def test_an_idx_dataset_of_ones_own_runs_every_stage(runs):
    work = runs[2]
    results = work / "results"
    with np.load(results / "letters/data.npz") as d:
        assert str(d["scale"]) == "255" and tuple(d["image_shape"]) == (SIDE, SIDE)
        assert d["train_images"].shape == (240, SIDE * SIDE) and len(d["test_labels"]) == 90
        assert d["class_names"].tolist() == [str(c) for c in range(CLASSES)]
    with open(results / "knn_summary.csv") as f:
        rows = list(csv.DictReader(f))
    seen = {(r["dataset"], r["layer"], r["reducer"]) for r in rows}
    assert {
        ("letters", layer, reducer) for layer in ("raw", "hidden2") for reducer in ("pca", "unreduced")
    } <= seen
    raw = [float(r["accuracy"]) for r in rows if (r["layer"], r["reducer"]) == ("raw", "unreduced")]
    assert min(raw) > 0.9  # the class signal is in the pixels (chance: 1/3)
    metrics = json.loads((results / "letters/models/tiny/metrics.json").read_text())
    assert metrics["test_accuracy"] > 1 / CLASSES, metrics
    assert (results / "letters/figures/embeddings/tiny/hidden2/pca.png").stat().st_size > 5_000
    assert "letters" in (results / "summary.md").read_text()
    # every job's run is in the dataset's experiment, FINISHED, tagged with its scaling
    client = MlflowClient(f"sqlite:///{results}/mlflow.db")
    found = client.search_runs([client.get_experiment_by_name("layermaps/letters").experiment_id])
    assert {"prepare", "train", "embed"} <= {r.data.tags["layermaps.rule"] for r in found}
    assert {r.info.status for r in found} == {"FINISHED"}
    assert {r.data.tags.get("dataset.scale") for r in found} == {"255"}
    assert "Nothing to be done" in snakemake(work, "-n").stdout


# ---- the same results under any --cores --------------------------------------------------------
# Left out of the comparison, as they differ between any two runs, whatever --cores:
NOT_RESULTS = ("logs/", ".layermaps/", "mlflow.db", "mlartifacts/")  # job records, times, stores
RUN_IDS = ("run_id", ".run_id")  # the MLflow run of each output: a new id in every run


def timing(key: str) -> bool:
    """A measured duration or an MLflow run id (train_seconds, fit_seconds, mlflow_run_id ...)."""
    return "seconds" in key or key.endswith("run_id")


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not timing(k)}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def markdown_without_times(text: str) -> list[str]:
    """summary.md with the cells of its `... time (s)` columns blanked."""
    lines, blank = text.splitlines(), set()
    for i, line in enumerate(lines):
        cells = line.split("|")
        if line.startswith("|---"):
            blank = {j for j, cell in enumerate(lines[i - 1].split("|")) if "time (s)" in cell}
        elif not line.startswith("|"):
            blank = set()
        elif blank:
            lines[i] = "|".join("" if j in blank else c for j, c in enumerate(cells))
    return lines


def content(path):
    """What must be equal of a result file: every array, number and byte, durations left out."""
    import zipfile

    if path.suffix == ".npy":
        a = np.load(path)
        return a.dtype.str, a.shape, a.tobytes()
    if path.suffix == ".npz":
        with np.load(path) as d:
            return {k: (d[k].dtype.str, d[k].shape, d[k].tobytes()) for k in d.files if not timing(k)}
    if path.suffix == ".json":
        return without_timings(json.loads(path.read_text()))
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            return [without_timings(row) for row in csv.DictReader(f)]
    if path.suffix == ".md":
        return markdown_without_times(path.read_text())
    if path.suffix == ".keras":  # a zip: the weights byte for byte; the architecture without the
        with zipfile.ZipFile(path) as z:  # Python object ids Keras writes; not its save date
            config = z.read("config.json").decode()
            return z.read("model.weights.h5"), re.sub(r'"shared_object_id": \d+', "", config)
    return path.read_bytes()  # figures (PNG, GIF), the explorer and the rest: byte for byte


def result_files(work) -> list[str]:
    results = work / "results"
    names = sorted(p.relative_to(results).as_posix() for p in results.rglob("*") if p.is_file())
    return [n for n in names if not n.startswith(NOT_RESULTS) and not n.endswith(RUN_IDS)]


def test_the_same_config_gives_the_same_results_under_any_cores(runs):
    """README "Threads": --cores 1 and --cores 2 make the same files, equal in every array,
    number and figure (the model trains with threads.train = 2 threads either way)."""
    files = result_files(runs[1])
    assert files == result_files(runs[2])
    assert {
        "letters/models/tiny/model.keras",
        "letters/embeddings/tiny/hidden2/pca.npz",
        "knn_summary.csv",
        "summary.md",
        "letters/figures/grid_tiny.png",
        "studies/all/explorer.html",
    } <= set(files)
    differ = [f for f in files if content(runs[1] / "results" / f) != content(runs[2] / "results" / f)]
    assert not differ, differ


# ---- README "A dataset of your own": the order of a forest's columns ---------------------------
def test_the_readme_gives_the_order_the_forest_keeps_its_columns_in():
    from layermaps.data.transforms import fit_transform

    rng = np.random.default_rng(0)
    y = np.arange(300) % 3
    x = rng.normal(size=(300, 8))
    x[:, 6] += 2 * y  # the strongest signal is in a late column, a weaker one in an early one
    x[:, 1] += 0.5 * y
    t = fit_transform({"method": "forest", "keep": 3, "trees": 20, "seed": 0}, "p", x, y, log=lambda m: None)
    assert t.columns[:2].tolist() == [6, 1]  # most important first, not in column order
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "ranks most important, most important first" in readme
    assert "ranks most important, in column order" not in readme
