"""Where a run's time goes: seconds inside the libraries' own work against wall time x cores.

Stage code wraps each piece of library work (Keras fit, a reducer's fit and transform, kNN
scoring, drawing) in `with work("fit"):`. `layermaps.tracking.jobs.tracked_job` writes one job record
at the end of every job; the workflow's main process writes one invocation record when it ends
(its wall time, cores and its own CPU time). `python -m layermaps.measured` reads them:

    efficiency = sum over jobs of (work seconds x job threads) / (invocation wall x cores)

Records live under the results folder's state directory (LAYERMAPS_STATE_DIR, set by the
Snakefile): jobs/<invocation>/<rule>.<hash>.json and invocations/<invocation>.json.
Only the standard library and psutil (Snakemake's own dependency) are imported here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

from layermaps.tracking.runlog import INVOCATION_ENV, STATE_ENV

# Libraries whose import alone costs a job a second or more: a job record lists which it
# loaded, so a test can hold a job to its budget without timing it (no TensorFlow outside
# training, no MLflow in the jobs that log through records).
HEAVY_MODULES = ("tensorflow", "keras", "mlflow", "sklearn", "matplotlib", "umap", "numba", "pandas", "scipy")

_work: dict[str, float] = {}


@contextlib.contextmanager
def work(kind: str):
    """Count the block's wall seconds as library work of this kind ("fit", "draw", ...)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        _work[kind] = _work.get(kind, 0.0) + time.perf_counter() - t0


def work_seconds() -> dict[str, float]:
    return dict(_work)


def process_start() -> float:
    """When this process started (epoch seconds): a job's wall time includes its imports."""
    import psutil

    return psutil.Process().create_time()


def _write_json(path: Path, record: dict) -> None:
    from layermaps.atomic import write_text

    write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")


def write_job_record(
    *,
    rule: str,
    wildcards: dict,
    threads: int,
    status: str,
    state_dir: str | None = None,
    invocation: str | None = None,
) -> Path | None:
    """This job's wall time and work seconds; nothing when no state directory is set."""
    state_dir = state_dir or os.environ.get(STATE_ENV)
    if not state_dir:
        return None
    invocation = invocation or os.environ.get(INVOCATION_ENV, "none")
    import psutil

    end = time.time()
    start = process_start()
    import resource

    cpu = psutil.Process().cpu_times()
    peak_kb = max(
        resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    key = json.dumps([rule, sorted(wildcards.items())])
    path = Path(state_dir, "jobs", invocation, f"{rule}.{hashlib.sha1(key.encode()).hexdigest()[:16]}.json")
    record = {
        "rule": rule,
        "wildcards": wildcards,
        "threads": int(threads),
        "status": status,
        "start": start,
        "end": end,
        "wall": end - start,
        "work": work_seconds(),
        "cpu": cpu.user + cpu.system + cpu.children_user + cpu.children_system,
        "max_rss_mb": peak_kb / 1024,
        "imported": [m for m in HEAVY_MODULES if m in sys.modules],
        "pid": os.getpid(),
    }
    _write_json(path, record)
    return path


def write_invocation_record(
    *, state_dir: str, invocation: str, start: float, cores: int, status: str, extra: dict | None = None
) -> Path:
    """The workflow main process's record: wall time, cores and its own CPU seconds."""
    import psutil

    cpu = psutil.Process().cpu_times()
    end = time.time()
    # cores = what Snakemake scheduled against (--cores): job threads never add up to more
    record = {
        "invocation": invocation,
        "start": start,
        "end": end,
        "wall": end - start,
        "cores": int(cores),
        "cpus_available": len(os.sched_getaffinity(0)),
        "snakemake_cpu_seconds": cpu.user + cpu.system,
        # every process it waited for: the jobs, their shells, an ILP solver
        "children_cpu_seconds": cpu.children_user + cpu.children_system,
        "status": status,
        **(extra or {}),
    }
    path = Path(state_dir, "invocations", f"{invocation}.json")
    _write_json(path, record)
    return path


def read_invocation(state_dir: str | Path, invocation: str | None = None) -> tuple[dict, list[dict]]:
    """(invocation record, its job records): the latest invocation that ran jobs by default."""
    state = Path(state_dir)
    records = sorted(state.glob("invocations/*.json"), key=lambda p: json.loads(p.read_text())["end"])
    if invocation is None:
        records = [p for p in records if any((state / "jobs" / p.stem).glob("*.json"))]
        if not records:
            raise FileNotFoundError(f"no finished workflow invocation with jobs under {state}")
        path = records[-1]
    else:  # its id, or the start of it (the efficiency table prints 8 characters)
        found = [p for p in records if p.stem.startswith(invocation)] if invocation else []
        if len(found) != 1:
            what = "no record of" if not found else f"{len(found)} records match"
            raise FileNotFoundError(
                f"{what} invocation {invocation!r} under {state}; its invocations: "
                + (", ".join(p.stem[:8] for p in records) or "none")
            )
        path = found[0]
    jobs = [json.loads(p.read_text()) for p in sorted((state / "jobs" / path.stem).glob("*.json"))]
    return json.loads(path.read_text()), jobs


def latest_jobs(state_dir: str | Path) -> dict[tuple[str, str], dict]:
    """The latest record of every job, over all invocations: (rule, wildcards as JSON) -> record."""
    latest: dict[tuple[str, str], dict] = {}
    for path in Path(state_dir).glob("jobs/*/*.json"):
        record = json.loads(path.read_text())
        key = (record["rule"], json.dumps(record["wildcards"], sort_keys=True))
        if key not in latest or latest[key]["end"] < record["end"]:
            latest[key] = record
    return latest


def efficiency(invocation: dict, jobs: list[dict]) -> dict:
    """Per rule and in total: job count, wall and work seconds, efficiency.

    A job's work counts once per thread it was given (a 2-thread fit keeps both cores busy);
    overhead = job wall - work (process start, imports, loading, tracking). A rule's
    efficiency is its work over its jobs' wall time; the run's is all work over wall x cores.
    """
    rules: dict[str, dict] = {}
    for job in jobs:
        r = rules.setdefault(
            job["rule"], {"jobs": 0, "walls": [], "overheads": [], "work_core_s": 0.0, "wall_core_s": 0.0}
        )
        work_s = sum(job["work"].values())
        r["jobs"] += 1
        r["walls"].append(job["wall"])
        r["overheads"].append(job["wall"] - work_s)
        r["work_core_s"] += work_s * job["threads"]
        r["wall_core_s"] += job["wall"] * job["threads"]
    table = {
        name: {
            "jobs": r["jobs"],
            "median_wall_s": statistics.median(r["walls"]),
            "median_overhead_s": statistics.median(r["overheads"]),
            "work_core_s": r["work_core_s"],
            "wall_core_s": r["wall_core_s"],
            "efficiency": r["work_core_s"] / r["wall_core_s"] if r["wall_core_s"] else 0.0,
        }
        for name, r in sorted(rules.items())
    }
    work_total = sum(r["work_core_s"] for r in table.values())
    capacity = invocation["wall"] * invocation["cores"]
    return {
        "rules": table,
        "jobs": len(jobs),
        "wall_s": invocation["wall"],
        "cores": invocation["cores"],
        "work_core_s": work_total,
        "job_core_s": sum(r["wall_core_s"] for r in table.values()),
        "efficiency": work_total / capacity if capacity else 0.0,
        "snakemake_cpu_s": invocation["snakemake_cpu_seconds"],
        # CPU of Snakemake's children not in a job record: job shells, the jobs' interpreter
        # shutdown after their record was written, a scheduler's solver
        "helpers_cpu_s": invocation.get("children_cpu_seconds", 0.0) - sum(j.get("cpu", 0.0) for j in jobs),
        "snakemake_core_share": invocation["snakemake_cpu_seconds"] / invocation["wall"],
    }
