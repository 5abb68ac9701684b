"""The compare stage through the real snakemake CLI, on the tiny run of every figure (conftest
`figures_run`: MNIST 600 / 200, msds_w1 and msds_w16, their hidden2 and raw pixels in PCA):
its record, arrays and page exist and agree, the tidy table and MLflow hold its means, the
explorer and summary.md link the page, its setting reruns its own jobs only, and a model's
layer-change figure is one file that `snakemake <file>` makes alone."""

import json
import shutil

import numpy as np
import pytest
from conftest import planned_jobs, snakemake
from mlflow.tracking import MlflowClient
from PIL import Image

from layermaps.figures import plots

pytestmark = pytest.mark.workflow

STUDY = "results/studies/all"
SOURCES = ["raw", "msds_w1/hidden2", "msds_w16/hidden2"]


@pytest.fixture(scope="module")
def run(figures_run):
    return figures_run[0]


def test_the_record_arrays_and_page_agree(run):
    c = json.loads((run / f"{STUDY}/compare_mnist.json").read_text())["compare"]
    assert c["sources"] == SOURCES and c["rows"] == 200 and c["k"] == 10
    assert [(m["source"], m["map"]) for m in c["maps"]] == [(s, "pca") for s in SOURCES]
    z = np.load(run / f"{STUDY}/compare_mnist.npz")
    assert z["source_neighbours"].shape == (3, 200, 10) and z["map_kept"].shape == (3, 200)
    assert z["affine"].shape == (3, 3, 3, 2) and np.all(np.diag(z["disparity"]) == 0)
    for p, shared in zip(c["source_pairs"], z["source_shared"]):
        assert p["jaccard_mean"] == pytest.approx(np.mean(shared / (20 - shared)))
    page = (run / f"{STUDY}/compare.html").read_text()
    # each links the other (inside the page's JSON, quotes escaped)
    assert 'href=\\"explorer.html\\"' in page
    assert 'href=\\"compare.html\\"' in (run / f"{STUDY}/explorer.html").read_text()
    assert "[compare two maps](studies/all/compare.html)" in (run / "results/summary.md").read_text()


def test_the_tidy_table_and_mlflow_hold_each_pairs_mean(run):
    import csv

    c = json.loads((run / f"{STUDY}/compare_mnist.json").read_text())["compare"]
    with open(run / "results/measures.csv", newline="") as f:
        rows = {(r["source"], r["map"], r["measure"]): r["value"] for r in csv.DictReader(f)}
    first = c["source_pairs"][0]
    assert float(rows[("raw vs msds_w1/hidden2", "", "neighbour_jaccard_k10")]) == first["jaccard_mean"]
    assert ("raw vs msds_w16/hidden2", "pca", "procrustes_disparity") in rows
    client = MlflowClient(f"sqlite:///{run / 'results/mlflow.db'}")
    exp = client.get_experiment_by_name("layermaps/mnist")
    (compare,) = client.search_runs([exp.experiment_id], "tags.`layermaps.rule` = 'compare_points'")
    assert compare.data.tags["mlflow.parentRunId"] == (run / "results/mnist/data.run_id").read_text().strip()
    assert compare.data.metrics["jaccard_raw_vs_msds_w1/hidden2"] == pytest.approx(first["jaccard_mean"])


def test_the_compare_setting_reruns_the_compare_jobs_only(run):
    jobs = planned_jobs(run, "--cores", "1", "--config", "measures={compare_k: 7}")
    assert {rule for rule, _ in jobs} == {
        "compare_points",
        "plot_compare",
        "measures_table",
        "report_summary",
        "all",
    }


def test_a_layer_change_figure_is_one_file_made_alone(run, figures_run, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(run, work, symlinks=True)
    target = "results/mnist/figures/models/msds_w16/layer_change_pca.png"
    both = ("--config", "embed={models: all, layers: [hidden1, hidden2]}")
    jobs = planned_jobs(work, "--cores", "2", target, *both)  # --config takes every argument after it
    assert sorted(jobs) == [
        ("embed", "dataset=mnist, source=msds_w16/hidden1, reducer=pca"),
        ("plot_layer_change", "dataset=mnist, model=msds_w16, reducer=pca"),
    ]
    snakemake(work, "--cores", "2", target, *both)
    dpi = figures_run[1]["figures"]["dpi"]
    with Image.open(work / target) as image:
        assert image.size == plots.pixel_size(plots.layer_change_figsize(3), dpi)  # raw, hidden1, hidden2
    client = MlflowClient(f"sqlite:///{work / 'results/mlflow.db'}")
    exp = client.get_experiment_by_name("layermaps/mnist")
    (last,) = client.search_runs(
        [exp.experiment_id], "tags.reducer = 'pca' and tags.source = 'msds_w16/hidden2'"
    )  # the figure is logged to the run of the chain's last map
    assert "figures/layer_change_pca.png" in {
        a.path for a in client.list_artifacts(last.info.run_id, "figures")
    }
