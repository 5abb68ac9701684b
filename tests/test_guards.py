"""layermaps.guards without a workflow: the store record of a results folder and the words of a
refused lock (held, stale, elsewhere, unknown). The real runs: tests/test_workflow_faults.py."""

import json
import os
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest

from layermaps.guards import (
    HTTP_ENV,
    RUNS_DIR,
    StoreMismatch,
    check_store_record,
    explain_lock,
    recorded_form,
    run_record,
    set_http_env,
    write_store_record,
)


def test_recorded_form(tmp_path):
    results = tmp_path / "results"
    assert recorded_form(f"sqlite:///{results}/mlflow.db", results) == "local:mlflow.db"
    assert (
        recorded_form(f"sqlite:///{tmp_path}/elsewhere.db", results) == f"sqlite:///{tmp_path}/elsewhere.db"
    )
    assert recorded_form("http://host:5000/", results) == "http://host:5000"


def test_store_record_refuses_another_store_and_follows_a_moved_folder(tmp_path):
    results, state = tmp_path / "results", tmp_path / "results/.layermaps"
    local = f"sqlite:///{results}/mlflow.db"
    check_store_record(state, results, "http://host:5000")  # no record yet: anything goes
    write_store_record(state, results, local)
    write_store_record(state, results, "http://host:5000")  # only the first run records
    assert (state / "tracking_uri").read_text() == "local:mlflow.db\n"
    check_store_record(state, results, local)
    moved = tmp_path / "moved"
    (results).rename(moved)
    check_store_record(moved / ".layermaps", moved, f"sqlite:///{moved}/mlflow.db")  # same store
    with pytest.raises(StoreMismatch) as info:
        check_store_record(moved / ".layermaps", moved, "http://host:5000")
    message = str(info.value)
    assert f"the local store {moved}/mlflow.db" in message and "http://host:5000" in message
    assert "unset MLFLOW_TRACKING_URI" in message and f"delete {moved}/.layermaps/tracking_uri" in message
    assert info.value.expected


def test_http_env_keeps_the_users_values():
    env = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "300"}
    assert set(set_http_env(env)) == set(HTTP_ENV)
    assert env["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300" and env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"


@pytest.fixture
def locked(tmp_path, monkeypatch):
    """A working folder whose .snakemake/locks hold an output lock on results/a."""
    monkeypatch.chdir(tmp_path)
    snake = tmp_path / ".snakemake"
    (snake / "locks").mkdir(parents=True)
    (snake / "locks/0.output.lock").write_text("results/a\n")
    (snake / RUNS_DIR).mkdir()
    persistence = SimpleNamespace(
        path=str(snake),
        _lockdir=str(snake / "locks"),
        all_inputfiles=lambda: [],
        all_outputfiles=lambda: ["results/a"],
    )

    def record(name, **changes):
        r = run_record([str(snake / "locks/0.output.lock")]) | changes
        (snake / RUNS_DIR / f"{name}.json").write_text(json.dumps(r))

    return persistence, record


def test_a_lock_of_a_running_snakemake_is_held(locked):
    persistence, record = locked
    record("me")  # this very process: it runs
    message = explain_lock(persistence)
    assert "is locked by a snakemake that is running" in message and f"pid {os.getpid()}" in message
    assert "do not run `snakemake --unlock`" in message


def test_a_lock_of_a_gone_snakemake_is_stale(locked):
    persistence, record = locked
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    record("gone", pid=int(gone))
    message = explain_lock(persistence)
    assert "no longer runs" in message and f"pid {gone} on {socket.gethostname()}" in message
    assert "`snakemake --unlock` is safe" in message


def test_a_reused_pid_is_not_the_snakemake_that_locked(locked):
    persistence, record = locked
    record("reused", process_start="1")  # this pid, but a process started at another time
    assert "no longer runs" in explain_lock(persistence)


def test_a_lock_from_another_machine_cannot_be_judged_here(locked):
    persistence, record = locked
    record("far", host="another-node")
    message = explain_lock(persistence)
    assert "on another machine: pid" in message and "ssh another-node ps -p" in message


def test_a_lock_without_record_or_on_other_files(locked):
    persistence, record = locked
    record("unrelated", locks=["/elsewhere/9.output.lock"])  # a record of another lock
    message = explain_lock(persistence)
    assert "no record says by which snakemake" in message and "snakemake --unlock" in message
