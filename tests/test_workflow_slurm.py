"""The workflow on a real SLURM cluster (../shared/slurm/start-slurm.sh, which .ci/run starts)
through the project's SLURM profile, by the commands of README "On a cluster" as written: a real
`mlflow server` with MLflow's basic-auth app, reached by this machine's name as a compute node
reaches it, its credentials given to every job through the environment. The same results and
runs as a local run of the same tiny config, every job a SLURM job asking what its rule declares."""

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SHARED_DATA, recipe_server, skip_unless_ci, snakemake, write_config
from mlflow.tracking import MlflowClient

ACCOUNT, PARTITION = os.environ.get("SLURM_ACCOUNT"), os.environ.get("SLURM_PARTITION")
pytestmark = pytest.mark.workflow
if not (shutil.which("sbatch") and shutil.which("sacct") and ACCOUNT and PARTITION):
    skip_unless_ci(
        'no SLURM cluster: start one with `eval "$(bash ../shared/slurm/start-slurm.sh)"` '
        "(as root; .ci/run does) so that sbatch, sacct, SLURM_ACCOUNT and SLURM_PARTITION exist"
    )

# Every stage on one dataset: prepare, train, activations, graph, two reducers, scores, figures.
REDUCERS = {"pca": {}, "umap": {"n_epochs": 200}}
# a short workflow: status checks from 1 s on (default 40 s), every 2 s
CHECKS = [
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--seconds-between-status-checks",
    "2",
    "--jobs",
    "4",
]
SLURM = [
    "--workflow-profile",
    str(REPO / "profiles/slurm"),
    "--default-resources",
    f"slurm_account={ACCOUNT}",
    f"slurm_partition={PARTITION}",
    *CHECKS,
]
AUTH_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
KNN_COLUMNS = [
    "dataset",
    "model",
    "layer",
    "reducer",
    "protocol",
    "policy",
    "k",
    "accuracy",
    "trustworthiness",
]


def tiny_config(work: Path) -> None:
    path = write_config(
        work,
        datasets=["mnist"],
        data={"subsample": {"train": 300, "test": 100}},
        models={"seed_mlp": {"epochs": 1}},
        embed={"layers": ["hidden2"]},
        knn={"k": [3, 5]},
        threads={"train": 1, "embed": 1},
        # no layer measures or compare pages: 12 of the 44 jobs, ordinary script jobs that the
        # cluster runs as it runs the others (tests/test_workflow_measures.py runs them)
        measures={"studies": []},
    )
    config = yaml.safe_load(path.read_text())
    config["sweeps"], config["reducers"] = {}, REDUCERS  # the seed MLP only, two reducers
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def knn_rows(work: Path) -> list[dict]:
    with open(work / "results/knn_summary.csv", newline="") as f:
        return [{k: row[k] for k in KNN_COLUMNS} for row in csv.DictReader(f)]


def run_tree(client: MlflowClient, experiment: str) -> list[tuple]:
    """(rule, wildcards, status, parent's rule) of every current run of an experiment."""
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    rules = {r.info.run_id: r.data.tags.get("layermaps.rule") for r in runs}
    return sorted(
        (
            r.data.tags.get("layermaps.rule"),
            r.data.tags.get("layermaps.job", ""),
            r.info.status,
            rules.get(r.data.tags.get("mlflow.parentRunId"), ""),
        )
        for r in runs
    )


def sacct_jobs(since: str) -> list[dict]:
    out = subprocess.run(
        [
            "sacct",
            "-X",
            "-n",
            "-P",
            "-S",
            since,
            "-a",
            "--format=JobID,JobName,State,Comment,ReqMem,ReqCPUS,Timelimit",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keys = ["id", "name", "state", "comment", "mem", "cpus", "limit"]
    return [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny config run locally (SQLite store) and on the cluster by README "On a cluster"'s
    commands (its tracking server, its credentials). The tests' own MLflow clients and snakemake
    runs get the credentials through this process's environment while the module runs."""
    base = tmp_path_factory.mktemp("slurm")
    local, cluster, home = base / "local", base / "cluster", base / "home"
    for work in (local, cluster, home):
        work.mkdir()
    for work in (local, cluster):
        tiny_config(work)
    snakemake(local, "--cores", "2")
    with recipe_server(cluster, home) as (commands, url, server_log):
        user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
        password = (home / ".mlflow-password").read_text().strip()
        os.environ.update(zip(AUTH_ENV, (user, password)))
        try:
            # the README's commands: its account, partition and port filled in; the test's checks
            script = (
                commands.replace("ACCOUNT", ACCOUNT).replace("PARTITION", PARTITION)
                + " "
                + " ".join(["-s", str(REPO / "Snakefile"), *CHECKS])
            )
            env = {
                **os.environ,
                "HOME": str(home),
                "LAYERMAPS_DATA_MIRROR": f"file://{SHARED_DATA}",
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
            }
            for name in (*AUTH_ENV, "MLFLOW_TRACKING_URI"):  # the README's commands set them
                env.pop(name, None)
            since = time.strftime("%Y-%m-%dT%H:%M:%S")
            start = time.monotonic()
            proc = subprocess.run(
                ["bash", "-ec", script], cwd=cluster, env=env, text=True, capture_output=True, timeout=1200
            )  # a hang guard only
            wall = time.monotonic() - start
            assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
            print(f"\nthe tiny workflow on the SLURM cluster: {wall:.0f} s")
            yield {
                "local": local,
                "cluster": cluster,
                "url": url,
                "since": since,
                "proc": proc,
                "wall": wall,
                "password": password,
                "server_log": server_log,
            }
        finally:
            for name in AUTH_ENV:
                os.environ.pop(name, None)


def test_every_job_but_the_local_rules_ran_as_a_slurm_job(runs):
    from layermaps.measured import dry_run_jobs

    planned = dry_run_jobs(snakemake(runs["local"], "-n", "-F", "--cores", "2").stdout)
    local_rules = {
        "download",
        "all",
        "knn_summary_all",
        "measures_table",
    }  # localrule: True (no internet on nodes)
    expected = sorted(rule for rule, _ in planned if rule not in local_rules)
    jobs = [j for j in sacct_jobs(runs["since"]) if j["comment"].startswith("rule_")]
    ran = sorted(j["comment"].removeprefix("rule_").split("_wildcards_")[0] for j in jobs)
    assert ran == expected
    assert all(j["state"] == "COMPLETED" for j in jobs)
    assert len({j["name"] for j in jobs}) == 1  # named after the one Snakemake run


def test_each_job_asked_for_the_threads_and_memory_its_rule_declares(runs):
    from layermaps.measured import dry_run_jobs

    declared = {}
    for rule, fields in dry_run_jobs(snakemake(runs["local"], "-n", "-F", "--cores", "2").stdout):
        res = dict(p.split("=", 1) for p in fields.get("resources", "").split(", ") if "=" in p)
        if "mem_mb" in res:  # `all` (a local target rule) asks for nothing
            declared[rule] = (int(fields.get("threads", 1)), int(res["mem_mb"]), int(res["runtime"]))
    jobs = [j for j in sacct_jobs(runs["since"]) if j["comment"].startswith("rule_")]  # Snakemake's
    assert jobs
    for job in jobs:
        rule = job["comment"].removeprefix("rule_").split("_wildcards_")[0]
        threads, mem_mb, minutes = declared[rule]
        assert int(job["cpus"]) == threads, job
        assert job["mem"] == f"{mem_mb}M", job
        assert job["limit"] == f"{minutes // 60:02d}:{minutes % 60:02d}:00", job


def test_the_knn_summary_equals_the_local_runs(runs):
    assert knn_rows(runs["cluster"]) == knn_rows(runs["local"])


def test_every_run_finished_and_nests_as_in_a_local_run(runs):
    local = run_tree(MlflowClient(f"sqlite:///{runs['local']}/results/mlflow.db"), "layermaps/mnist")
    cluster = run_tree(MlflowClient(runs["url"]), "layermaps/mnist")
    assert cluster == local
    assert {status for _, _, status, _ in cluster} == {"FINISHED"}


def test_the_credentials_reached_every_job_and_are_written_nowhere(runs):
    """Every job logged to the basic-auth server (every run FINISHED, above): the credentials the
    README exports reached each SLURM job through its environment. The password is in no run's
    params or tags, no file of the run (job and SLURM logs, .snakemake, the server's store and
    artifacts), not on the terminal and not in a job's submit line."""
    secret = runs["password"]
    client = MlflowClient(runs["url"])
    exp = client.get_experiment_by_name("layermaps/mnist")
    for run in client.search_runs([exp.experiment_id], max_results=1000):
        assert secret not in json.dumps([run.data.params, run.data.tags])
    leaks = [p for p in runs["cluster"].rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaks == []
    assert secret not in runs["proc"].stdout + runs["proc"].stderr
    submitted = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", runs["since"], "-a", "--format=SubmitLine%2000"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "sbatch" in submitted and secret not in submitted
    assert '" 401' not in runs["server_log"].read_text()  # no request went without them


def test_a_second_invocation_has_nothing_to_do(runs):
    out = snakemake(runs["cluster"], *SLURM, "-n", tracking_uri=runs["url"]).stdout
    assert "Nothing to be done" in out


def copy_of(runs, name: str | Path, **config) -> Path:
    """The finished cluster run copied (the same tracking server), its config changed."""
    work = runs["cluster"].parent / name
    shutil.copytree(runs["cluster"], work, symlinks=True)
    set_config(work, **config)
    return work


def set_config(work: Path, **config) -> None:
    path = work / "config.yaml"
    data = yaml.safe_load(path.read_text())
    for key, value in config.items():
        data[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_job_failing_on_a_node_is_reported_with_its_rule_and_logs(runs):
    """UMAP asking for more neighbours than there are rows: its embed job fails on the node."""
    work = copy_of(runs, "failing", reducers={"umap": {"n_neighbors": 1000}})
    proc = snakemake(
        work, *SLURM, "results/mnist/embeddings/raw/umap.npz", tracking_uri=runs["url"], check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Error in rule embed" in out and "results/logs/mnist/embed/raw/umap.log" in out, out[-3000:]
    assert "SLURM status is: 'FAILED'" in out and ".snakemake/slurm_logs/" in out
    assert "umap: too few neighbours" in (work / "results/logs/mnist/embed/raw/umap.log").read_text()


def test_a_cancelled_job_ends_killed_and_a_rerun_completes(runs, tmp_path):
    """scancel of a running training: Snakemake reports it, its MLflow run ends KILLED, and the
    next invocation completes the DAG. Nothing here depends on timing: the training is given
    more epochs than it could run in a day, so it is still at work when its run is seen RUNNING
    and cancelled (SIGTERM ends the run KILLED wherever it lands: tests/test_tracking.py); the
    rerun trains the configured epoch. The time limits only keep a hang from hanging the suite."""
    import threading

    model = yaml.safe_load((runs["cluster"] / "config.yaml").read_text())["models"]["seed_mlp"]
    work = copy_of(runs, tmp_path / "cancelled", models={"seed_mlp": {**model, "epochs": 10**6}})
    target = "results/mnist/models/seed_mlp/metrics.json"
    client = MlflowClient(runs["url"])
    exp = client.get_experiment_by_name("layermaps/mnist")
    cancelled, done = {}, threading.Event()

    def training_run():
        return client.search_runs(
            [exp.experiment_id],
            max_results=5,
            filter_string=("tags.`layermaps.rule` = 'train' and attributes.status = 'RUNNING'"),
        )

    def cancel_the_training():
        while not done.wait(0.5):  # until the training runs, or snakemake ended without one
            if running := training_run():
                queue = subprocess.run(
                    ["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True, check=True
                ).stdout
                ids = [line.split()[0] for line in queue.splitlines() if "rule_train" in line]
                cancelled.update(run=running[0].info.run_id, jobs=ids)
                subprocess.run(["scancel", *ids], check=True)
                return

    watcher = threading.Thread(target=cancel_the_training)
    watcher.start()
    try:
        proc = snakemake(work, *SLURM, target, tracking_uri=runs["url"], check=False, timeout=1800)
    finally:
        done.set()
        watcher.join()
    out = proc.stdout + proc.stderr
    assert cancelled.get("jobs"), "no running training to cancel:\n" + out[-3000:]
    assert proc.returncode != 0 and "Error in rule train" in out, out[-3000:]
    assert "CANCELLED" in out
    # the job's processes end after the cancel is reported: its run leaves RUNNING when they do
    deadline = time.monotonic() + 600
    while client.get_run(cancelled["run"]).info.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert client.get_run(cancelled["run"]).info.status == "KILLED"
    set_config(work, models={"seed_mlp": model})
    rerun = snakemake(work, *SLURM, target, tracking_uri=runs["url"])
    assert "Finished jobid" in rerun.stderr
    again = snakemake(work, *SLURM, "-n", target, tracking_uri=runs["url"])
    assert "Nothing to be done" in again.stdout
