"""The workflow against a real `mlflow server` (a team server): MLFLOW_TRACKING_URI reaches
every job through the environment, runs and artifacts land on the server, nothing local."""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import snakemake, write_config

pytestmark = pytest.mark.workflow


@pytest.fixture
def server(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = tmp_path / "server"
    store.mkdir()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{store}/mlflow.db", "--artifacts-destination", str(store / "artifacts"),
         "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not start")
        yield url, store
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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
