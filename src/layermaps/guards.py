"""Checks that keep one run from spoiling another: the tracking store a results folder uses,
who holds a lock that refuses a run, and how long MLflow may wait for a tracking server.

One store per results folder. A run with MLFLOW_TRACKING_URI and a run without it would split
a folder's runs over a server and the local store without a word. The store of the folder's
first run is recorded in its state folder (`tracking_uri` under results/.layermaps); onstart
refuses a run into another store (`check_store_record`) and says how to switch on purpose.

Held or stale lock. Snakemake's lock files (.snakemake/locks) hold only the paths a run makes,
so a lock left by a killed run and one held by a running run read the same. `guard_locks`
makes every lock Snakemake takes leave a record of the process that took it (pid, host, start,
command) beside the locks, removed with them, and turns Snakemake's refusal into one message
that says which of the two it is: held (by whom: wait) or stale (`snakemake --unlock` is safe).

Short waits. MLflow retries a request to a server that does not answer for about four minutes
(7 retries with backoff, 120 s timeout); `HTTP_ENV` keeps a job's wait under a minute.

This module only reports failures: it is never part of a result (layermaps.fingerprint).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path

from layermaps.errors import UserError

URI_ENV = "MLFLOW_TRACKING_URI"

# ---- MLflow's HTTP requests (mlflow/environment_variables.py), set for the main process and
# every job (common.smk, envvars:) unless the user set them: a request to a server that does not
# answer gives up after 3 tries of at most 12 s each (connecting, and waiting for each reply),
# 0 and 4 s apart (+ up to 1 s jitter each): 4 to 6 s when nothing listens, about 40 s when
# nothing answers at all. (MLflow's defaults: 8 tries, 120 s each, backoff factor 2.)
HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "12",
}


def set_http_env(environ=os.environ) -> list[str]:
    """Short MLflow retries and timeouts, a value of the user's own kept; -> the names."""
    for name, value in HTTP_ENV.items():
        environ.setdefault(name, value)
    return list(HTTP_ENV)


# ---- one tracking store per results folder -----------------------------------------------------
STORE_RECORD = "tracking_uri"  # in the results folder's state folder (layermaps.paths STATE_DIR)
LOCAL = "local:"  # a SQLite store inside the results folder, by its path there (the folder may move)


class StoreMismatch(UserError):
    pass


def recorded_form(uri: str, results: str | Path) -> str:
    """The store as the record names it: `local:mlflow.db` for a SQLite file inside the results
    folder, else the URI (without a trailing slash)."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///")).resolve()
        try:
            return LOCAL + path.relative_to(Path(results).resolve()).as_posix()
        except ValueError:
            return f"sqlite:///{path}"  # an absolute path: sqlite:////abs/mlflow.db
    return uri.rstrip("/")


def _describe(form: str, results: str | Path) -> str:
    if form.startswith(LOCAL):
        return f"the local store {Path(results) / form.removeprefix(LOCAL)}"
    return form


def _use(form: str) -> str:
    if form.startswith(LOCAL):
        return f"unset {URI_ENV}"
    return f"export {URI_ENV}={form}"


def check_store_record(state_dir: str | Path, results: str | Path, uri: str) -> None:
    """Refuse a run whose store is not the one this results folder was tracked into."""
    record = Path(state_dir) / STORE_RECORD
    try:
        old = record.read_text().strip()
    except FileNotFoundError:
        return
    new = recorded_form(uri, results)
    if not old or old == new:
        return
    raise StoreMismatch(
        f"{record}: the runs of this results folder ({results}) are tracked in "
        f"{_describe(old, results)}, but this run would track into {_describe(new, results)} "
        f"({URI_ENV} {'is ' + uri if not new.startswith(LOCAL) else 'is not set'}): its runs "
        f"would be split over two stores. To go on with the first: {_use(old)}. To switch this "
        f"folder to the other store on purpose: delete {record} (the runs so far stay where "
        f"they are) and run again."
    )


def write_store_record(state_dir: str | Path, results: str | Path, uri: str) -> None:
    """Record the store on the folder's first run (onstart, once the store answers)."""
    from layermaps.atomic import write_text

    record = Path(state_dir) / STORE_RECORD
    if not record.exists():
        write_text(record, recorded_form(uri, results) + "\n")


# ---- held or stale lock ---------------------------------------------------------------------------
RUNS_DIR = "layermaps-runs"  # in Snakemake's .snakemake folder, beside locks/: one record per lock


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22): with the
    boot id, it tells a live process from a later one that got the same pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def run_record(locks: list[str]) -> dict:
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "boot_id": _boot_id(),
        "process_start": _process_start(pid),
        "started": time.time(),
        "cwd": os.getcwd(),
        "command": shlex.join(["snakemake", *sys.argv[1:]]),
        "locks": sorted(locks),
    }


def is_running(record: dict) -> bool | None:
    """Whether the process of a record still runs; None when it ran on another machine."""
    if record.get("host") != socket.gethostname():
        return None
    pid = int(record["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    if record.get("boot_id") and _boot_id() and record["boot_id"] != _boot_id():
        return False
    start = _process_start(pid)
    return not (start and record.get("process_start") and start != record["process_start"])


def _read_records(folder: Path) -> list[dict]:
    out = []
    for path in sorted(folder.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            out.append(json.loads(path.read_text()) | {"file": str(path)})
    return out


def _conflicting_lockfiles(persistence) -> list[str] | None:
    """The lock files that refuse this run (Snakemake's `locked` rule, per file); None when the
    backend keeps its locks elsewhere (a database)."""
    lockdir = getattr(persistence, "_lockdir", None)
    if not lockdir:
        return None
    inputs = {str(f) for f in persistence.all_inputfiles()}
    outputs = {str(f) for f in persistence.all_outputfiles()}
    found = []
    for path in sorted(Path(lockdir).glob("*.lock")):
        kind = path.name.split(".")[-2]
        try:
            keys = {line.strip() for line in path.read_text().splitlines()}
        except OSError:
            continue
        if keys & outputs or (kind == "output" and keys & inputs):
            found.append(str(path))
    return found


def _who(record: dict) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record["started"]))
    minutes = (time.time() - record["started"]) / 60
    return (
        f"pid {record['pid']} on {record['host']}, started {started} ({minutes:.0f} min ago) "
        f"in {record['cwd']}: {record['command']}"
    )


def explain_lock(persistence) -> str:
    """Why Snakemake cannot lock the working directory: held by a running snakemake (which), or
    left by one that no longer runs (stale)."""
    cwd = os.getcwd()
    head = f"Directory cannot be locked: {cwd} (.snakemake/locks) is locked"
    conflicting = _conflicting_lockfiles(persistence)
    records = _read_records(Path(persistence.path) / RUNS_DIR)
    claiming = [r for r in records if conflicting is None or set(r.get("locks", [])) & set(conflicting)]
    claiming.sort(key=lambda r: r.get("started", 0), reverse=True)
    running = [r for r in claiming if is_running(r) is True]
    elsewhere = [r for r in claiming if is_running(r) is None]
    if running:
        r = running[0]
        return (
            f"{head} by a snakemake that is running: {_who(r)}\nIt makes some of the files this "
            f"run would make. Wait for it to finish, or stop it (kill {r['pid']}); do not run "
            f"`snakemake --unlock` while it runs."
        )
    if elsewhere:
        r = elsewhere[0]
        return (
            f"{head} by a snakemake on another machine: {_who(r)}\nThis machine cannot tell "
            f"whether it still runs. If it does, wait for it; if it does not (ssh {r['host']} "
            f"ps -p {r['pid']}), run `snakemake --unlock` here, then run again."
        )
    if claiming:
        r = claiming[0]
        return (
            f"{head}, but the snakemake that took the lock no longer runs (it was killed, or its "
            f"machine restarted): {_who(r)}\nThe lock is stale: no run holds it, so "
            f"`snakemake --unlock` is safe. Run it, then run again (files that run left "
            f"half-made are remade)."
        )
    return (
        f"{head}, and no record says by which snakemake (a run of an older version of this "
        f"workflow, or of another workflow in this folder). If no snakemake runs in this "
        f"folder (ps -ef | grep snakemake), the lock is stale: run `snakemake --unlock`, then "
        f"run again."
    )


# ---- patches of Snakemake's internals -----------------------------------------------------------
# Each relies on attributes no public API promises: `snakemake_internals` checks them first, so
# an upgrade that changes them stops every run with one clear line instead of a silent no-op.


def snakemake_internals(owner, *names: str, patch: str) -> None:
    """Raise RuntimeError naming the patch, the attribute and the Snakemake version when `owner`
    (a Snakemake class or object) lacks one of the attributes the patch relies on."""
    missing = [n for n in names if not hasattr(owner, n)]
    if missing:
        import snakemake

        cls = owner if isinstance(owner, type) else type(owner)
        raise RuntimeError(
            f"layermaps patches Snakemake's {patch} through {cls.__module__}.{cls.__qualname__}"
            f".{', .'.join(missing)}, which Snakemake {snakemake.__version__} no longer has: install "
            f"the pinned version (make setup, requirements.lock) or update layermaps.guards for this one"
        )


# Snakemake's CLI default (--max-jobs-per-timespan 100/1s): tests/test_snakemake_internals.py
# checks that the installed Snakemake still has it.
DEFAULT_RATE_LIMIT = (100, 1)


def drop_default_rate_limit(scheduler) -> None:
    """Snakemake's job rate limiter, at its CLI default (100 jobs per 1 s), re-arms a 1 s timer
    thread at every pass of the scheduler loop, and each timer's pass arms the next: every
    finished job adds a chain that never stops, and late in a run the loop ran hundreds of times
    a second (README "Measured"; still so in 9.27.1's JobScheduler.schedule). Local jobs and
    SLURM submissions need no such limit; a limit the user set is kept. Call it from onstart
    with `workflow.scheduler`: the scheduler exists then and starts its loop after it."""
    snakemake_internals(scheduler, "job_rate_limiter", patch="job rate limiter")
    limiter = scheduler.job_rate_limiter
    if limiter is not None:
        snakemake_internals(limiter, "max_jobs", "timespan", patch="job rate limiter")
        if (limiter.max_jobs, limiter.timespan) == DEFAULT_RATE_LIMIT:
            scheduler.job_rate_limiter = None


def rate_limit(scheduler) -> list[int] | None:
    """[jobs, seconds] of the job rate limiter the scheduler runs with, or None."""
    snakemake_internals(scheduler, "job_rate_limiter", patch="job rate limiter")
    limiter = scheduler.job_rate_limiter
    return None if limiter is None else [limiter.max_jobs, limiter.timespan]


def guard_locks() -> None:
    """Make Snakemake's lock (the class every persistence backend inherits it from) leave a run
    record and refuse with `explain_lock`'s message. Installed once, at parse time; a dry run
    (which takes no lock, only warns) gets the same words as a warning. The record names the
    lock files of the file backend (Snakemake's default; a database backend has none)."""
    from snakemake.exceptions import LockException
    from snakemake.persistence import PersistenceBase
    from snakemake.persistence.file import FilePersistence

    snakemake_internals(PersistenceBase, "lock", "lock_warn_only", "locked", patch="lock")
    original = PersistenceBase.lock
    if getattr(original, "layermaps_guard", False):
        return

    def explanation(self) -> str:
        try:
            return explain_lock(self)
        except Exception as err:  # reading the records must never hide Snakemake's own refusal
            return f"{LockException()} (layermaps could not read its lock records: {err!r})"

    @contextlib.contextmanager
    def lock(self):
        files = isinstance(self, FilePersistence)
        if files:  # set by its __init__: checked on the object
            snakemake_internals(self, "_lockdir", "_lockfile", patch="lock")
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(original(self))
            except LockException as err:
                # Snakemake's own exception, its words replaced: it prints the message alone
                # (raised here, it would print this module's frames after it)
                err.args = (explanation(self),)
                raise
            folder = Path(self.path) / RUNS_DIR
            for old in _read_records(folder):  # records of runs that no longer run
                if is_running(old) is False:
                    with contextlib.suppress(OSError):
                        os.unlink(old["file"])
            record = folder / f"{socket.gethostname()}-{os.getpid()}.json"
            folder.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(run_record(list(self._lockfile.values()) if files else [])))
            try:
                yield
            finally:
                with contextlib.suppress(OSError):
                    record.unlink()

    @contextlib.contextmanager
    def lock_warn_only(self):
        if self.locked:
            from snakemake.logging import logger

            logger.warning(f"layermaps (dry run, which takes no lock): {explanation(self)}")
        yield

    lock.layermaps_guard = True
    PersistenceBase.lock = lock
    PersistenceBase.lock_warn_only = lock_warn_only
