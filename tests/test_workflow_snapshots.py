"""Layers over training through the real snakemake CLI: the tiny run's seed MLP keeping
snapshots (epochs 1 and 2 of its 2: first, middle and last) and a study of them, with a real
MLflow store."""

import json
import shutil

import numpy as np
import pytest
from conftest import TINY_CONFIG, planned_jobs, snakemake, write_config
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.workflow

STUDY = {
    "over_training": {
        "datasets": ["mnist"],
        "models": ["seed_mlp"],
        "reducers": ["umap"],
        "embed": {"raw": False, "layers": ["hidden2", "output"], "snapshots": True},
    }
}
EPOCHS = [1, 2]  # first, middle and last of the tiny run's 2 epochs
LAYERS = {"hidden2": 64, "output": 10}
K = 5  # figures.k


def snapshot_config(work):
    models = {"seed_mlp": {**TINY_CONFIG["models"]["seed_mlp"], "snapshots": ["first", "middle", "last"]}}
    write_config(work, **{**TINY_CONFIG, "models": models}, studies=STUDY)


@pytest.fixture(scope="module")
def snapshot_run(tiny_run, tmp_path_factory):
    """The tiny run copied, its seed MLP now keeping snapshots (it trains again, by its own
    rule) and the study of them made; nothing else trains again."""
    work = tmp_path_factory.mktemp("snapshots") / "work"
    shutil.copytree(tiny_run, work, symlinks=True)
    snapshot_config(work)
    ran = snakemake(work, "--cores", "2", "over_training").stderr
    assert ran.count("rule train_seed_mlp:") == 1 and "rule train:" not in ran
    return work


def test_snapshots_exist_for_the_configured_epochs_with_their_shapes(snapshot_run):
    from layermaps.embed.subsets import subset_rows

    mnist = snapshot_run / "results/mnist"
    saved = sorted(p.name for p in (mnist / "models/seed_mlp/snapshots").iterdir())
    assert saved == [f"epoch{e}.keras" for e in EPOCHS]
    with np.load(mnist / "data.npz") as d:
        fit_labels = d["train_labels"][d["fit_idx"]]
        n_test = len(d["test_labels"])
    expected_rows = subset_rows({"stratified": 0.2, "seed": 42}, fit_labels)
    for e in EPOCHS:
        folder = mnist / f"activations/seed_mlp@epoch{e}"
        rows = np.load(folder / "fit_rows.npy")
        assert rows.tolist() == expected_rows.tolist() and len(rows) == round(0.2 * len(fit_labels))
        for layer, units in LAYERS.items():
            assert np.load(folder / f"{layer}_train.npy").shape == (len(rows), units)
            assert np.load(folder / f"{layer}_test.npy").shape == (n_test, units)
        assert (folder / "hidden1_test.npy").exists()  # every layer is extracted
    # the last snapshot is the trained model: the same outputs on the test rows
    last = np.load(mnist / f"activations/seed_mlp@epoch{EPOCHS[-1]}/output_test.npy")
    np.testing.assert_allclose(last, np.load(mnist / "activations/seed_mlp/output_test.npy"), atol=1e-5)
    first = np.load(mnist / "activations/seed_mlp@epoch1/output_test.npy")
    assert np.abs(first - last).max() > 1e-3  # and the first is not


def test_a_snapshot_map_is_an_ordinary_source(snapshot_run):
    """Its score record, its MLflow run nested under the model's training run, its row in the
    study's summary table."""
    mnist = snapshot_run / "results/mnist"
    client = MlflowClient(f"sqlite:///{snapshot_run}/results/mlflow.db")
    train_run = (mnist / "models/seed_mlp/run_id").read_text().strip()
    n_rows = len(np.load(mnist / "activations/seed_mlp@epoch1/fit_rows.npy"))
    summary = (snapshot_run / "results/studies/over_training/summary.md").read_text()
    table = summary.split("#### mnist: seed_mlp, umap", 1)[1].split("\n\n", 2)[1].splitlines()
    for layer in LAYERS:
        accs = []
        for e in EPOCHS:
            score = json.loads((mnist / f"scores/seed_mlp@epoch{e}/{layer}/umap.json").read_text())
            assert (score["model"], score["layer"], score["n_train"]) == (f"seed_mlp@epoch{e}", layer, n_rows)
            run = client.get_run(score["mlflow_run_id"])
            assert run.info.status == "FINISHED" and run.data.tags["mlflow.parentRunId"] == train_run
            assert run.data.metrics["knn_accuracy_k5"] == pytest.approx(score["knn"]["k5"]["accuracy"])
            accs.append(score["knn"][f"k{K}"]["accuracy"])
        row = next(line for line in table if line.startswith(f"| {layer} |"))
        assert (
            row == f"| {layer} | " + " | ".join(f"{a:.4f}" for a in accs) + f" | {accs[-1] - accs[0]:+.4f} |"
        )


def test_aligned_animation_has_one_frame_per_snapshot(snapshot_run):
    """One GIF per layer, a frame per snapshot, logged to the model's run with each frame's kNN
    accuracy; frame 1 is the first snapshot's ordinary map, so its accuracy is that map's."""
    from PIL import Image

    results = snapshot_run / "results"
    figures = results / "mnist/figures/models/seed_mlp"
    client = MlflowClient(f"sqlite:///{results}/mlflow.db")
    train_run = client.get_run((results / "mnist/models/seed_mlp/run_id").read_text().strip())
    logged = {a.path.split("/")[-1] for a in client.list_artifacts(train_run.info.run_id, "figures")}
    for layer in LAYERS:
        with Image.open(figures / f"snapshots_{layer}_umap.gif") as gif:
            assert gif.n_frames == len(EPOCHS)
        first = json.loads((results / f"mnist/scores/seed_mlp@epoch1/{layer}/umap.json").read_text())
        metrics = train_run.data.metrics
        assert metrics[f"aligned_knn_accuracy_{layer}_umap_epoch1"] == pytest.approx(
            first["knn"][f"k{K}"]["accuracy"]
        )
        assert 0 <= metrics[f"aligned_knn_accuracy_{layer}_umap_epoch2"] <= 1
        assert f"snapshots_{layer}_umap.gif" in logged
    with Image.open(figures / "snapshots_umap.png") as grid:  # layers x epochs
        assert grid.width > 400 and "snapshots_umap.png" in logged
    assert (results / "studies/over_training/knn_over_training_mnist.png").stat().st_size > 10_000


def test_asking_for_one_snapshot_figure_makes_only_what_it_needs(tmp_path):
    snapshot_config(tmp_path)
    jobs = planned_jobs(tmp_path, "results/mnist/figures/embeddings/seed_mlp@epoch1/output/umap.png")
    rules = sorted({rule for rule, _ in jobs})
    assert rules == [
        "download",
        "embed",
        "neighbors",
        "plot_embedding",
        "prepare",
        "snapshot_activations_seed_mlp",
        "train_seed_mlp",
    ]
    assert [w for r, w in jobs if r == "snapshot_activations_seed_mlp"] == ["dataset=mnist, epoch=1"]
