"""The workflow against a real `mlflow server` (a team server): MLFLOW_TRACKING_URI reaches
every job through the environment, runs and artifacts land on the server, nothing local."""

import socket

import pytest
from conftest import mlflow_server, snakemake, write_config
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.workflow


@pytest.fixture
def server(tmp_path):
    with mlflow_server(tmp_path / "server") as url:
        yield url, tmp_path / "server"


def test_data_stage_tracks_to_the_server(tmp_path, server):
    url, store = server
    work = tmp_path / "work"
    work.mkdir()
    write_config(work, datasets=["mnist"], data={"subsample": {"train": 300, "test": 100}})
    snakemake(work, "--cores", "2", "results/mnist/data.npz", tracking_uri=url)
    client = MlflowClient(url)
    exp = client.get_experiment_by_name("layermaps/mnist")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["layermaps.rule"] for r in runs) == ["download", "prepare"]
    prepare = next(r for r in runs if r.data.tags["layermaps.rule"] == "prepare")
    assert (work / "results/mnist/data.run_id").read_text().strip() == prepare.info.run_id
    assert "class_counts.json" in {a.path for a in client.list_artifacts(prepare.info.run_id)}
    assert list((store / "artifacts").rglob("class_counts.json")), "artifacts went to the server"
    assert not (work / "results/mlflow.db").exists() and not (work / "results/mlartifacts").exists()


def test_an_unreachable_server_stops_the_run_before_any_job(tmp_path):
    """onstart asks the server first: one message naming the setting and what to start."""
    write_config(tmp_path, datasets=["mnist"], data={"subsample": {"train": 300, "test": 100}})
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    proc = snakemake(tmp_path, "--cores", "1", "results/mnist/data.npz", tracking_uri=url, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"MLFLOW_TRACKING_URI={url}: the MLflow tracking server does not answer" in out, out[-3000:]
    assert "mlflow server --host" in out and "unset MLFLOW_TRACKING_URI" in out
    assert "Traceback" not in out
    assert not (tmp_path / "results/mnist/raw").exists()  # no job ran
