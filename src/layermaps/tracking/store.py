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
    return [
        (e.name, base.rstrip("/") + "/" + UI_RUNS.format(id=e.experiment_id))
        for e in client.search_experiments()
        if e.name != "Default"
    ]


def get_or_create_experiment(client: MlflowClient, name: str, artifact_root: str | None) -> str:
    for attempt in range(5):
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                client.restore_experiment(exp.experiment_id)
            return exp.experiment_id
        try:
            return client.create_experiment(
                name, artifact_location=artifact_location(name, artifact_root), tags=EXPERIMENT_TAGS
            )
        except MlflowException:  # another process created it first: read it back
            time.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"could not create or find the MLflow experiment {name!r}")


SERVER_HINT = (
    'start it on the submit host as README "On a cluster" shows (mlflow server --host 0.0.0.0 '
    "--port 5000 --allowed-hosts $(hostname):5000 --app-name basic-auth ...), or unset "
    "MLFLOW_TRACKING_URI to track into the local store (results/mlflow.db: one machine only)"
)
# The credentials of a server's basic-auth app, as MLflow's client reads them. They reach jobs
# through the environment only (envvars:): never params, tags, logs or a command line.
AUTH_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


class TrackingUnreachable(RuntimeError):
    """The tracking server named by MLFLOW_TRACKING_URI does not answer."""

    expected = True  # a setting or a server to start: one message, no traceback


# A job finds the server gone (it answered in onstart): the job did no work yet.
JOB_HINT = (
    "it answered when the workflow started, so it stopped or became unreachable since. "
    'Start it again (README "On a cluster") and rerun snakemake: this job did no work, '
    "finished jobs are kept"
)


class TrackingLost(TrackingUnreachable):
    """The tracking server stopped answering while a job ran."""


class TrackingRefused(TrackingUnreachable):
    """The tracking server answers but refuses the workflow's requests (host name, credentials)."""


class Refusal(str):
    """Why a server refuses the workflow's requests (server_problem), with what to do."""

    def __new__(cls, why: str, fix: str):
        self = super().__new__(cls, why)
        self.fix = fix
        return self


# What the check asks: an API endpoint every job uses. /health answers any Host header and any
# client (MLflow 3.17): a server that refuses the host name a job uses (--allowed-hosts), or a
# job without credentials (the basic-auth app), passed it, and the first job failed instead.
PROBE = "/api/2.0/mlflow/experiments/search?max_results=1"


def _refusal(code: int, body: str, uri: str) -> Refusal | None:
    """A 403 for the host name (MLflow's DNS-rebinding guard) or a 401 (no or wrong credentials)
    in words a person can act on; None for any other status."""
    import urllib.parse

    user, password = (os.environ.get(name) for name in AUTH_ENV)
    if code == 403 and "Invalid Host header" in body:
        netloc = urllib.parse.urlsplit(uri).netloc.rpartition("@")[2]
        return Refusal(
            f"HTTP 403 Invalid Host header: it does not accept the host name {netloc}",
            f'start it with --allowed-hosts {netloc} (README "On a cluster"), or '
            f"name it in {URI_ENV} by a host it accepts",
        )
    if code == 401 and user and password:
        return Refusal(
            f"HTTP 401: it does not accept the credentials of {AUTH_ENV[0]}={user}",
            f'check {AUTH_ENV[0]} and {AUTH_ENV[1]} (README "On a cluster")',
        )
    if code == 401:
        unset = " and ".join(name for name in AUTH_ENV if not os.environ.get(name))
        return Refusal(
            f"HTTP 401: it asks for credentials and {unset} "
            f"{'is' if ' and ' not in unset else 'are'} not set",
            f'export {AUTH_ENV[0]} and {AUTH_ENV[1]}: a user of its basic-auth app (README "On a cluster")',
        )
    if code == 403:
        return Refusal(
            f"HTTP 403: {body.strip()[:200]}", 'ask its admin for permission (README "On a cluster")'
        )
    return None


def server_problem(uri: str, timeout: float = 10.0) -> str | None:
    """Why the tracking server at `uri` does not take the workflow's requests, or None; None also
    for a local store (sqlite, file), which is not checked. It asks an API endpoint (PROBE) with
    the jobs' credentials (AUTH_ENV); a refusal comes as a Refusal, which says what to do."""
    import base64
    import socket
    import urllib.error
    import urllib.request

    if not uri.startswith(("http://", "https://")):
        return None
    url = uri.rstrip("/") + PROBE
    request = urllib.request.Request(url)
    user, password = (os.environ.get(name) for name in AUTH_ENV)
    if user and password:  # as MLflow's client sends them (basic auth)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            if reply.status == 200:
                return None
            return f"HTTP {reply.status}"
    except urllib.error.HTTPError as err:
        body = err.read().decode(errors="replace")
        return _refusal(err.code, body, uri) or f"HTTP {err.code} from {url}: is it an MLflow server?"
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return f"no answer from {url} within {timeout:g} s"
        return str(reason)


def check_server(uri: str, timeout: float = 10.0, hint: str = SERVER_HINT) -> None:
    """A tracking server must answer before any job is submitted (onstart), and before a job
    starts its work: every job (on any node) logs to it."""
    why = server_problem(uri, timeout)
    if isinstance(why, Refusal):
        raise TrackingRefused(
            f"{URI_ENV}={uri}: the MLflow tracking server refuses this workflow's requests ({why}); {why.fix}"
        )
    if why:
        raise TrackingUnreachable(
            f"{URI_ENV}={uri}: the MLflow tracking server does not answer ({why}); " + hint
        )


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


def retire_earlier_runs(
    client: MlflowClient, experiment_id: str, key: str, outputs: str, successor: str
) -> list[tuple[str, str]]:
    """Earlier runs of this job (same rule, wildcards and outputs) describe outputs that the
    run `successor` now replaces. A RUNNING one is a leftover of an attempt that died: it ends
    KILLED. Each is tagged with its successor and soft-deleted (out of the UI's default view,
    restorable), so the UI shows exactly one current run per output. -> [(run id, status)]"""
    earlier = client.search_runs(
        [experiment_id], filter_string=f"tags.`{JOB_TAG}` = '{key}'", max_results=10_000
    )
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


class _Sigterm:
    """The job's SIGTERM handler: it raises JobKilled, so the run ends KILLED on the way out.
    Inside `held()` a signal waits until the block is done: the run that `create_run` makes has
    its id here (a signal in the middle would leave it RUNNING, unknown), and its end is written
    whole. `arrived` says that one came, even when another exception ended the job first."""

    def __init__(self):
        self.holding = self.arrived = False

    def __call__(self, signum, frame):
        self.arrived = True
        if not self.holding:
            raise JobKilled(f"signal {signum}")

    @contextlib.contextmanager
    def held(self, deliver: bool = True):
        self.holding, arrived = True, self.arrived
        try:
            yield
        finally:
            self.holding = False
        if deliver and self.arrived and not arrived:
            raise JobKilled(f"signal {signal.SIGTERM.value} (held until the block ended)")


@contextlib.contextmanager
def job_run(
    *,
    experiment: str,
    rule: str,
    wildcards: dict,
    params: dict,
    outputs: list[str],
    run_id_file: str | Path | None = None,
    parent_run_id: str | None = None,
    run_name: str | None = None,
    tags: dict | None = None,
    log=print,
):
    """One MLflow run for one workflow job, ended FINISHED, FAILED or KILLED as the job ends.

    The run id is written to `run_id_file` only when the job succeeds, so downstream jobs can
    name their upstream run (parent_run_id) and a failed job leaves no id behind. (Jobs that
    add to another job's run do not come here: layermaps.tracking.runlog.deferred_run.)
    SIGTERM (scancel, a killed snakemake) ends the run KILLED wherever it lands, from before the
    run exists (then there is none to end) to its end (_Sigterm).
    """
    sigterm = _Sigterm()
    previous = signal.signal(signal.SIGTERM, sigterm)
    uri = os.environ.get(URI_ENV) or mlflow.get_tracking_uri()
    run_id, client, status, lost = None, None, "FAILED", None  # lost: why the server went away
    try:
        if os.environ.pop("MLFLOW_RUN_ID", None):
            log("[tracking] ignoring MLFLOW_RUN_ID from the environment (it would resume that run)")
        mlflow.set_tracking_uri(uri)
        check_server(uri, timeout=5.0, hint=JOB_HINT)  # a server gone since onstart: no work done
        client = MlflowClient(uri)
        experiment_id = get_or_create_experiment(client, experiment, os.environ.get(ARTIFACT_ROOT_ENV))
        key = job_key(rule, wildcards)
        tags = {**(tags or {}), **job_tags(rule, wildcards, outputs, wildcard_tags=False)}
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        # the run's description
        tags.setdefault("mlflow.note.content", describe(rule, wildcards, outputs))
        with sigterm.held():
            run_id = client.create_run(experiment_id, run_name=run_name or key, tags=tags).info.run_id
        earlier = retire_earlier_runs(client, experiment_id, key, tags[OUTPUTS_TAG], run_id)
        for old, old_status in earlier:
            log(
                f"[tracking] run {old} ({old_status}) of an earlier attempt of {key} is "
                f"superseded by {run_id}: tagged and moved out of the default view"
            )
        mlflow.start_run(run_id=run_id)
        if params:
            mlflow.log_params(flatten(params))
        yield mlflow.active_run()
        with sigterm.held():
            mlflow.end_run("FINISHED")
        status = "FINISHED"
    except BaseException as err:
        if isinstance(err, (JobKilled, KeyboardInterrupt)) or sigterm.arrived:
            status = "KILLED"
        if run_id and isinstance(err, (Exception, JobKilled)):
            lost = _gone(uri)
        if not (lost and isinstance(err, MlflowException)):
            raise
        # MLflow gave up on the server (its retries are short: HTTP_ENV)
        log(f"[tracking] MLflow: {err}")
        raise TrackingLost(
            f"{URI_ENV}={uri}: the MLflow tracking server stopped answering during this job ({lost}); "
            f"its run {run_id} is left RUNNING there. Start the server again and rerun snakemake: "
            f"this job reruns (and ends that run KILLED), finished jobs are kept"
        ) from None
    finally:
        if status != "FINISHED":
            status = "KILLED" if sigterm.arrived else status  # one that landed in `except`
            with sigterm.held(deliver=False):  # a second signal: the status is still written
                _end_run(client, run_id, status, lost)
            log(
                f"[tracking] {rule} ended {status} "
                + (f"(run {run_id})" if run_id else "before its MLflow run was made")
                + (" (not recorded: the tracking server does not answer)" if lost else "")
            )
        signal.signal(signal.SIGTERM, previous)
    if run_id_file:
        write_text(run_id_file, run_id + "\n")
    log(f"[tracking] run {run_id} FINISHED ({experiment})")


def _end_run(client: MlflowClient | None, run_id: str | None, status: str, lost: str | None):
    """End the job's run (if it was made) with `status`: through MLflow's active run if it got
    that far, else in the store; with the server gone, one brief try (_gone)."""
    if run_id is None:
        return
    with contextlib.suppress(*((MlflowException,) if lost else ())):
        active = mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            mlflow.end_run(status)
        else:
            client.set_terminated(run_id, status)


@contextlib.contextmanager
def _pending_lock(state_dir: str | Path, log):
    """Held while pending records are applied. Two invocations in one results folder (Snakemake
    allows it when their outputs differ) take turns: each record is applied exactly once, and a
    run's records in the order they were written (a later tag wins). The kernel drops the lock
    of a process that dies, and what it had not applied is still in pending/ for the next."""
    import fcntl

    path = Path(state_dir, "pending.lock")
    with open(path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(
                f"[tracking] waiting for another invocation in this results folder to finish "
                f"applying pending records ({path})"
            )
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError as err:  # a filesystem without locks: records are still never lost
            log(
                f"[tracking] cannot lock {path} ({err}): two invocations at once in this "
                f"results folder may apply a record twice"
            )
        yield


def apply_pending(state_dir: str | Path, log=print) -> int:
    """Log every pending record (layermaps.tracking.runlog) to its run, oldest first; -> the
    number applied.

    A record whose run is gone (deleted, or superseded by a rerun of its upstream job) is
    dropped with a line in the log: the files it describes were remade for the new run.
    Concurrent callers take turns (`_pending_lock`): each record is applied once.
    """
    if not any(Path(state_dir, "pending").glob("*.json")):
        return 0
    with _pending_lock(state_dir, log):
        return _apply_pending(state_dir, log)


def _apply_pending(state_dir: str | Path, log) -> int:
    from mlflow.entities import Metric, RunTag

    pending = sorted(Path(state_dir, "pending").glob("*.json"))  # after the lock: none taken
    if not pending:
        return 0
    uri = os.environ.get(URI_ENV) or mlflow.get_tracking_uri()
    kept = f"[tracking] kept the pending records (the next run applies them): {URI_ENV}={uri} does not answer"
    if why := server_problem(uri):
        log(f"{kept} ({why})")
        return 0
    client = MlflowClient(uri)
    applied = 0
    for path in pending:
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:  # applied by a caller that could not lock (see above)
            continue
        run_id = record["run_id"]
        try:
            if client.get_run(run_id).info.lifecycle_stage != "active":
                raise MlflowException(f"run {run_id} is deleted")
            metrics = [Metric(k, v, ts, 0) for k, (v, ts) in record["metrics"].items()]
            tags = [RunTag(k, v) for k, v in record["tags"].items()]
            for i in range(0, max(len(metrics), len(tags)), 100):  # MLflow's batch limits
                client.log_batch(run_id, metrics=metrics[i : i + 100], tags=tags[i : i + 100])
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
        path.unlink(missing_ok=True)
    log(f"[tracking] applied {applied} pending record(s) to MLflow")
    return applied


def log_dataset(dataset: str, arrays: dict, source: str) -> None:
    """Log the prepared training and test sets as MLflow dataset inputs, with class counts."""
    import numpy as np

    for split, context in (("train", "training"), ("test", "testing")):
        with warnings.catch_warnings():  # MLflow registers two identical local-file sources
            warnings.filterwarnings("ignore", message="The specified dataset source")
            ds = mlflow.data.from_numpy(
                arrays[f"{split}_images"],
                targets=arrays[f"{split}_labels"],
                source=source,
                name=f"{dataset}-{split}",
            )
        mlflow.log_input(ds, context=context)
    counts = {
        split: {
            str(name): int(n)
            for name, n in zip(
                arrays["class_names"],
                np.bincount(arrays[f"{split}_labels"], minlength=len(arrays["class_names"])),
            )
        }
        for split in ("train", "test")
    }
    mlflow.log_dict(counts, "class_counts.json")
    mlflow.log_metrics(
        {
            "n_train": len(arrays["train_labels"]),
            "n_test": len(arrays["test_labels"]),
            "n_fit": len(arrays["fit_idx"]),
            "n_val": len(arrays["val_idx"]),
        }
    )


if __name__ == "__main__":  # `make ui`: python -m layermaps.tracking.store <store uri> <ui url>
    import sys

    for name, link in ui_links(sys.argv[1], sys.argv[2]):
        print(f"  {name}: {link}")
