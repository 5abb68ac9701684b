"""The workflow on a real SLURM cluster (../shared/slurm/start-slurm.sh, which .ci/run starts)
through the project's SLURM profile, tracking to a real `mlflow server`: the same results and
runs as a local run of the same tiny config, every job a SLURM job asking what its rule declares."""

import csv
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from conftest import REPO, mlflow_server, snakemake, write_config, skip_unless_ci

ACCOUNT, PARTITION = os.environ.get("SLURM_ACCOUNT"), os.environ.get("SLURM_PARTITION")
pytestmark = pytest.mark.workflow
if not (shutil.which("sbatch") and shutil.which("sacct") and ACCOUNT and PARTITION):
    skip_unless_ci("no SLURM cluster: start one with `eval \"$(bash ../shared/slurm/start-slurm.sh)\"` "
                   "(as root; .ci/run does) so that sbatch, sacct, SLURM_ACCOUNT and SLURM_PARTITION exist")

# Every stage on one dataset: prepare, train, activations, graph, two reducers, scores, figures.
REDUCERS = {"pca": {}, "umap": {"n_epochs": 200}}
SLURM = ["--workflow-profile", str(REPO / "profiles/slurm"),
         "--default-resources", f"slurm_account={ACCOUNT}", f"slurm_partition={PARTITION}",
         # a short workflow: status checks from 1 s on (default 40 s), every 2 s
         "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2",
         "--jobs", "4"]
KNN_COLUMNS = ["dataset", "model", "layer", "reducer", "protocol", "policy", "k", "accuracy", "trustworthiness"]


def tiny_config(work: Path) -> None:
    path = write_config(work, datasets=["mnist"], data={"subsample": {"train": 300, "test": 100}},
                        models={"seed_mlp": {"epochs": 1}}, embed={"layers": ["hidden2"]},
                        knn={"k": [3, 5]}, threads={"train": 1, "embed": 1})
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
    return sorted((r.data.tags.get("layermaps.rule"), r.data.tags.get("layermaps.job", ""),
                   r.info.status, rules.get(r.data.tags.get("mlflow.parentRunId"), "")) for r in runs)


def sacct_jobs(since: str) -> list[dict]:
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-S", since, "-a",
                          "--format=JobID,JobName,State,Comment,ReqMem,ReqCPUS,Timelimit"],
                         capture_output=True, text=True, check=True).stdout
    keys = ["id", "name", "state", "comment", "mem", "cpus", "limit"]
    return [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny config run locally (SQLite store) and on the cluster (a tracking server)."""
    base = tmp_path_factory.mktemp("slurm")
    local, cluster = base / "local", base / "cluster"
    for work in (local, cluster):
        work.mkdir()
        tiny_config(work)
    snakemake(local, "--cores", "2")
    with mlflow_server(base / "server") as url:
        since = time.strftime("%Y-%m-%dT%H:%M:%S")
        start = time.monotonic()
        proc = snakemake(cluster, *SLURM, tracking_uri=url, timeout=1200)
        wall = time.monotonic() - start
        print(f"\nthe tiny workflow on the SLURM cluster: {wall:.0f} s")
        yield {"local": local, "cluster": cluster, "url": url, "since": since, "proc": proc, "wall": wall}


def test_every_job_but_the_local_rules_ran_as_a_slurm_job(runs):
    from layermaps.measured import dry_run_jobs

    planned = dry_run_jobs(snakemake(runs["local"], "-n", "-F", "--cores", "2").stdout)
    local_rules = {"download", "all", "knn_summary_all"}  # localrule: True (no internet on nodes)
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


def test_a_second_invocation_has_nothing_to_do(runs):
    out = snakemake(runs["cluster"], *SLURM, "-n", tracking_uri=runs["url"]).stdout
    assert "Nothing to be done" in out


def copy_of(runs, name: str, **config) -> Path:
    """The finished cluster run copied (the same tracking server), its config changed."""
    work = runs["cluster"].parent / name
    shutil.copytree(runs["cluster"], work, symlinks=True)
    path = work / "config.yaml"
    data = yaml.safe_load(path.read_text())
    for key, value in config.items():
        data[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return work


def test_a_job_failing_on_a_node_is_reported_with_its_rule_and_logs(runs):
    """UMAP asking for more neighbours than there are rows: its embed job fails on the node."""
    work = copy_of(runs, "failing", reducers={"umap": {"n_neighbors": 1000}})
    proc = snakemake(work, *SLURM, "results/mnist/embeddings/raw/umap.npz", tracking_uri=runs["url"],
                     check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Error in rule embed" in out and "results/logs/mnist/embed/raw/umap.log" in out, out[-3000:]
    assert "SLURM status is: 'FAILED'" in out and ".snakemake/slurm_logs/" in out
    assert "umap: too few neighbours" in (work / "results/logs/mnist/embed/raw/umap.log").read_text()


def test_a_cancelled_job_ends_killed_and_a_rerun_completes(runs):
    """scancel of a running training: Snakemake reports it, its MLflow run ends KILLED, and the
    next invocation completes the DAG."""
    import threading

    work = copy_of(runs, "cancelled", models={"seed_mlp": {**yaml.safe_load(
        (runs["cluster"] / "config.yaml").read_text())["models"]["seed_mlp"], "epochs": 100}})
    client = MlflowClient(runs["url"])
    exp = client.get_experiment_by_name("layermaps/mnist")
    cancelled = {}

    def cancel_the_training():
        for _ in range(600):
            running = client.search_runs([exp.experiment_id], max_results=5, filter_string=(
                "tags.`layermaps.rule` = 'train' and attributes.status = 'RUNNING'"))
            if running:
                cancelled["run"] = running[0].info.run_id
                job = subprocess.run(["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True).stdout
                ids = [line.split()[0] for line in job.splitlines() if "rule_train" in line]
                cancelled["jobs"] = ids
                subprocess.run(["scancel", *ids], check=True)
                return
            time.sleep(0.5)

    watcher = threading.Thread(target=cancel_the_training)
    watcher.start()
    proc = snakemake(work, *SLURM, "results/mnist/models/seed_mlp/metrics.json", tracking_uri=runs["url"],
                     check=False)
    watcher.join()
    out = proc.stdout + proc.stderr
    assert cancelled.get("jobs"), "no running training to cancel"
    assert proc.returncode != 0 and "Error in rule train" in out, out[-3000:]
    assert "CANCELLED" in out
    rerun = snakemake(work, *SLURM, "results/mnist/models/seed_mlp/metrics.json", tracking_uri=runs["url"])
    assert "Finished jobid" in rerun.stderr
    assert client.get_run(cancelled["run"]).info.status == "KILLED"
    assert "Nothing to be done" in snakemake(work, *SLURM, "-n", "results/mnist/models/seed_mlp/metrics.json",
                                             tracking_uri=runs["url"]).stdout
