"""Reducer variants and fit subsets through the real snakemake CLI, on a copy of the tiny run:
adding them plans only their own maps, a subset map is fitted on its rows and scores every test
row, its settings reach MLflow, and changing one variant's settings reruns only its jobs."""

from collections import Counter

import numpy as np
import pytest
import yaml
from conftest import TINY_SOURCES, TINY_TARGETS, planned_jobs, snakemake
from mlflow.tracking import MlflowClient

from layermaps.embed.records import Embedding, Score
from layermaps.embed.reducers import REDUCERS

pytestmark = pytest.mark.workflow

SUBSET = "tsne_p10@first300"  # t-SNE at perplexity 10, fitted on the first 300 of 500 fit rows
WIDE = "umap_n30"  # UMAP with 30 neighbours: more test neighbours than the base graph holds
FIGURE = f"results/mnist/figures/embeddings/raw/{SUBSET}.png"


def edit_config(work, change):
    path = work / "config.yaml"
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def add_maps(config):
    config["reducers"]["tsne_p10"] = {"method": "tsne", "perplexity": 10, **REDUCERS["tsne"].small_settings}
    config["reducers"][WIDE] = {"method": "umap", "n_neighbors": 30, **REDUCERS["umap"].small_settings}
    config["embed"]["fit"] = {"tsne_p10": {"first": 300}}


def test_variants_and_a_fit_subset_make_and_remake_only_their_own_maps(tiny_run_copy):
    work = tiny_run_copy
    edit_config(work, add_maps)
    jobs = planned_jobs(work, "--cores", "2", *TINY_TARGETS, FIGURE)
    rules = Counter(r for r, _ in jobs)
    embedded = sorted(w.split("reducer=")[1] for r, w in jobs if r == "embed")
    assert embedded == sorted([SUBSET] * 3 + [WIDE] * 3), jobs
    assert rules["neighbors_sized"] == 3  # k29x30 for umap_n30; the subset searches its own rows
    assert not {"train", "neighbors", "ceiling"} & set(rules), rules  # nothing upstream remade

    snakemake(work, "--cores", "2", *TINY_TARGETS, FIGURE)
    results = work / "results" / "mnist"
    assert (results / "neighbors" / "raw.k29x30.npz").is_file()
    emb = Embedding.load(results / "embeddings" / "raw" / f"{SUBSET}.npz")
    np.testing.assert_array_equal(emb.fit_rows, np.arange(300))
    assert emb.train.shape == (300, 2) and emb.test.shape == (200, 2)
    score = Score.load(results / "scores" / "raw" / f"{SUBSET}.json")
    assert (score.reducer, score.n_train, score.n_test) == (SUBSET, 300, 200)  # every test row
    assert 0.3 < score.accuracy(5) <= 1.0
    assert (work / FIGURE).stat().st_size > 10_000
    run = MlflowClient(f"sqlite:///{work / 'results' / 'mlflow.db'}").get_run(score.mlflow_run_id)
    assert run.data.params["settings.fit_subset.first"] == "300"
    assert run.data.params["settings.method"] == "tsne"
    assert (run.data.tags["reducer"], run.data.tags["method"]) == (SUBSET, "tsne")
    assert run.data.metrics["n_fit"] == 300
    with open(work / "results" / "knn_summary.csv") as f:
        assert sum(SUBSET in line for line in f) == len(TINY_SOURCES) * 3  # a row per source and k

    edit_config(work, lambda c: c["reducers"][WIDE].update(min_dist=0.5))
    jobs = planned_jobs(work, "--cores", "2", *TINY_TARGETS, FIGURE)
    assert sorted(w.split("reducer=")[1] for r, w in jobs if r in ("embed", "score")) == [WIDE] * 6
    assert not {"train", "neighbors", "neighbors_sized", "ceiling"} & {r for r, _ in jobs}
