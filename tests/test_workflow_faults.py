"""Faults, for real: a tracking server that goes away mid-run, a second tracking store by
accident, a lock held by a running snakemake or left by a killed one.

A download job is held in the middle of its work by a mirror (an HTTP server in a thread) that
answers only when the test lets it: so the test knows that a run holds its lock, or that a
job's MLflow run exists, before it kills the server or starts a second snakemake. Nothing waits
on a duration: the time limits below only keep a hung run from hanging the suite."""

from __future__ import annotations

import contextlib
import functools
import http.client
import http.server
import itertools
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from conftest import REPO, SHARED_DATA, SNAKEMAKE, mlflow_process, snakemake, write_config
from mlflow.tracking import MlflowClient

from layermaps.guards import HTTP_ENV

pytestmark = pytest.mark.workflow

TINY = dict(datasets=["mnist"], data={"subsample": {"train": 300, "test": 100}})
DOWNLOADED = "results/{}/raw/download.run_id"


class _Gated(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        self.server.requested.set()
        self.server.gate.wait()  # set by the test, or when the mirror closes
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
    with mlflow_process(
        "server",
        folder / "mlflow.db",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--workers",
        "1",
        before=before,
        own_group=True,
    ) as (url, proc):
        yield url, proc


def signal_group(proc, sig):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def start_snakemake(work: Path, *args: str, mirror: str, tracking_uri: str | None = None):
    """The real snakemake CLI in the background, in its own process group."""
    env = dict(os.environ, LAYERMAPS_DATA_MIRROR=mirror)
    for name in ("MLFLOW_TRACKING_URI", *HTTP_ENV):  # the workflow's own MLflow retries
        env.pop(name, None)
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return subprocess.Popen(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), *args],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for(event: threading.Event, proc: subprocess.Popen, timeout: float = 900):
    """Until `event` is set (the download job is at work) or snakemake ended without it."""
    deadline = time.monotonic() + timeout  # a hang guard only
    while not event.wait(0.1):
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.communicate()[0] if proc.poll() is not None else "(still running)"
            pytest.fail(f"the download job did not start:\n{out[-4000:]}")


class _Front(http.server.BaseHTTPRequestHandler):
    """Passes each request on to the tracking server until the test cuts the line: then it
    notes the request and closes the connection without an answer (a server that died)."""

    protocol_version = "HTTP/1.1"  # MLflow's client keeps its connections open

    def _relay(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server.cut.is_set():
            self.server.after_cut.append(f"{self.command} {self.path.split('?')[0]}")
            self.close_connection = True
            return
        backend = http.client.HTTPConnection(*self.server.backend, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        backend.request(self.command, self.path, body or None, headers)
        reply = backend.getresponse()
        data = reply.read()
        backend.close()
        self.send_response(reply.status, reply.reason)
        for key, value in reply.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def front(url: str):
    """A stand-in in front of the tracking server at `url`; yields it (its `.url`): after
    `.cut.set()` every request is refused and listed in `.after_cut`."""
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Front)
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, address: None
    httpd.backend, httpd.cut, httpd.after_cut = (host, port), threading.Event(), []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.shutdown()


def tries_per_request(requests: list[str]) -> list[int]:
    """How often each request was sent in a row: MLflow's retries of one call."""
    return [len(list(group)) for _, group in itertools.groupby(requests)]


# ---- 1. a tracking server that goes away mid-run -------------------------------------------------
def test_a_server_lost_mid_run_fails_each_job_within_a_minute(tmp_path):
    """The server answers at onstart and while the download job creates its run, then dies:
    that job fails when it logs, its retry (the rule has `retries: 1`) fails at its start, each
    with a message naming the URI. Each fails within a minute because MLflow tries each call
    only 3 times (guards.HTTP_ENV; its defaults: 8 times, about 4 minutes): the test counts
    the tries of each request after the server died (a stand-in in front of it, which then
    answers nothing), which does not depend on how fast this machine is."""
    work = tmp_path / "work"
    work.mkdir()
    write_config(work, **TINY)
    with (
        mlflow_server_process(tmp_path / "server") as (real_url, server),
        front(real_url) as fr,
        held_mirror() as mirror,
    ):
        url = fr.url
        run = start_snakemake(
            work, "--cores", "1", DOWNLOADED.format("mnist"), mirror=mirror.url, tracking_uri=url
        )
        try:
            wait_for(mirror.requested, run)  # a download job is at work: its MLflow run exists
            fr.cut.set()
            signal_group(server, signal.SIGKILL)
            server.wait(timeout=300)
            mirror.gate.set()
            out = run.communicate(timeout=900)[0]  # a hang guard: it ends in seconds
        finally:
            signal_group(run, signal.SIGKILL)
    assert run.returncode != 0
    assert (
        f"MLFLOW_TRACKING_URI={url}: the MLflow tracking server stopped answering during this job" in out
    ), out[-5000:]
    assert f"MLFLOW_TRACKING_URI={url}: the MLflow tracking server does not answer" in out
    assert "this job did no work" in out
    assert "Traceback" not in out, out[-5000:]
    # The job's call that met the dead server was tried 3 times (MLFLOW_HTTP_REQUEST_MAX_RETRIES=2
    # reached the job): at most 3 x 12 s (the request timeout) plus backoffs of 0 and 4 s (+ up
    # to 1 s jitter each); after that the job tries each call once (store._gone).
    tries = tries_per_request(fr.after_cut)
    assert tries and tries[0] == 1 + int(HTTP_ENV["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]), fr.after_cut
    assert max(tries) <= tries[0], fr.after_cut
    assert not (work / DOWNLOADED.format("mnist")).exists()


# ---- 2. a second tracking store by accident ------------------------------------------------------
def test_a_second_store_is_refused_before_any_job(tmp_path):
    write_config(tmp_path, **TINY)
    target = DOWNLOADED.format("mnist")
    # a first run into the local store, while the server starts
    with mlflow_server_process(
        tmp_path / "server", before=lambda: snakemake(tmp_path, "--cores", "1", target)
    ) as (url, _):
        record = tmp_path / "results/.layermaps/tracking_uri"
        assert record.read_text() == "local:mlflow.db\n"
        assert not list((tmp_path / ".snakemake/layermaps-runs").glob("*.json"))  # gone with its lock
        # a dry run takes no store: fine
        snakemake(tmp_path, "-n", "--forcerun", "download", target, tracking_uri=url)
        before = tree(tmp_path / "results")
        proc = snakemake(
            tmp_path, "--cores", "1", "--forcerun", "download", target, tracking_uri=url, check=False
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert (
            f"{record.relative_to(tmp_path)}: the runs of this results folder (results) are tracked in "
            f"the local store results/mlflow.db, but this run would track into {url}"
        ) in out, out[-3000:]
        assert "unset MLFLOW_TRACKING_URI" in out and f"delete {record.relative_to(tmp_path)} " in out
        assert "Traceback" not in out
        assert tree(tmp_path / "results") == before  # nothing written, no job ran
        assert MlflowClient(url).get_experiment_by_name("layermaps/mnist") is None


def tree(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


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
            assert (
                f"is locked by a snakemake that is running: pid {first.pid} on {socket.gethostname()}" in out
            ), out[-3000:]
            assert f"--cores 1 {target}" in out and "Wait for it to finish" in out
            assert "do not run `snakemake --unlock` while it runs" in out
            assert "Traceback" not in out
        finally:
            signal_group(first, signal.SIGKILL)  # killed: its lock stays behind
            first.wait(timeout=300)
    assert list((tmp_path / ".snakemake/locks").iterdir())

    stale = snakemake(tmp_path, "--cores", "1", target, check=False)
    out = stale.stdout + stale.stderr
    assert stale.returncode != 0
    assert "but the snakemake that took the lock no longer runs" in out, out[-3000:]
    assert f"pid {first.pid} on" in out and "`snakemake --unlock` is safe" in out
    assert "Traceback" not in out
    snakemake(tmp_path, "--unlock")
    assert not (tmp_path / ".snakemake/locks").exists()
