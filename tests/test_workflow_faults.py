"""Faults, for real: a tracking server that goes away mid-run, a second tracking store by
accident, a lock held by a running snakemake or left by a killed one.

A download job is held in the middle of its work by a mirror (an HTTP server in a thread) that
answers only when the test lets it: so the test knows that a run holds its lock, or that a
job's MLflow run exists, before it kills the server or starts a second snakemake."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import REPO, SHARED_DATA, SNAKEMAKE, mlflow_process, snakemake, write_config

pytestmark = pytest.mark.workflow

TINY = dict(datasets=["mnist"], data={"subsample": {"train": 300, "test": 100}})
DOWNLOADED = "results/{}/raw/download.run_id"


class _Gated(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        self.server.requested.set()
        self.server.gate.wait(120)
        super().do_GET()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def held_mirror():
    """A mirror of the shared data whose answers wait until `.gate` is set; `.requested` is set
    by the first request (a download job is at work). Yields the server (its `.url`)."""
    handler = functools.partial(_Gated, directory=str(SHARED_DATA))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, address: None  # a client killed mid-download
    httpd.gate, httpd.requested = threading.Event(), threading.Event()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.gate.set()
        httpd.shutdown()


@contextlib.contextmanager
def mlflow_server_process(folder: Path, before=lambda: None):
    """conftest.mlflow_server, but in its own process group, which the test may kill or stop:
    yields (url, process). `before()` runs while the server starts."""
    with mlflow_process("server", folder / "mlflow.db", "--artifacts-destination", str(folder / "artifacts"),
                        "--workers", "1", before=before, own_group=True) as (url, proc):
        yield url, proc


def signal_group(proc, sig):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def start_snakemake(work: Path, *args: str, mirror: str, tracking_uri: str | None = None):
    """The real snakemake CLI in the background, in its own process group."""
    env = dict(os.environ, LAYERMAPS_DATA_MIRROR=mirror)
    env.pop("MLFLOW_TRACKING_URI", None)
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return subprocess.Popen([SNAKEMAKE, "-s", str(REPO / "Snakefile"), *args], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def wait_for(event: threading.Event, proc: subprocess.Popen, timeout: float = 120):
    deadline = time.time() + timeout
    while not event.wait(0.1):
        if proc.poll() is not None or time.time() > deadline:
            out = proc.communicate()[0] if proc.poll() is not None else "(still running)"
            pytest.fail(f"the download job did not start:\n{out[-4000:]}")


# ---- 1. a tracking server that goes away mid-run -------------------------------------------------
def test_a_server_lost_mid_run_fails_each_job_within_a_minute(tmp_path):
    """The server answers at onstart and while the download job creates its run, then is
    killed: that job fails when it logs (MLflow's retries are short), its retry (the rule has
    `retries: 1`) fails at its start, each with a message naming the URI, and the whole run
    ends within a minute."""
    work = tmp_path / "work"
    work.mkdir()
    write_config(work, **TINY)
    with mlflow_server_process(tmp_path / "server") as (url, server), held_mirror() as mirror:
        run = start_snakemake(work, "--cores", "1", DOWNLOADED.format("mnist"), mirror=mirror.url,
                              tracking_uri=url)
        try:
            wait_for(mirror.requested, run)  # a download job is at work: its MLflow run exists
            signal_group(server, signal.SIGKILL)
            server.wait(timeout=30)
            lost = time.time()
            mirror.gate.set()
            out = run.communicate(timeout=180)[0]
        finally:
            signal_group(run, signal.SIGKILL)
        took = time.time() - lost
    assert run.returncode != 0
    assert f"MLFLOW_TRACKING_URI={url}: the MLflow tracking server stopped answering during this job" in out, out[-5000:]
    assert f"MLFLOW_TRACKING_URI={url}: the MLflow tracking server does not answer" in out
    assert "this job did no work" in out
    assert "Traceback" not in out, out[-5000:]
    assert took < 60, f"the run took {took:.0f} s to fail after the server went away"
    print(f"server killed -> snakemake exited after {took:.1f} s")
    assert not (work / DOWNLOADED.format("mnist")).exists()


# ---- 2. a second tracking store by accident ------------------------------------------------------
def test_a_second_store_is_refused_before_any_job(tmp_path):
    write_config(tmp_path, **TINY)
    target = DOWNLOADED.format("mnist")
    # a first run into the local store, while the server starts
    with mlflow_server_process(tmp_path / "server",
                               before=lambda: snakemake(tmp_path, "--cores", "1", target)) as (url, _):
        record = tmp_path / "results/.layermaps/tracking_uri"
        assert record.read_text() == "local:mlflow.db\n"
        assert not list((tmp_path / ".snakemake/layermaps-runs").glob("*.json"))  # gone with its lock
        # a dry run takes no store: fine
        snakemake(tmp_path, "-n", "--forcerun", "download", target, tracking_uri=url)
        before = tree(tmp_path / "results")
        proc = snakemake(tmp_path, "--cores", "1", "--forcerun", "download", target,
                         tracking_uri=url, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert (f"{record.relative_to(tmp_path)}: the runs of this results folder (results) are tracked in "
                f"the local store results/mlflow.db, but this run would track into {url}") in out, out[-3000:]
        assert "unset MLFLOW_TRACKING_URI" in out and f"delete {record.relative_to(tmp_path)} " in out
        assert "Traceback" not in out
        assert tree(tmp_path / "results") == before  # nothing written, no job ran
        assert MlflowClient(url).get_experiment_by_name("layermaps/mnist") is None


def tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


# ---- 3. a lock: held by a running snakemake, or left by a killed one ------------------------------
def test_a_refused_lock_says_held_or_stale(tmp_path):
    write_config(tmp_path, **TINY)
    target = DOWNLOADED.format("mnist")
    with held_mirror() as mirror:
        first = start_snakemake(tmp_path, "--cores", "1", target, mirror=mirror.url)
        try:
            wait_for(mirror.requested, first)  # it holds the lock, its job waits for the mirror
            held = snakemake(tmp_path, "--cores", "1", target, check=False)
            out = held.stdout + held.stderr
            assert held.returncode != 0
            assert f"is locked by a snakemake that is running: pid {first.pid} on {socket.gethostname()}" in out, out[-3000:]
            assert f"--cores 1 {target}" in out and "Wait for it to finish" in out
            assert "do not run `snakemake --unlock` while it runs" in out
            assert "Traceback" not in out
        finally:
            signal_group(first, signal.SIGKILL)  # killed: its lock stays behind
            first.wait(timeout=30)
    assert list((tmp_path / ".snakemake/locks").iterdir())

    stale = snakemake(tmp_path, "--cores", "1", target, check=False)
    out = stale.stdout + stale.stderr
    assert stale.returncode != 0
    assert "but the snakemake that took the lock no longer runs" in out, out[-3000:]
    assert f"pid {first.pid} on" in out and "`snakemake --unlock` is safe" in out
    assert "Traceback" not in out
    snakemake(tmp_path, "--unlock")
    assert not (tmp_path / ".snakemake/locks").exists()
