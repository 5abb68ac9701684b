"""Training, embedding and scoring through the real snakemake CLI on a tiny subsample, with a
real MLflow store: files, shapes, nested runs, and what a config change reruns."""

import csv
import json
import re

import numpy as np
import pytest
from conftest import (
    TINY_CONFIG as CONFIG,
)
from conftest import (
    TINY_K as K,
)
from conftest import (
    TINY_REDUCERS as REDUCERS,
)
from conftest import (
    TINY_SOURCES as SOURCES,
)
from conftest import (
    TINY_TARGETS as TARGETS,
)
from conftest import (
    planned_jobs,
    snakemake,
    write_config,
)
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def run(tiny_run):
    client = MlflowClient(f"sqlite:///{tiny_run}/results/mlflow.db")
    exp = client.get_experiment_by_name("layermaps/mnist")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return tiny_run, client, runs


def run_id(path):
    return path.read_text().strip()


def test_training_outputs(run):
    work = run[0]
    model_dir = work / "results/mnist/models/seed_mlp"
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and 0.3 < metrics["test_accuracy"] <= 1
    for key in ("test_loss", "val_accuracy", "train_accuracy", "train_seconds", "parameters"):
        assert key in metrics
    assert metrics["parameters"] == 784 * 256 + 256 + 256 * 64 + 64 + 64 * 10 + 10
    with open(model_dir / "history.csv") as f:
        history = list(csv.DictReader(f))
    assert len(history) == 2 and {"loss", "val_accuracy"} <= set(history[0])
    confusion = np.loadtxt(model_dir / "confusion_test.csv", delimiter=",", skiprows=1)
    assert confusion.shape == (10, 10) and confusion.sum() == 200
    assert (model_dir / "model.keras").stat().st_size > 10_000
    for m in ("msds_w1", "msds_w2"):
        assert json.loads((work / f"results/mnist/models/{m}/metrics.json").read_text())["epochs_run"] <= 2


def test_activation_arrays(run):
    work = run[0]
    acts = work / "results/mnist/activations"
    expected = {
        "seed_mlp": {"hidden1": 256, "hidden2": 64, "output": 10},
        "msds_w1": {"hidden1": 128, "hidden2": 1, "output": 10},
    }
    for model, layers in expected.items():
        for layer, width in layers.items():
            for split, n in (("train", 600), ("test", 200)):
                a = np.load(acts / model / f"{layer}_{split}.npy")
                assert a.shape == (n, width) and a.dtype == np.float32, (model, layer, split)
    out = np.load(acts / "seed_mlp/output_test.npy")
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-4)  # softmax rows
    raw = np.load(acts / "raw_train.npy")
    assert raw.shape == (600, 784) and raw.dtype == np.float32 and 0 <= raw.min() and raw.max() <= 1


def test_training_runs_in_mlflow(run):
    work, client, runs = run
    train_id = run_id(work / "results/mnist/models/seed_mlp/run_id")
    r = client.get_run(train_id)
    assert r.info.status == "FINISHED"
    assert r.data.params["spec.hidden"] == "[256, 64]" and r.data.params["spec.epochs"] == "2"
    assert [m.step for m in client.get_metric_history(train_id, "epoch_val_accuracy")] == [1, 2]
    assert "test_accuracy" in r.data.metrics
    artifacts = {a.path for a in client.list_artifacts(train_id)}
    assert {"metrics.json", "history.csv", "confusion_test.csv"} <= artifacts
    assert any(a.startswith("model") for a in artifacts) or client.search_logged_models(
        experiment_ids=[r.info.experiment_id]
    )
    # a training starts a tree of its own (the runs table's top level), naming its data run
    assert "mlflow.parentRunId" not in r.data.tags and r.info.run_name == "seed_mlp training"
    assert r.data.tags["layermaps.data_run"] == run_id(work / "results/mnist/data.run_id")
    acts = client.get_run(run_id(work / "results/mnist/activations/msds_w1/run_id"))
    assert acts.data.metrics["units_hidden2"] == 1
    assert "constant_units_hidden2" in acts.data.metrics


def test_repeats_train_as_their_own_runs_tagged_with_their_first(run):
    """sweeps.msds.repeats: 2 trains msds_w1 (seed 1) and msds_w1_seed2, identical but for the
    seed; only the first is embedded (nothing asks for the second's activations)."""
    work, client, runs = run
    models = work / "results/mnist/models"
    assert {p.name for p in models.iterdir()} == {
        "seed_mlp",
        "msds_w1",
        "msds_w1_seed2",
        "msds_w2",
        "msds_w2_seed2",
    }
    first, second = (client.get_run(run_id(models / m / "run_id")) for m in ("msds_w1", "msds_w1_seed2"))
    assert (first.data.params["spec.seed"], second.data.params["spec.seed"]) == ("1", "2")
    same = {k for k in first.data.params if k.startswith("spec.") and k != "spec.seed"}
    assert same and all(first.data.params[k] == second.data.params[k] for k in same)
    for r, seed in ((first, "1"), (second, "2")):
        assert r.data.tags["repeat_of"] == "msds_w1" and r.data.tags["seed"] == seed
        assert r.info.status == "FINISHED"
    assert "repeat_of" not in client.get_run(run_id(models / "seed_mlp/run_id")).data.tags
    histories = [(models / m / "history.csv").read_text() for m in ("msds_w1", "msds_w1_seed2")]
    assert histories[0] != histories[1]  # another seed, another training
    assert not (work / "results/mnist/activations/msds_w1_seed2").exists()


def test_embeddings_and_scores(run):
    work = run[0]
    for source in SOURCES:
        for reducer in REDUCERS:
            e = np.load(work / f"results/mnist/embeddings/{source}/{reducer}.npz")
            assert e["train"].shape == (500, 2) and e["test"].shape == (200, 2)
            transductive = reducer == "trimap" and str(e["policy"]) == "fit"
            assert str(e["protocol"]) == ("transductive" if transductive else "inductive")
            scores = json.loads((work / f"results/mnist/scores/{source}/{reducer}.json").read_text())
            assert [v["k"] for v in scores["knn"].values()] == K
            assert 0 <= scores["trustworthiness"] <= 1
        policy = str(np.load(work / f"results/mnist/embeddings/{source}/umap.npz")["policy"])
        # the 1-unit ReLU layer is never fed to a reducer: identity (or constant if dead)
        assert policy in (("identity", "constant") if source.startswith("msds_w1") else ("fit",))


def test_summary_csv(run):
    work = run[0]
    with open(work / "results/mnist/knn_summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "dataset",
        "model",
        "layer",
        "reducer",
        "protocol",
        "policy",
        "k",
        "accuracy",
        "trustworthiness",
        "fit_seconds",
        "transform_seconds",
    ]
    assert len(rows) == len(SOURCES) * (len(REDUCERS) + 1) * len(K)
    seen = {(r["model"], r["layer"], r["reducer"], r["k"]) for r in rows}
    assert ("raw", "raw", "unreduced", "5") in seen and ("seed_mlp", "hidden2", "tsne", "10") in seen
    hidden2_umap = [
        float(r["accuracy"])
        for r in rows
        if r["layer"] == "hidden2" and r["model"] == "seed_mlp" and r["reducer"] == "umap"
    ]
    assert min(hidden2_umap) > 0.2  # twice chance; measured .44-.62 over seeds and CPUs
    assert (work / "results/knn_summary.csv").read_text() == (
        work / "results/mnist/knn_summary.csv"
    ).read_text()


def test_reducer_runs_nest_under_their_model_run(run):
    work, client, runs = run
    train_id = run_id(work / "results/mnist/models/seed_mlp/run_id")
    children = [
        r
        for r in runs
        if r.data.tags.get("mlflow.parentRunId") == train_id and r.data.tags.get("layermaps.rule") == "embed"
    ]
    assert sorted(r.data.tags["reducer"] for r in children) == sorted(REDUCERS)
    for r in children:  # one row per reducer x source: embedding params, score metrics
        assert {
            "knn_accuracy_k3",
            "knn_accuracy_k5",
            "knn_accuracy_k10",
            "trustworthiness",
            "fit_seconds",
            "transform_seconds",
        } <= set(r.data.metrics)
        assert r.data.params["seed"] == "42" and r.info.status == "FINISHED"
    raw = [
        r for r in runs if r.data.tags.get("source") == "raw" and r.data.tags.get("layermaps.rule") == "embed"
    ]
    assert {r.data.tags["mlflow.parentRunId"] for r in raw} == {run_id(work / "results/mnist/data.run_id")}


def test_umap_and_tsne_read_one_shared_graph_per_source(run):
    from layermaps.embed.neighbors import NeighborGraph

    work, client, runs = run
    for source in SOURCES:
        graph = NeighborGraph.load(work / f"results/mnist/neighbors/{source}.npz")
        assert graph.train_idx.shape == (500, 90) and graph.test_idx.shape == (200, 25)
    embeds = [r for r in runs if r.data.tags.get("layermaps.rule") == "embed"]
    for r in embeds:
        shared = r.data.tags["reducer"] in ("umap", "tsne")
        assert r.data.tags["neighbors"] == ("shared graph" if shared else "own search")
        assert ("graph_seconds" in r.data.metrics) == shared
    # the graph job has no MLflow run of its own
    assert not [r for r in runs if r.data.tags.get("layermaps.rule") == "neighbors"]


def test_switching_the_shared_graph_off_reruns_only_umap_and_tsne(tiny_run_copy):
    work = tiny_run_copy
    write_config(work, **{**CONFIG, "embed": {**CONFIG["embed"], "shared_neighbors": False}})
    jobs = planned_jobs(work, *TARGETS)
    embedded = sorted(w for rule, w in jobs if rule == "embed")
    assert embedded == sorted(
        f"dataset=mnist, source={s}, reducer={r}" for s in SOURCES for r in ("tsne", "umap")
    )
    assert "neighbors" not in {rule for rule, _ in jobs}


def test_nothing_to_do_when_nothing_changed(run):
    assert planned_jobs(run[0], *TARGETS) == []


def test_changing_one_models_epochs_reruns_only_that_model(tiny_run_copy):
    work = tiny_run_copy
    write_config(work, **{**CONFIG, "models": {"seed_mlp": {"epochs": 3}}})
    jobs = planned_jobs(work, *TARGETS)
    trained = [w for rule, w in jobs if rule == "train"]
    assert trained == ["dataset=mnist, model=seed_mlp"]
    assert not any("msds" in w for _, w in jobs)
    assert not any(rule in ("download", "prepare", "raw_activations") for rule, _ in jobs)
    assert ("activations_seed_mlp", "dataset=mnist") in jobs


def test_changing_one_reducer_setting_reruns_only_that_reducer(tiny_run_copy):
    work = tiny_run_copy
    write_config(work, **{**CONFIG, "reducers": {**REDUCERS, "umap": {"n_epochs": 120}}})
    jobs = planned_jobs(work, *TARGETS)
    per_reducer = [(rule, w) for rule, w in jobs if rule in ("embed", "score")]
    assert len(per_reducer) == 2 * len(SOURCES)
    assert all("reducer=umap" in w for _, w in per_reducer)
    assert {rule for rule, _ in jobs} <= {"embed", "score", "knn_summary", "knn_summary_all"}


def test_bench_graph_compares_the_shared_graph_with_own_search(run):
    import subprocess
    import sys

    bench = [sys.executable, "-m", "layermaps.bench_graph", str(run[0] / "results/mnist")]
    out = subprocess.run(
        bench + ["seed_mlp/hidden2", "--reducers", "tsne"], capture_output=True, text=True, check=True
    ).stdout
    assert "500 x 64 fit rows, 200 test rows; exact graph (90 + 25 neighbours)" in out
    for label in ("shared graph", "own search"):
        assert re.search(rf"\| tsne \| {label} \| [\d.]+ \| 0\.\d{{4}} \| 0\.\d{{4}} \| 0\.\d{{4}} \|", out)
    wrong = subprocess.run(bench + ["seed_mlp/hidden7"], capture_output=True, text=True)
    assert wrong.returncode == 1 and "no activations of seed_mlp/hidden7" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_measured_report_reads_the_run(run):
    import subprocess
    import sys

    work = run[0]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "layermaps.measured",
            str(work / "results"),
            "--config",
            str(work / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "| seed_mlp | 256-64 | 2 |" in out
    assert re.search(r"\| seed_mlp/hidden2 \| umap \| 0\.\d{4} \| 0\.\d{4} \| 0\.\d{4} \|", out)
    assert re.search(
        r"\| msds_w1/hidden2 \| tsne \| (identity|constant) \| inductive \| 0\.0 \| 0\.0 \| \d+ \| \d+ \|",
        out,
    )
    assert "training cost, mnist" in out


def test_every_job_leaves_a_timing_record_within_its_import_budget(run):
    from layermaps.tracking.worktime import read_invocation

    work = run[0]
    invocation, jobs = read_invocation(work / "results/.layermaps")
    assert invocation["status"] == "success" and invocation["cores"] >= 1
    # Snakemake's default rate limiter is off: it arms a timer thread at every scheduler pass
    assert invocation["rate_limit"] is None
    by_rule = {}
    for job in jobs:
        by_rule.setdefault(job["rule"], []).append(job)
        assert job["status"] == "FINISHED" and 0 < job["wall"] < invocation["wall"]
        assert sum(job["work"].values()) <= job["wall"]
    n = len(SOURCES) * len(REDUCERS)
    assert len(by_rule["embed"]) == n and len(by_rule["score"]) == n
    assert len(by_rule["neighbors"]) == len(SOURCES)
    assert all(j["work"]["neighbors"] > 0 for j in by_rule["neighbors"])
    assert all(j["work"]["reduce"] > 0 for j in by_rule["embed"])
    assert all(j["work"]["knn"] > 0 for j in by_rule["score"])
    assert all(j["work"]["fit"] > 0 for j in by_rule["train"])
    # what keeps small jobs small: no TensorFlow outside training, no MLflow where it is deferred
    for rule, jobs_of_rule in by_rule.items():
        for job in jobs_of_rule:
            if not rule.startswith(("train", "activations_")):
                assert "tensorflow" not in job["imported"], (rule, job["imported"])
            if rule in ("score", "raw_activations", "neighbors"):
                assert "mlflow" not in job["imported"], (rule, job["imported"])


def test_a_rate_limit_the_user_sets_is_kept(tiny_run_copy):
    from layermaps.tracking.worktime import read_invocation

    work = tiny_run_copy
    (work / "results/mnist/knn_summary.csv").unlink()
    snakemake(work, "--cores", "1", "--max-jobs-per-timespan", "50/3s", "results/mnist/knn_summary.csv")
    invocation, jobs = read_invocation(work / "results/.layermaps")
    assert [j["rule"] for j in jobs] == ["knn_summary"] and invocation["rate_limit"] == [50, 3]


def test_deferred_logging_is_applied_and_leaves_no_record(run):
    work, client, runs = run
    assert not list((work / "results/.layermaps/pending").glob("*"))
    embeds = [r for r in runs if r.data.tags.get("layermaps.rule") == "embed"]
    assert len(embeds) == len(SOURCES) * len(REDUCERS)
    for r in embeds:
        assert r.data.tags["score.status"] == "FINISHED" and r.data.tags["score.k"] == json.dumps(K)
        assert "scores.json" in {f.path for f in client.list_artifacts(r.info.run_id)}
    data = client.get_run(run_id(work / "results/mnist/data.run_id"))
    assert data.data.tags["raw_activations.status"] == "FINISHED"


def test_measured_reports_efficiency(run):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "layermaps.measured", str(run[0] / "results"), "--efficiency"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = re.search(r"\*\*efficiency (\d\.\d\d)\*\*", out)
    assert m and 0 < float(m.group(1)) <= 1, out
    n = len(SOURCES) * len(REDUCERS)
    assert re.search(rf"^\| score \| {n} \| \d+\.\d \| \d+\.\d \|", out, re.M), out
    assert "% of one core" in out
    # an earlier invocation's table: by the start of its id, as the table names it
    named = re.search(r"invocation ([0-9a-f]{8}) ", out).group(1)
    cmd = [
        sys.executable,
        "-m",
        "layermaps.measured",
        str(run[0] / "results"),
        "--efficiency",
        "--invocation",
    ]
    assert subprocess.run(cmd + [named], capture_output=True, text=True, check=True).stdout == out
    wrong = subprocess.run(cmd + ["zz"], capture_output=True, text=True)
    assert wrong.returncode == 1 and "no record of invocation 'zz'" in wrong.stderr and named in wrong.stderr


def test_measured_compares_every_map_with_another_run(run, tmp_path):
    import shutil
    import subprocess
    import sys

    results = run[0] / "results"
    other = tmp_path / "other"
    shutil.copytree(results / "mnist/scores", other / "mnist/scores")
    moved = other / "mnist/scores/seed_mlp/hidden2/umap.json"
    record = json.loads(moved.read_text())
    record["knn"]["k5"]["accuracy"] -= 0.01
    moved.write_text(json.dumps(record))

    def compare(against):
        return subprocess.run(
            [sys.executable, "-m", "layermaps.measured", str(results), "--against", str(against)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    n = len(SOURCES) * len(REDUCERS)  # every scored map, the unreduced kNN included
    same = compare(results)
    assert re.search(
        rf"^{n + len(SOURCES)} maps scored in both runs; 0 of \d+ accuracies moved", same, re.M
    ), same
    out = compare(other)
    assert re.search(r"; 1 of \d+ accuracies moved by more than 0\.005 .*the largest move is 0\.0100", out), (
        out
    )
    row = next(line for line in out.splitlines() if line.startswith("| mnist | seed_mlp/hidden2 | umap |"))
    assert row.count("**!**") == 1 and "(+0.0100) **!**" in row
