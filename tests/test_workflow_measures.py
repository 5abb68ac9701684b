"""The layer measures through the real snakemake CLI, on the tiny run of every figure (conftest
`figures_run`: MNIST 600 / 200, the sweep's msds_w1 and msds_w16, PCA): every planned record
and heatmap exists, results/measures.csv holds each of them, the numbers reach the MLflow runs
they describe, and a measure's setting reruns its own jobs only."""

import csv
import json

import numpy as np
import pytest
from conftest import planned_jobs
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.workflow

SOURCES = ["raw", "msds_w1/hidden2", "msds_w16/hidden2"]
D = "results/mnist/measures"


@pytest.fixture(scope="module")
def run(figures_run):
    return figures_run[0]


def read_json(path):
    return json.loads(path.read_text())


def test_every_source_map_and_model_is_measured(run):
    for s in SOURCES:
        source = read_json(run / f"{D}/sources/{s}.json")
        assert source["source"] == s and 0 <= source["probe"]["accuracy"] <= 1
        assert source["probe"]["test_rows"] == 200 and isinstance(source["probe"]["converged"], bool)
        ident = source["intrinsic_dimension"]
        assert ident["rows"] == len(np.load(run / "results/mnist/data.npz")["fit_idx"])
        if s == "msds_w1/hidden2":  # the sweep's one-unit layer: no intrinsic dimension, and why
            assert (
                source["width"] == 1 and ident["twonn"] is None and ident["note"] == "1 feature: no estimate"
            )
        values = read_json(run / f"{D}/maps/{s}/pca.json")["values"]
        assert set(values) == {
            "trustworthiness_k5",
            "continuity_k5",
            "random_triplet_accuracy",
            "centroid_triplet_accuracy",
            "neighbourhood_hit_k5",
            "neighbourhood_preservation_k5",
        }
        assert all(v is None or 0 <= v <= 1 for v in values.values())
    raw = read_json(run / f"{D}/sources/raw.json")
    assert (
        raw["width"] == 784
        and 0.6 < raw["probe"]["accuracy"]
        and 5 < raw["intrinsic_dimension"]["twonn"] < 40
    )
    # a map's measures start without scikit-learn (and the pandas it imports): 136 jobs a full run
    from layermaps.paths import Paths
    from layermaps.tracking.worktime import latest_jobs

    jobs = [
        r for (rule, _), r in latest_jobs(Paths(run / "results").state()).items() if rule == "measure_map"
    ]
    assert len(jobs) == len(SOURCES) and all(set(r["imported"]) <= {"scipy"} for r in jobs), jobs
    for model in ("msds_w1", "msds_w16"):
        cka = read_json(run / f"{D}/cka/{model}.json")
        assert cka["sources"] == ["raw", f"{model}/hidden1", f"{model}/hidden2", f"{model}/output"]
        m = np.array(cka["cka"], dtype=float)
        assert m.shape == (4, 4) and np.allclose(m, m.T, equal_nan=True) and cka["rows"] == 200


def test_the_tidy_table_holds_every_record(run):
    with open(run / "results/measures.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["dataset", "source", "map", "measure", "value", "protocol"]
    keys = {(r["source"], r["map"], r["measure"]) for r in rows}
    for s in SOURCES:
        assert {(s, "", "probe_accuracy"), (s, "", "id_twonn"), (s, "pca", "trustworthiness_k5")} <= keys
    assert ("raw vs msds_w16/hidden2", "", "cka_debiased") in keys
    probe = next(r for r in rows if r["source"] == "raw" and r["measure"] == "probe_accuracy")
    assert float(probe["value"]) == read_json(run / f"{D}/sources/raw.json")["probe"]["accuracy"]
    assert "stratified fit rows" in probe["protocol"]


def test_measures_are_metrics_of_the_runs_they_describe(run):
    client = MlflowClient(f"sqlite:///{run / 'results/mlflow.db'}")
    exp = client.get_experiment_by_name("layermaps/mnist")
    (ceiling,) = client.search_runs([exp.experiment_id], "tags.reducer = 'unreduced' and tags.source = 'raw'")
    record = read_json(run / f"{D}/sources/raw.json")
    assert ceiling.data.metrics["probe_accuracy"] == pytest.approx(record["probe"]["accuracy"])
    assert ceiling.data.metrics["id_twonn"] == pytest.approx(record["intrinsic_dimension"]["twonn"])
    (emb,) = client.search_runs(
        [exp.experiment_id], "tags.reducer = 'pca' and tags.source = 'msds_w16/hidden2'"
    )
    values = read_json(run / f"{D}/maps/msds_w16/hidden2/pca.json")["values"]
    assert emb.data.metrics["trustworthiness_k5"] == pytest.approx(values["trustworthiness_k5"])
    (cka,) = client.search_runs(
        [exp.experiment_id], "tags.`layermaps.rule` = 'measure_cka' and tags.model = 'msds_w16'"
    )
    model_run = (run / "results/mnist/models/msds_w16/run_id").read_text().strip()
    assert cka.data.tags["mlflow.parentRunId"] == model_run
    assert "cka_hidden1_hidden2" in cka.data.metrics
    assert [a.path for a in client.list_artifacts(cka.info.run_id, "figures")] == [
        "figures/cka.png"
    ]  # plot_cka's


def test_a_measure_setting_reruns_its_own_jobs_only(run):
    # what reads the records follows: the table, summary.md (its "Layers measured"), the target
    readers = {"measures_table", "report_summary", "all"}
    jobs = planned_jobs(run, "--cores", "1", "--config", "measures={map_k: 7}")
    assert {rule for rule, _ in jobs} == {"measure_map"} | readers
    assert [rule for rule, _ in jobs].count("measure_map") == len(SOURCES)
    jobs = planned_jobs(run, "--cores", "1", "--config", "measures={probe_rows: 300}")
    assert {rule for rule, _ in jobs} == {"measure_source", "plot_layer_profile"} | readers
