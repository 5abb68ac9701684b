"""What every job of a run finds in its environment: the MLflow store, chosen once while the DAG
is built and handed to each job through the environment (Snakemake's envvars:), never through
params: (a value in params that changes would rerun every job)."""

from __future__ import annotations

import json
import os
import uuid

from layermaps.environment import tracking_paths
from layermaps.guards import (
    check_store_record,
    drop_default_rate_limit,
    rate_limit,
    set_http_env,
    write_store_record,
)
from layermaps.tracking.display import STUDY_INDEX_ENV, study_index

# Always set by `prepare_job_environment`, hence always declared (the rest: when set).
JOB_ENV = (
    "PYTHONPATH",
    "MLFLOW_TRACKING_URI",
    "LAYERMAPS_ARTIFACT_ROOT",
    "LAYERMAPS_EXPERIMENT_PREFIX",
    "LAYERMAPS_INVOCATION_ID",
    "LAYERMAPS_STATE_DIR",
    STUDY_INDEX_ENV,
)
# The credentials of a tracking server's basic-auth app (README "On a cluster"), when set.
AUTH_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


def prepare_job_environment(environ, plan) -> list[str]:
    """Set what the jobs of this plan read (a user's own MLFLOW_TRACKING_URI and HTTP settings
    kept); -> the names to declare in envvars:, for executors that pass only those (the SLURM
    executor passes the whole environment, never a value on a command line)."""
    tracking = plan.config["tracking"]
    if not environ.get("MLFLOW_TRACKING_URI"):
        store, artifacts = tracking_paths(plan.paths.root, tracking)  # relative to results_dir, or absolute
        environ["MLFLOW_TRACKING_URI"] = "sqlite:///" + store
        environ["LAYERMAPS_ARTIFACT_ROOT"] = artifacts
    else:
        environ.setdefault("LAYERMAPS_ARTIFACT_ROOT", "")  # a server keeps its own artifacts
    environ["LAYERMAPS_EXPERIMENT_PREFIX"] = tracking["experiment_prefix"]
    environ.setdefault("LAYERMAPS_INVOCATION_ID", uuid.uuid4().hex)
    # pending MLflow records of score and plot jobs (layermaps.tracking.runlog), timing records
    # of every job and invocation (layermaps.tracking.worktime)
    environ["LAYERMAPS_STATE_DIR"] = os.path.abspath(plan.paths.state())
    environ[STUDY_INDEX_ENV] = json.dumps(
        study_index(plan.study_models, plan.study_sources)
    )  # runs' `study` tag
    # a tracking server that stops answering fails a job within a minute, not MLflow's ~4
    # minutes of retries per request: short MLflow retries and timeouts
    http = set_http_env(environ)
    return [*JOB_ENV, *http, *(n for n in AUTH_ENV if n in environ)]


def start_invocation(plan, environ, scheduler) -> None:
    """onstart, in the main process before any job: check that this results folder's store is
    the one it was run with and that a tracking server answers, then create or upgrade the store
    once (a fresh SQLite store hit by several jobs at once fails with schema-migration races),
    apply the records a killed workflow left, read the commit once for every job."""
    from layermaps.tracking.runlog import COMMIT_ENV, git_commit
    from layermaps.tracking.store import apply_pending, check_server, init_store

    uri, paths = environ["MLFLOW_TRACKING_URI"], plan.paths
    check_store_record(paths.state(), paths.root, uri)  # one store per results folder
    check_server(uri)
    init_store(uri, environ["LAYERMAPS_ARTIFACT_ROOT"] or None, experiments(plan))
    write_store_record(paths.state(), paths.root, uri)
    apply_pending(environ["LAYERMAPS_STATE_DIR"])
    environ[COMMIT_ENV] = git_commit()
    drop_default_rate_limit(scheduler)


def experiments(plan) -> list[str]:
    """The MLflow experiments of a plan's runs: one per dataset."""
    return [f"{plan.config['tracking']['experiment_prefix']}/{d}" for d in plan.datasets]


def finish_invocation(workflow, status: str, results: str) -> None:
    """Apply what score and plot jobs logged; record this invocation's wall time and CPU
    (onsuccess and onerror)."""
    from layermaps.tracking.store import apply_pending
    from layermaps.tracking.worktime import process_start, write_invocation_record

    state = os.environ["LAYERMAPS_STATE_DIR"]
    apply_pending(state)
    extra = {
        "results": results,
        "scheduler": workflow.scheduling_settings.scheduler,
        "rate_limit": rate_limit(workflow.scheduler),
    }
    write_invocation_record(
        state_dir=state,
        invocation=os.environ["LAYERMAPS_INVOCATION_ID"],
        start=process_start(),
        cores=scheduled_cores(workflow),
        status=status,
        extra=extra,
    )


def scheduled_cores(workflow) -> int:
    """--cores of a local run; under a cluster executor, which has no local cores, the --jobs
    limit (the jobs it keeps in the queue at once)."""
    settings = workflow.resource_settings
    return settings.cores or settings.nodes or 1
