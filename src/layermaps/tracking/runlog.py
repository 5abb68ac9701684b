"""What a job logs to MLflow, through one set of functions, with or without importing MLflow.

Score and plot jobs add metrics, tags and figures to a run another job made (an embedding's, a
model's). Importing MLflow and opening the store would cost such a job three to five seconds
against well under a second of work, paid by hundreds of jobs. So these jobs write what they
log to a record under the state directory's pending/ folder, and the workflow's main process
applies every pending record with one MLflow client when it starts and when it ends
(`layermaps.tracking.store.apply_pending`). A job that dies before writing its record logs nothing
it did not also leave on disk; a record left by a killed workflow is applied by the next one.

Stage code logs through `log_metrics`, `log_dict`, `log_artifacts` and `set_tags` alike:
inside a deferred job they add to its record, inside a job with an active MLflow run they go
to MLflow, anywhere else (tests, notebooks) nowhere. No MLflow import in this module.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

STATE_ENV = "LAYERMAPS_STATE_DIR"
INVOCATION_ENV = "LAYERMAPS_INVOCATION_ID"
COMMIT_ENV = "LAYERMAPS_GIT_COMMIT"  # computed once per workflow invocation by the Snakefile
JOB_TAG = "layermaps.job"
OUTPUTS_TAG = "layermaps.outputs"
PARAM_VALUE_LIMIT = 6000  # MLflow's limit on one param value
REPO = Path(__file__).resolve().parents[3]  # src/layermaps/tracking/runlog.py


def flatten(d: dict, prefix: str = "") -> dict[str, str]:
    """Nested params -> {'a.b': 'value'} as MLflow wants them (lists as JSON)."""
    out = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
            out[name] = text[:PARAM_VALUE_LIMIT]
    return out


def job_key(rule: str, wildcards: dict) -> str:
    return rule + "".join(f"[{k}={v}]" for k, v in sorted(wildcards.items()))


def read_run_id(path: str | Path) -> str:
    return Path(path).read_text().strip()


def git_commit(repo: Path = REPO) -> str:
    """HEAD of the layermaps checkout, "-dirty" when tracked files changed."""
    if os.environ.get(COMMIT_ENV):
        return os.environ[COMMIT_ENV]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def job_tags(rule: str, wildcards: dict, outputs: list[str], wildcard_tags: bool = True) -> dict[str, str]:
    """The tags that say which workflow job a run (or a deferred record) comes from. A job's own
    run has its wildcards as tags named by meaning instead (layermaps.tracking.display)."""
    return {
        JOB_TAG: job_key(rule, wildcards),
        "layermaps.rule": rule,
        "layermaps.invocation": os.environ.get(INVOCATION_ENV, "none"),
        OUTPUTS_TAG: json.dumps(outputs),
        "mlflow.source.git.commit": git_commit(),
        **({f"wildcard.{k}": str(v) for k, v in wildcards.items()} if wildcard_tags else {}),
    }


class RunRecord:
    """What one deferred job adds to the run `run_id`: applied later, in the order written."""

    def __init__(self, run_id: str, rule: str):
        self.run_id, self.rule = run_id, rule
        self.metrics: dict[str, tuple[float, int]] = {}  # name -> (value, time in ms)
        self.tags: dict[str, str] = {}
        self.dicts: dict[str, object] = {}  # artifact file name -> JSON content
        self.artifacts: list[tuple[str, str | None]] = []  # (absolute path, artifact folder)

    def save(self, state_dir: str | Path) -> Path:
        from layermaps.atomic import write_text

        # time first: apply_pending applies records in the order the jobs wrote them
        path = Path(state_dir, "pending", f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json")
        write_text(
            path,
            json.dumps(
                {
                    "run_id": self.run_id,
                    "rule": self.rule,
                    "metrics": self.metrics,
                    "tags": self.tags,
                    "dicts": self.dicts,
                    "artifacts": self.artifacts,
                }
            )
            + "\n",
        )
        return path


_record: RunRecord | None = None


@contextlib.contextmanager
def deferred_run(
    *, run_id: str, rule: str, wildcards: dict, params: dict, outputs: list[str], state_dir: str | Path
):
    """Collect what the block logs into a record for run `run_id`, saved however it ends.

    Its settings and provenance go to tags prefixed with the rule (params of a run are
    immutable, and changed settings rerun the job into the same run); `{rule}.status` says
    how the job ended. The run's own status is never touched: its data is intact.
    """
    global _record
    record = RunRecord(run_id, rule)
    tags = {k: v for k, v in job_tags(rule, wildcards, outputs).items() if k != JOB_TAG}
    record.tags.update({f"{rule}.{k}": v for k, v in {**tags, **flatten(params)}.items()})
    _record, status = record, "FAILED"
    try:
        yield record
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        _record = None
        record.tags[f"{rule}.status"] = status
        record.save(state_dir)


def _active_mlflow():
    """The mlflow module when a run is active in this process (never imports it)."""
    mlflow = sys.modules.get("mlflow")
    return mlflow if mlflow is not None and mlflow.active_run() is not None else None


def log_metrics(metrics: dict) -> None:
    if _record is not None:
        now = int(time.time() * 1000)
        _record.metrics.update({k: (float(v), now) for k, v in metrics.items()})
    elif mlflow := _active_mlflow():
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})


def set_tags(tags: dict) -> None:
    if _record is not None:
        _record.tags.update({k: str(v) for k, v in tags.items()})
    elif mlflow := _active_mlflow():
        mlflow.set_tags(tags)


def log_dict(obj, name: str) -> None:
    if _record is not None:
        _record.dicts[name] = json.loads(json.dumps(obj))  # a copy, as it is now
    elif mlflow := _active_mlflow():
        mlflow.log_dict(obj, name)


def log_artifacts(*paths, artifact_path: str | None = None) -> None:
    if _record is not None:
        _record.artifacts += [(str(Path(p).resolve()), artifact_path) for p in paths]
    elif mlflow := _active_mlflow():
        for p in paths:
            mlflow.log_artifact(str(p), artifact_path=artifact_path)
