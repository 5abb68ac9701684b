"""The data stage of both datasets through the real snakemake CLI, real MLflow store."""

import shutil

import numpy as np
import pytest
from conftest import snakemake, write_config
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def data_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("data_stage")
    write_config(work, data={"subsample": {"train": 600, "test": 200}})
    targets = ["results/mnist/data.npz", "results/fashion-mnist/data.npz"]
    first = snakemake(work, "--cores", "2", *targets)
    second = snakemake(work, "--cores", "2", *targets)
    return work, first, second


def test_data_npz_contents(data_run):
    work = data_run[0]
    for dataset, first_class in (("mnist", "0"), ("fashion-mnist", "T-shirt/top")):
        with np.load(work / "results" / dataset / "data.npz") as d:
            assert d["train_images"].shape == (600, 784) and d["train_images"].dtype == np.uint8
            assert d["test_images"].shape == (200, 784) and d["test_labels"].shape == (200,)
            assert d["class_names"][0] == first_class and len(d["class_names"]) == 10
            # stratified: every class present in proportion
            assert np.bincount(d["train_labels"], minlength=10).min() >= 40
            fit, val = d["fit_idx"], d["val_idx"]
            assert len(fit) == 500 and len(val) == 100 and not set(fit) & set(val)


def test_second_invocation_does_nothing(data_run):
    _, _, second = data_run
    assert "Nothing to be done" in second.stdout + second.stderr


def test_runs_recorded_with_tags_and_dataset_inputs(data_run):
    work = data_run[0]
    client = MlflowClient(f"sqlite:///{work}/results/mlflow.db")
    for dataset in ("mnist", "fashion-mnist"):
        exp = client.get_experiment_by_name(f"layermaps/{dataset}")
        assert exp.artifact_location == (work / "results" / "mlartifacts" / f"layermaps_{dataset}").as_uri()
        runs = client.search_runs([exp.experiment_id])
        by_rule = {r.data.tags["layermaps.rule"]: r for r in runs}
        assert set(by_rule) == {"download", "prepare"} and len(runs) == 2
        prepare = by_rule["prepare"]
        assert prepare.info.status == "FINISHED"
        assert prepare.data.params["train_size"] == "600"
        assert prepare.data.tags["dataset"] == dataset and prepare.info.run_name == "data split"
        assert (work / "results" / dataset / "data.run_id").read_text().strip() == prepare.info.run_id
        inputs = prepare.inputs.dataset_inputs
        assert {i.dataset.name for i in inputs} == {f"{dataset}-train", f"{dataset}-test"}
        assert all(i.dataset.digest for i in inputs)
        counts = client.download_artifacts(prepare.info.run_id, "class_counts.json", str(work))
        assert '"test"' in open(counts).read()
        invocations = {r.data.tags["layermaps.invocation"] for r in runs}
        assert len(invocations) == 1 and "none" not in invocations


def test_records_left_by_a_killed_workflow_are_applied_by_the_next(data_run, tmp_path):
    """A record the main process never applied (the workflow was killed before it ended) is
    applied when the next invocation starts; the job run then adds its own (raw_activations
    logs to the data run without importing MLflow)."""
    from layermaps.tracking import runlog

    work = tmp_path / "work"
    shutil.copytree(data_run[0], work, symlinks=True)
    data_run_id = (work / "results/mnist/data.run_id").read_text().strip()
    with runlog.deferred_run(
        run_id=data_run_id,
        rule="score",
        wildcards={},
        params={},
        outputs=[],
        state_dir=work / "results/.layermaps",
    ):
        runlog.log_metrics({"left_over": 1.0})
    out = snakemake(work, "--cores", "1", "results/mnist/activations/raw_train.npy")
    assert "applied 1 pending record(s)" in out.stdout + out.stderr
    run = MlflowClient(f"sqlite:///{work}/results/mlflow.db").get_run(data_run_id)
    assert run.data.metrics["left_over"] == 1.0
    assert run.data.tags["raw_activations.status"] == "FINISHED"
    assert not list((work / "results/.layermaps/pending").glob("*"))
