"""The tracking server of README "On a cluster", started by the README's own commands: MLflow's
basic-auth app on 0.0.0.0, reached by this machine's name as a compute node reaches it. Only its
user can read or write; the workflow's jobs get the credentials through their environment and
write them nowhere; a run without them, or by a host name the server refuses, stops at start-up
with one line."""

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import mlflow_process, recipe_server, snakemake, write_config
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.workflow
TINY = dict(datasets=["mnist"], data={"subsample": {"train": 300, "test": 100}})
TARGET = "results/mnist/data.npz"  # download and prepare: two jobs, two MLflow runs


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(work folder, server URL, its user and password, the server's output)."""
    base = tmp_path_factory.mktemp("auth")
    work, home = base / "work", base / "home"
    work.mkdir(), home.mkdir()
    write_config(work, **TINY)
    with recipe_server(work, home) as (_, url, log):
        user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
        password = (home / ".mlflow-password").read_text().strip()
        yield {"work": work, "url": url, "user": user, "password": password, "log": log}


def api(url: str, path: str, body: dict | None = None, auth: tuple | None = None) -> int:
    """The HTTP status of one request to the server's REST API."""
    request = urllib.request.Request(
        url + "/api/2.0/mlflow/" + path,
        method="POST" if body else "GET",
        data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json"},
    )
    if auth:
        token = base64.b64encode(":".join(auth).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status
    except urllib.error.HTTPError as err:
        return err.code


def test_only_its_user_may_read_or_write(server):
    url, me = server["url"], (server["user"], server["password"])
    assert api(url, "experiments/search?max_results=5") == 401  # no credentials
    assert api(url, "experiments/create", {"name": "intruder"}) == 401
    assert api(url, "experiments/create", {"name": "intruder"}, auth=(me[0], "wrong")) == 401
    assert api(url, "experiments/create", {"name": "mine"}, auth=me) == 200
    # a second user, as the admin may add: MLflow's default is to let it read every experiment;
    # the README's default_permission lets it see nothing it was not given
    other = ("other", "other-password-123")
    assert api(url, "users/create", {"username": other[0], "password": other[1]}, auth=me) == 200
    exp_id = as_user(me, lambda: MlflowClient(url).get_experiment_by_name("mine").experiment_id)
    assert api(url, f"experiments/get?experiment_id={exp_id}", auth=other) == 403
    assert api(url, "runs/create", {"experiment_id": exp_id}, auth=other) == 403


def as_user(credentials: tuple, call):
    """call() with MLflow's client given these credentials (it reads them from the environment)."""
    os.environ.update(zip(("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"), credentials))
    try:
        return call()
    finally:
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            os.environ.pop(name)


def one_line_refusal(proc, work: Path) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "Traceback" not in out and 'File "' not in out, out[-3000:]
    assert not (work / "results/mnist/raw").exists()  # no job ran
    (line,) = [line for line in out.splitlines() if line.startswith("layermaps: ")]
    return line


def test_a_run_without_credentials_stops_at_start_up_with_one_line(server, tmp_path):
    write_config(tmp_path, **TINY)
    proc = snakemake(tmp_path, "--cores", "1", TARGET, tracking_uri=server["url"], check=False)
    line = one_line_refusal(proc, tmp_path)
    assert line == (
        f"layermaps: MLFLOW_TRACKING_URI={server['url']}: the MLflow tracking server "
        "refuses this workflow's requests (HTTP 401: it asks for credentials and "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD are not set); export "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD: a user of its "
        'basic-auth app (README "On a cluster")'
    )


def test_wrong_credentials_stop_at_start_up_with_one_line(server, tmp_path):
    write_config(tmp_path, **TINY)
    env = {"MLFLOW_TRACKING_USERNAME": server["user"], "MLFLOW_TRACKING_PASSWORD": "not-it"}
    proc = snakemake(tmp_path, "--cores", "1", TARGET, tracking_uri=server["url"], check=False, env=env)
    line = one_line_refusal(proc, tmp_path)
    assert (
        f"refuses this workflow's requests (HTTP 401: it does not accept the credentials of "
        f"MLFLOW_TRACKING_USERNAME={server['user']}); check MLFLOW_TRACKING_USERNAME and "
        f"MLFLOW_TRACKING_PASSWORD"
    ) in line
    assert "not-it" not in proc.stdout + proc.stderr


def test_a_server_that_refuses_the_host_name_stops_the_run_with_one_line(tmp_path):
    """MLflow's default --allowed-hosts (localhost and private IPs): its /health answers the
    host name, its API does not (403 Invalid Host header), which used to fail the first job."""
    write_config(tmp_path, **TINY)
    with mlflow_process("server", tmp_path / "server/mlflow.db", "--workers", "1", host="0.0.0.0") as (
        url,
        _,
    ):
        assert urllib.request.urlopen(url + "/health", timeout=60).status == 200
        assert api(url, "experiments/search?max_results=1") == 403
        proc = snakemake(tmp_path, "--cores", "1", TARGET, tracking_uri=url, check=False)
    line = one_line_refusal(proc, tmp_path)
    netloc = url.removeprefix("http://")
    assert line == (
        f"layermaps: MLFLOW_TRACKING_URI={url}: the MLflow tracking server refuses "
        f"this workflow's requests (HTTP 403 Invalid Host header: it does not accept "
        f"the host name {netloc}); start it with --allowed-hosts {netloc} (README "
        f'"On a cluster"), or name it in MLFLOW_TRACKING_URI by a host it accepts'
    )


def test_with_credentials_the_jobs_track_and_write_them_nowhere(server):
    """The jobs reach the server by its host name with the README's credentials; the password is
    in no log, param, tag or file of the run, nor in the store."""
    work, url = server["work"], server["url"]
    env = dict(
        zip(("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"), (server["user"], server["password"]))
    )
    proc = snakemake(work, "--cores", "1", TARGET, tracking_uri=url, env=env)
    client = MlflowClient(url)
    runs = as_user(
        (server["user"], server["password"]),
        lambda: client.search_runs([client.get_experiment_by_name("layermaps/mnist").experiment_id]),
    )
    assert sorted((r.data.tags["layermaps.rule"], r.info.status) for r in runs) == [
        ("download", "FINISHED"),
        ("prepare", "FINISHED"),
    ]
    secret = server["password"]
    for run in runs:
        assert secret not in json.dumps([run.data.params, run.data.tags])
    assert secret not in proc.stdout + proc.stderr
    leaks = [p for p in work.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaks == []  # logs, .snakemake, results, the server's store and artifacts
    assert secret not in server["log"].read_text()
