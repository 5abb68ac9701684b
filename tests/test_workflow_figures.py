"""The figure rules through the real snakemake CLI on a tiny run: every figure is a valid image
of the configured size, GIFs have the expected frames, one figure regenerates alone, a
plot-only setting reruns plots only, figures reach MLflow, and `--report` works."""

import json
import re

import numpy as np
import pytest
import yaml
from conftest import planned_jobs, snakemake, write_config
from mlflow.tracking import MlflowClient
from PIL import Image

from layermaps.figures import plots

pytestmark = pytest.mark.workflow

FIGURES = {
    "models": ["msds_w16"],
    "dpi": 40,
    "gif_dpi": 30,
    "k": 5,
    "class_index": 5,
    "gif_images": 30,
    "running_mean_images": 80,
    "boxplot_units": 6,
}
CONFIG = dict(
    datasets=["mnist"],
    sweeps={"msds": {"base": {"epochs": 1}, "vary": {"hidden[1]": [1, 16]}}},  # msds_w1, msds_w16
    data={"subsample": {"train": 600, "test": 200}},
    embed={"models": "all", "layers": ["hidden2"]},
    knn={"k": [3, 7, 10]},  # k=5 is not configured: figures show the middle k (7)
    figures=FIGURES,
)
SOURCES = ["raw", "msds_w1/hidden2", "msds_w16/hidden2"]
FIGS = "results/mnist/figures"
MODEL = f"{FIGS}/models/msds_w16"
STUDY = "results/studies/all"  # the one study of a config without `studies:`
PLOT_RULES = {
    "plot_embedding",
    "plot_grid",
    "plot_knn_heatmap",
    "plot_knn_comparison",
    "plot_sweep",
    "plot_training",
    "plot_activation_gifs",
    "plot_hidden_layer",
    "plot_study_curves",
    "plot_cka",
    "plot_study_cka",
    "plot_layer_profile",
}


def configure(work, **overrides):
    """The tiny config: only the sweep's two models and one reducer (write_config merges into
    the default config, which has more models and reducers: those are dropped here)."""
    path = write_config(work, **{**CONFIG, **overrides})
    config = yaml.safe_load(path.read_text())
    config["models"] = {}
    config["reducers"] = {"pca": {}}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config


@pytest.fixture(scope="module")
def run(figures_run):
    return figures_run  # conftest: the tiny run of everything, shared with tests/test_browser.py


def expected_sizes(config):
    """Every figure of the tiny run -> its pixel size, from the same config values."""
    dpi, gif_dpi = config["figures"]["dpi"], config["figures"]["gif_dpi"]
    n_units = config["figures"]["boxplot_units"]
    out = {f"{FIGS}/embeddings/{s}/pca.png": plots.pixel_size(plots.EMBEDDING_FIGSIZE, dpi) for s in SOURCES}
    out[f"{FIGS}/grid_msds_w16.png"] = plots.pixel_size(plots.grid_figsize(2, 1), dpi)  # raw, hidden2
    out[f"{STUDY}/knn_heatmap_mnist.png"] = plots.pixel_size(plots.heatmap_figsize(3, 2), dpi)  # + unreduced
    out[f"{FIGS}/sweep_msds.png"] = plots.pixel_size(plots.SWEEP_FIGSIZE, dpi)
    out[f"{STUDY}/training_curves_mnist.png"] = plots.pixel_size(plots.CURVES_FIGSIZE, dpi)  # both models
    out[f"{MODEL}/training_curves.png"] = plots.pixel_size(plots.TRAINING_FIGSIZE, dpi)
    out[f"{MODEL}/confusion.png"] = plots.pixel_size(plots.confusion_figsize(2), dpi)  # train, test
    out[f"{MODEL}/input_pair.png"] = plots.pixel_size(plots.input_pair_figsize(True), dpi)  # MNIST
    for layer, width in (("hidden1", 128), ("hidden2", 16)):
        out[f"{MODEL}/boxplots_{layer}.png"] = plots.pixel_size(
            plots.boxplots_figsize(min(n_units, width)), dpi
        )
        out[f"{MODEL}/pca_{layer}.png"] = plots.pixel_size(plots.PCA_FIGSIZE, dpi)
    for model in ("msds_w1", "msds_w16"):  # the layer measures' CKA heatmap: raw, 2 hidden, output
        out[f"{FIGS}/models/{model}/cka.png"] = plots.pixel_size(plots.cka_figsize(4), dpi)
    # the study's CKA: hidden1, hidden2 and output across the two models; its layer profile
    out[f"{STUDY}/cka_mnist.png"] = plots.pixel_size(plots.study_cka_figsize(3), dpi)
    out[f"{STUDY}/layers_mnist.png"] = plots.pixel_size(plots.PROFILE_FIGSIZE, dpi)
    c = config["figures"]["class_index"]
    for name in (f"activations_class{c}.gif", f"running_mean_class{c}.gif"):
        out[f"{MODEL}/{name}"] = plots.pixel_size(plots.activation_gif_figsize(2), gif_dpi)
    return out


def test_every_figure_is_an_image_of_the_configured_size(run):
    work, config = run
    sizes = expected_sizes(config)
    for rel, size in sizes.items():
        path = work / rel
        assert path.stat().st_size > 2000, rel
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            assert (im.format, im.size) == ("GIF" if rel.endswith(".gif") else "PNG", size), rel
    # nothing else was made: per-model pictures only for figures.models, no comparison figure
    made = {
        p.relative_to(work).as_posix()
        for folder in (FIGS, STUDY)
        for p in (work / folder).rglob("*")
        if p.suffix in (".png", ".gif")
    }
    assert made == set(sizes)
    assert not (work / STUDY / "knn_mnist_vs_fashion.png").exists()


def test_gif_frame_counts(run):
    work, config = run
    with np.load(work / "results/mnist/data.npz") as d:
        n_class = int((d["test_labels"] == config["figures"]["class_index"]).sum())
    assert 0 < n_class < 30  # the tiny subsample holds fewer images than asked for
    c = config["figures"]["class_index"]
    for name, wanted in (("activations", 30), ("running_mean", 80)):
        with Image.open(work / f"{MODEL}/{name}_class{c}.gif") as im:
            assert im.n_frames == min(wanted, n_class)


def test_summary_md(run):
    text = (run[0] / "results/summary.md").read_text()
    for heading in (
        "## Study `all`",
        "### Models",
        "### kNN accuracy in 2-D",
        "#### msds on mnist (varies `hidden[1]`)",
    ):
        assert heading in text
    assert "| msds_w16/hidden2 | unreduced |" in text and "| k=3 | k=7 | k=10 |" in text
    # docs/experiments.md B's numbers next to the w=1 row
    assert re.search(r"^\| 1 \| msds_w1 \|.*\| 0\.540 / 0\.535 / 0\.539 \(another run", text, re.M)


def test_figures_logged_to_mlflow(run):
    work = run[0]
    client = MlflowClient(f"sqlite:///{work}/results/mlflow.db")

    def artifacts(run_id):
        return {a.path for a in client.list_artifacts(run_id, "figures")}

    embed_run = (work / "results/mnist/embeddings/msds_w16/hidden2/pca.run_id").read_text().strip()
    # Only hidden2 is embedded here, so no layer-change figure of its own; but a copy of this
    # run (tests/test_workflow_compare.py embeds hidden1 too) logs one to this run's artifact
    # folder, which the runs' absolute artifact URIs name, whenever that test ran first.
    assert artifacts(embed_run) - {"figures/layer_change_pca.png"} == {"figures/pca.png"}
    raw_run = (work / "results/mnist/embeddings/raw/pca.run_id").read_text().strip()
    assert artifacts(raw_run) == {"figures/pca.png"}  # the first panel, never the deepest
    assert client.get_run(embed_run).data.tags["plot_embedding.dpi"] == "40"
    train_run = (work / "results/mnist/models/msds_w16/run_id").read_text().strip()
    assert artifacts(train_run) == {
        f"figures/{name}"
        for name in (
            "training_curves.png",
            "confusion.png",
            "input_pair.png",
            "activations_class5.gif",
            "running_mean_class5.gif",
            "boxplots_hidden1.png",
            "pca_hidden1.png",
            "boxplots_hidden2.png",
            "pca_hidden2.png",
            "grid_msds_w16.png",
        )
    }
    prepare_run = (work / "results/mnist/data.run_id").read_text().strip()
    for stem in (f"{STUDY}/knn_heatmap_mnist", f"{FIGS}/sweep_msds", f"{STUDY}/training_curves_mnist"):
        own = client.get_run((work / f"{stem}.run_id").read_text().strip())
        assert own.data.tags["mlflow.parentRunId"] == prepare_run and own.info.status == "FINISHED"
        assert artifacts(own.info.run_id) == {f"figures/{stem.rsplit('/', 1)[1]}.png"}
    summary = client.get_experiment_by_name("layermaps/summary")
    runs = client.search_runs([summary.experiment_id])
    assert [r.data.tags["layermaps.rule"] for r in runs] == ["report_summary"]


def test_up_to_date_and_one_figure_is_one_job(run):
    work = run[0]
    assert planned_jobs(work) == []
    target = f"{FIGS}/embeddings/msds_w16/hidden2/pca.png"
    assert planned_jobs(work, target, "--forcerun", "plot_embedding") == [
        ("plot_embedding", "dataset=mnist, source=msds_w16/hidden2, reducer=pca")
    ]

    def identity(path):  # the job writes a new file (atomic replace): a new inode
        st = path.stat()
        return st.st_ino, st.st_mtime_ns

    before = identity(work / target)
    out = snakemake(work, "--cores", "1", target, "--forcerun", "plot_embedding")
    text = out.stdout + out.stderr
    assert "1 of 1 steps (100%) done" in text
    assert re.search(r"^plot_embedding\s+1$", text, re.M) and re.search(r"^total\s+1$", text, re.M)
    assert identity(work / target) != before


def test_plot_only_setting_reruns_plots_only(run):
    work, config = run
    path = work / "config.yaml"
    original = path.read_text()
    try:
        changed = yaml.safe_load(original)
        changed["figures"]["dpi"] = 45
        path.write_text(yaml.safe_dump(changed, sort_keys=False))
        jobs = planned_jobs(work)
        rules = {rule for rule, _ in jobs} - {"all"}
        # every PNG job reruns (the GIFs use gif_dpi), nothing upstream, no summary.md
        assert rules == PLOT_RULES - {"plot_knn_comparison", "plot_activation_gifs"}
        assert len([j for j in jobs if j[0] == "plot_embedding"]) == len(SOURCES)
        changed = yaml.safe_load(original)
        changed["figures"]["gif_images"] = 10
        path.write_text(yaml.safe_dump(changed, sort_keys=False))
        assert {rule for rule, _ in planned_jobs(work)} - {"all"} == {"plot_activation_gifs"}
    finally:
        path.write_text(original)
    assert planned_jobs(work) == []


def test_report_html(run):
    work = run[0]
    snakemake(work, "--report", "results/report.html")
    html = (work / "results/report.html").read_text()
    assert len(html) > 200_000  # the figures are embedded
    for text in (
        "2-D embeddings",
        "embedding grids",
        "kNN scores",
        "sweeps",
        "model msds_w16",
        "fitted on the training points",
        "running mean",
    ):
        assert text in html, text


def test_comparison_figure(run, tmp_path):
    """MNIST vs Fashion: the rule on two datasets' score files (Fashion's are MNIST's, relabelled,
    so that only this one job runs: --allowed-rules keeps the upstream rules out)."""
    work, config = run
    for dataset in ("mnist", "fashion-mnist"):
        for src in (work / "results/mnist/scores").rglob("*.json"):
            dst = tmp_path / "results" / dataset / "scores" / src.relative_to(work / "results/mnist/scores")
            dst.parent.mkdir(parents=True, exist_ok=True)
            scores = json.loads(src.read_text())
            dst.write_text(json.dumps({**scores, "dataset": dataset}))
    configure(tmp_path, datasets=["mnist", "fashion-mnist"])
    target = f"{STUDY}/knn_mnist_vs_fashion.png"
    assert ("plot_knn_comparison", "study=all") in planned_jobs(tmp_path)  # requested with both datasets
    out = snakemake(tmp_path, "--cores", "1", target, "--allowed-rules", "plot_knn_comparison")
    assert "1 of 1 steps (100%) done" in out.stdout + out.stderr
    with Image.open(tmp_path / target) as im:
        assert im.size == plots.pixel_size(
            plots.comparison_figsize(len(SOURCES), 2), config["figures"]["dpi"]
        )
    client = MlflowClient(f"sqlite:///{tmp_path}/results/mlflow.db")
    exp = client.get_experiment_by_name("layermaps/summary")
    (r,) = client.search_runs([exp.experiment_id])
    assert {a.path for a in client.list_artifacts(r.info.run_id, "figures")} == {
        "figures/knn_mnist_vs_fashion.png"
    }


def test_the_map_explorer_is_one_self_contained_page_linked_from_the_summary_and_logged(run):
    """The page's own behaviour is tested in a browser (tests/test_browser.py)."""
    from layermaps.embed.records import Embedding, Score
    from layermaps.measures.pointwise import knn_votes

    work, config = run
    page = work / STUDY / "explorer.html"
    html = page.read_text()
    assert not re.search(r"<script[^>]+src=", html) and "cdn.bokeh.org" not in html  # all inline
    assert page.stat().st_size < 20e6
    assert "[map explorer](studies/all/explorer.html)" in (work / "results/summary.md").read_text()
    client = MlflowClient(f"sqlite:///{work}/results/mlflow.db")
    exp = client.get_experiment_by_name("layermaps/summary")
    (summary_run,) = client.search_runs([exp.experiment_id], "tags.`layermaps.rule` = 'report_summary'")
    assert [a.path for a in client.list_artifacts(summary_run.info.run_id, "explorer")] == [
        "explorer/compare.html",  # the compare page beside it (tests/test_workflow_compare.py)
        "explorer/explorer.html",
    ]
    # the votes the page rings as wrong are the map's kNN classifier: as many right as its score says
    with np.load(work / "results/mnist/data.npz") as d:
        y_fit, y_test = d["train_labels"][d["fit_idx"]], d["test_labels"]
    for source in SOURCES:
        emb = Embedding.load(work / f"results/mnist/embeddings/{source}/pca.npz")
        score = Score.load(work / f"results/mnist/scores/{source}/pca.json")
        votes = knn_votes(emb, emb.fit_labels(y_fit), 7)  # FIGURES' k=5 is not configured: 7
        assert np.mean(votes == y_test) == score.knn["k7"]["accuracy"]
