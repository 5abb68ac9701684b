"""MLflow tracking shared by every workflow job: the store, one run per job, run-id files.

Facts this module is built around (ARCHITECTURE.md): a fresh SQLite store hit by several jobs
at once fails with migration races, so `init_store` runs once before any job; MLFLOW_RUN_ID
in a job's environment would make start_run resume that run, so it is removed; a job killed
by SIGTERM would leave its run RUNNING forever, so the signal ends it KILLED.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import warnings
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from layermaps.atomic import write_text
from layermaps.tracking.runlog import JOB_TAG, OUTPUTS_TAG, flatten, job_key, job_tags

# Environment variables the Snakefile sets for every job (envvars:), never params: a value
# that changes per invocation in params: would rerun every job every time.
URI_ENV = "MLFLOW_TRACKING_URI"
ARTIFACT_ROOT_ENV = "LAYERMAPS_ARTIFACT_ROOT"
SUPERSEDED_TAG = "layermaps.superseded_by"


class JobKilled(BaseException):
    """Raised inside a job by SIGTERM, so its run can be ended KILLED on the way out."""


def artifact_location(experiment: str, artifact_root: str | None) -> str | None:
    """Explicit artifact folder per experiment for the local store; a server decides its own."""
    if not artifact_root:
        return None
    return Path(artifact_root, experiment.replace("/", "_")).resolve().as_uri()


def get_or_create_experiment(client: MlflowClient, name: str, artifact_root: str | None) -> str:
    for attempt in range(5):
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                client.restore_experiment(exp.experiment_id)
            return exp.experiment_id
        try:
            return client.create_experiment(name, artifact_location=artifact_location(name, artifact_root))
        except MlflowException:  # another process created it first: read it back
            time.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"could not create or find the MLflow experiment {name!r}")


SERVER_HINT = (
    "start it on the submit host (README \"On a cluster\"), e.g.\n"
    "  mlflow server --host 0.0.0.0 --port 5000 --backend-store-uri sqlite:///$PWD/results/mlflow.db "
    "--artifacts-destination $PWD/results/mlartifacts\n"
    "or unset MLFLOW_TRACKING_URI to track into the local store (results/mlflow.db: one machine only)")


class TrackingUnreachable(RuntimeError):
    """The tracking server named by MLFLOW_TRACKING_URI does not answer."""

    expected = True  # a setting or a server to start: one message, no traceback


def check_server(uri: str, timeout: float = 10.0) -> None:
    """A tracking server must answer before any job is submitted: every job (on any node)
    logs to it. Its /health endpoint answers "OK". A local store (sqlite, file) is not checked."""
    import urllib.error
    import urllib.request

    if not uri.startswith(("http://", "https://")):
        return
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            if reply.status == 200:
                return
            why = f"HTTP {reply.status}"
    except urllib.error.HTTPError as err:
        why = f"HTTP {err.code} from {url}: is it an MLflow server?"
    except (OSError, ValueError) as err:
        why = str(getattr(err, "reason", err))
    raise TrackingUnreachable(f"{URI_ENV}={uri}: the MLflow tracking server does not answer ({why}); "
                              + SERVER_HINT)


def init_store(uri: str, artifact_root: str | None, experiments: list[str]) -> None:
    """Create (or upgrade) the store and the experiments once, before any job starts."""
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(uri)
    for name in experiments:
        get_or_create_experiment(client, name, artifact_root)


def retire_earlier_runs(client: MlflowClient, experiment_id: str, key: str, outputs: str,
                        successor: str) -> list[tuple[str, str]]:
    """Earlier runs of this job (same rule, wildcards and outputs) describe outputs that the
    run `successor` now replaces. A RUNNING one is a leftover of an attempt that died: it ends
    KILLED. Each is tagged with its successor and soft-deleted (out of the UI's default view,
    restorable), so the UI shows exactly one current run per output. -> [(run id, status)]"""
    earlier = client.search_runs([experiment_id], filter_string=f"tags.`{JOB_TAG}` = '{key}'",
                                 max_results=10_000)
    retired = []
    for run in earlier:
        run_id = run.info.run_id
        if run_id == successor or run.data.tags.get(OUTPUTS_TAG) != outputs:
            continue
        if run.info.status == "RUNNING":
            client.set_terminated(run_id, "KILLED")
        client.set_tag(run_id, SUPERSEDED_TAG, successor)
        client.delete_run(run_id)
        retired.append((run_id, "KILLED" if run.info.status == "RUNNING" else run.info.status))
    return retired


@contextlib.contextmanager
def job_run(*, experiment: str, rule: str, wildcards: dict, params: dict, outputs: list[str],
            run_id_file: str | Path | None = None, parent_run_id: str | None = None,
            run_name: str | None = None, tags: dict | None = None, log=print):
    """One MLflow run for one workflow job, ended FINISHED, FAILED or KILLED as the job ends.

    The run id is written to `run_id_file` only when the job succeeds, so downstream jobs can
    name their upstream run (parent_run_id) and a failed job leaves no id behind. (Jobs that
    add to another job's run do not come here: layermaps.tracking.runlog.deferred_run.)
    """
    if os.environ.pop("MLFLOW_RUN_ID", None):
        log("[tracking] ignoring MLFLOW_RUN_ID from the environment (it would resume that run)")
    uri = os.environ.get(URI_ENV) or mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment_id = get_or_create_experiment(client, experiment, os.environ.get(ARTIFACT_ROOT_ENV))
    key = job_key(rule, wildcards)
    tags = {**(tags or {}), **job_tags(rule, wildcards, outputs)}
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    run_id = client.create_run(experiment_id, run_name=run_name or key, tags=tags).info.run_id
    for old, old_status in retire_earlier_runs(client, experiment_id, key, tags[OUTPUTS_TAG], run_id):
        log(f"[tracking] run {old} ({old_status}) of an earlier attempt of {key} is "
            f"superseded by {run_id}: tagged and moved out of the default view")

    def on_sigterm(signum, frame):
        raise JobKilled(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    status = "FAILED"
    try:
        with mlflow.start_run(run_id=run_id):
            if params:
                mlflow.log_params(flatten(params))
            try:
                yield mlflow.active_run()
                status = "FINISHED"
            except (JobKilled, KeyboardInterrupt):
                status = "KILLED"
                raise
            finally:
                mlflow.end_run(status)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if status != "FINISHED":
            # start_run's own exit may have overwritten our status; the store must say the truth
            client.set_terminated(run_id, status)
            log(f"[tracking] {rule} ended {status} (run {run_id})")
    if run_id_file:
        write_text(run_id_file, run_id + "\n")
    log(f"[tracking] run {run_id} FINISHED ({experiment})")


def apply_pending(state_dir: str | Path, log=print) -> int:
    """Log every pending record (layermaps.tracking.runlog) to its run, oldest first; -> records applied.

    A record whose run is gone (deleted, or superseded by a rerun of its upstream job) is
    dropped with a line in the log: the files it describes were remade for the new run.
    """
    from mlflow.entities import Metric, RunTag

    pending = sorted(Path(state_dir, "pending").glob("*.json"))
    if not pending:
        return 0
    client = MlflowClient(os.environ.get(URI_ENV) or mlflow.get_tracking_uri())
    applied = 0
    for path in pending:
        record = json.loads(path.read_text())
        run_id = record["run_id"]
        try:
            if client.get_run(run_id).info.lifecycle_stage != "active":
                raise MlflowException(f"run {run_id} is deleted")
            metrics = [Metric(k, v, ts, 0) for k, (v, ts) in record["metrics"].items()]
            tags = [RunTag(k, v) for k, v in record["tags"].items()]
            for i in range(0, max(len(metrics), len(tags)), 100):  # MLflow's batch limits
                client.log_batch(run_id, metrics=metrics[i:i + 100], tags=tags[i:i + 100])
            for name, obj in record["dicts"].items():
                client.log_dict(run_id, obj, name)
            for file, folder in record["artifacts"]:
                if Path(file).is_file():
                    client.log_artifact(run_id, file, folder)
            applied += 1
        except MlflowException as err:
            log(f"[tracking] dropped what {record['rule']} logged for run {run_id}: {err}")
        path.unlink()
    log(f"[tracking] applied {applied} pending record(s) to MLflow")
    return applied


def log_dataset(dataset: str, arrays: dict, source: str) -> None:
    """Log the prepared training and test sets as MLflow dataset inputs, with class counts."""
    import numpy as np

    for split, context in (("train", "training"), ("test", "testing")):
        with warnings.catch_warnings():  # MLflow registers two identical local-file sources
            warnings.filterwarnings("ignore", message="The specified dataset source")
            ds = mlflow.data.from_numpy(arrays[f"{split}_images"], targets=arrays[f"{split}_labels"],
                                        source=source, name=f"{dataset}-{split}")
        mlflow.log_input(ds, context=context)
    counts = {split: {str(name): int(n) for name, n in zip(
        arrays["class_names"], np.bincount(arrays[f"{split}_labels"], minlength=len(arrays["class_names"])))}
        for split in ("train", "test")}
    mlflow.log_dict(counts, "class_counts.json")
    mlflow.log_metrics({"n_train": len(arrays["train_labels"]), "n_test": len(arrays["test_labels"]),
                        "n_fit": len(arrays["fit_idx"]), "n_val": len(arrays["val_idx"])})
