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
from layermaps.tracking.display import describe
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


# MLflow 3 opens an experiment on the page its kind names; without one it guesses GenAI and shows
# an empty traces overview. These are model-training experiments (the tag is the one the UI's
# "experiment type" setting writes).
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
# MLflow 3.17's UI takes the kind from its sidebar switch (GenAI / Model training; GenAI unless
# the browser remembers a flip) whenever that switch is shown, which it always is; an
# experiment's page can select "Model training" in its URL. `make ui` prints such a link per
# experiment (ui_links).
UI_RUNS = "#/experiments/{id}/runs?workflowType=machine_learning"


def ui_links(uri: str, base: str) -> list[tuple[str, str]]:
    """(experiment name, the UI link that opens its runs table) for every layermaps experiment."""
    client = MlflowClient(uri)
    return [(e.name, base.rstrip("/") + "/" + UI_RUNS.format(id=e.experiment_id))
            for e in client.search_experiments() if e.name != "Default"]


def get_or_create_experiment(client: MlflowClient, name: str, artifact_root: str | None) -> str:
    for attempt in range(5):
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                client.restore_experiment(exp.experiment_id)
            return exp.experiment_id
        try:
            return client.create_experiment(name, artifact_location=artifact_location(name, artifact_root),
                                            tags=EXPERIMENT_TAGS)
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


# A job finds the server gone (it answered in onstart): the job did no work yet.
JOB_HINT = ("it answered when the workflow started, so it stopped or became unreachable since. "
            "Start it again (README \"On a cluster\") and rerun snakemake: this job did no work, "
            "finished jobs are kept")


class TrackingLost(TrackingUnreachable):
    """The tracking server stopped answering while a job ran."""


def server_problem(uri: str, timeout: float = 10.0) -> str | None:
    """Why the tracking server at `uri` does not answer its /health ("OK"), or None; None also
    for a local store (sqlite, file), which is not checked."""
    import socket
    import urllib.error
    import urllib.request

    if not uri.startswith(("http://", "https://")):
        return None
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            if reply.status == 200:
                return None
            return f"HTTP {reply.status}"
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code} from {url}: is it an MLflow server?"
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return f"no answer from {url} within {timeout:g} s"
        return str(reason)


def check_server(uri: str, timeout: float = 10.0, hint: str = SERVER_HINT) -> None:
    """A tracking server must answer before any job is submitted (onstart), and before a job
    starts its work: every job (on any node) logs to it."""
    why = server_problem(uri, timeout)
    if why:
        raise TrackingUnreachable(f"{URI_ENV}={uri}: the MLflow tracking server does not answer "
                                  f"({why}); " + hint)


def _gone(uri: str) -> str | None:
    """Why the server stopped answering (a quick look), or None. When it did, this job's last
    MLflow calls (ending its run) try once, briefly, instead of MLflow's retries."""
    why = server_problem(uri, timeout=3.0)
    if why:
        os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="2")
    return why


def init_store(uri: str, artifact_root: str | None, experiments: list[str]) -> None:
    """Create (or upgrade) the store and the experiments once, before any job starts."""
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(uri)
    for name in experiments:
        experiment_id = get_or_create_experiment(client, name, artifact_root)
        tags = client.get_experiment(experiment_id).tags
        for key, value in EXPERIMENT_TAGS.items():  # an experiment made before the kind was set
            if key not in tags:
                client.set_experiment_tag(experiment_id, key, value)


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
    check_server(uri, timeout=5.0, hint=JOB_HINT)  # before the job's work: a server gone since onstart
    client = MlflowClient(uri)
    experiment_id = get_or_create_experiment(client, experiment, os.environ.get(ARTIFACT_ROOT_ENV))
    key = job_key(rule, wildcards)
    tags = {**(tags or {}), **job_tags(rule, wildcards, outputs, wildcard_tags=False)}
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    tags.setdefault("mlflow.note.content", describe(rule, wildcards, outputs))  # the run's description
    run_id = client.create_run(experiment_id, run_name=run_name or key, tags=tags).info.run_id
    for old, old_status in retire_earlier_runs(client, experiment_id, key, tags[OUTPUTS_TAG], run_id):
        log(f"[tracking] run {old} ({old_status}) of an earlier attempt of {key} is "
            f"superseded by {run_id}: tagged and moved out of the default view")

    def on_sigterm(signum, frame):
        raise JobKilled(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    status, lost = "FAILED", None  # lost: why the server stopped answering during the job
    try:
        with mlflow.start_run(run_id=run_id):
            if params:
                mlflow.log_params(flatten(params))
            try:
                yield mlflow.active_run()
                status = "FINISHED"
            except BaseException as err:
                status = "KILLED" if isinstance(err, (JobKilled, KeyboardInterrupt)) else "FAILED"
                lost = _gone(uri) if isinstance(err, (Exception, JobKilled)) else None
                raise
            finally:
                with contextlib.suppress(*((MlflowException,) if lost else ())):
                    mlflow.end_run(status)
    except MlflowException as err:  # MLflow gave up on the server (its retries are short: HTTP_ENV)
        lost = lost or _gone(uri)
        if not lost:
            raise
        log(f"[tracking] MLflow: {err}")
        raise TrackingLost(
            f"{URI_ENV}={uri}: the MLflow tracking server stopped answering during this job ({lost}); "
            f"its run {run_id} is left RUNNING there. Start the server again and rerun snakemake: "
            f"this job reruns (and ends that run KILLED), finished jobs are kept") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        if status != "FINISHED":
            # start_run's own exit may have overwritten our status; the store must say the truth
            with contextlib.suppress(*((MlflowException,) if lost else ())):
                client.set_terminated(run_id, status)
            log(f"[tracking] {rule} ended {status} (run {run_id})"
                + (" (not recorded: the tracking server does not answer)" if lost else ""))
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
    uri = os.environ.get(URI_ENV) or mlflow.get_tracking_uri()
    kept = (f"[tracking] kept the pending records (the next run applies them): {URI_ENV}={uri} "
            f"does not answer")
    if why := server_problem(uri):
        log(f"{kept} ({why})")
        return 0
    client = MlflowClient(uri)
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
            if why := server_problem(uri, timeout=5.0):  # the server went away: keep the rest
                log(f"{kept} ({why})")
                break
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


if __name__ == "__main__":  # `make ui`: python -m layermaps.tracking.store <store uri> <ui url>
    import sys

    for name, link in ui_links(sys.argv[1], sys.argv[2]):
        print(f"  {name}: {link}")
