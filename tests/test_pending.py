"""Two invocations in one results folder both apply its pending MLflow records
(layermaps.tracking.store.apply_pending): real processes on a real SQLite store, each record
applied exactly once, none lost when an applier dies; and two real snakemake invocations at once
in one copy of the tiny run. Processes meet at lines they print, never after a sleep."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import snakemake
from mlflow.tracking import MlflowClient

from layermaps.tracking import runlog
from layermaps.tracking.store import init_store

SRC = str(Path(__file__).resolve().parents[1] / "src")
RECORDS = 80

# An applier: imports done, it says "ready" and waits for a line; then applies, printing what
# it logs; then prints its count as JSON. With a pause, it stops (still applying, holding what
# it holds) before its record number `pause` until it reads another line.
APPLIER = textwrap.dedent("""
    import json, sys
    from mlflow.tracking import MlflowClient
    from layermaps.tracking.store import apply_pending

    state, pause = sys.argv[1], int(sys.argv[2])
    batch, calls = MlflowClient.log_batch, []

    def log_batch(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == pause:
            print("paused", flush=True)
            sys.stdin.readline()
        return batch(self, *args, **kwargs)

    MlflowClient.log_batch = log_batch
    print("ready", flush=True)
    sys.stdin.readline()
    n = apply_pending(state, log=lambda line: print(line, flush=True))
    print(json.dumps({"applied": n}), flush=True)
""")


@pytest.fixture
def pending(tmp_path):
    """A real SQLite store with four runs and RECORDS pending records (metric m{i} = i each)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    init_store(uri, str(tmp_path / "artifacts"), ["layermaps/test"])
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("layermaps/test").experiment_id
    run_ids = [client.create_run(exp).info.run_id for _ in range(4)]
    state = tmp_path / "state"
    for i in range(RECORDS):
        with runlog.deferred_run(
            run_id=run_ids[i % 4], rule="score", wildcards={"i": i}, params={}, outputs=[], state_dir=state
        ):
            runlog.log_metrics({f"m{i}": i})
    (tmp_path / "applier.py").write_text(APPLIER)
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri, PYTHONPATH=SRC)
    return {"client": client, "runs": run_ids, "state": state, "env": env, "tmp": tmp_path}


def start(pending, pause=0):
    proc = subprocess.Popen(
        [sys.executable, str(pending["tmp"] / "applier.py"), str(pending["state"]), str(pause)],
        env=pending["env"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout.readline() == "ready\n"
    return proc


def go(proc):
    proc.stdin.write("go\n")
    proc.stdin.flush()


def finish(proc) -> tuple[int, str]:
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out[-3000:]
    return json.loads(out.strip().splitlines()[-1])["applied"], out


def applied_metrics(pending) -> dict[str, float]:
    metrics = {}
    for run_id in pending["runs"]:
        metrics.update(pending["client"].get_run(run_id).data.metrics)
    return metrics


def test_two_appliers_at_once_apply_each_record_exactly_once(pending):
    """Both start applying the same 80 records at the same moment; neither crashes, the counts
    add up to 80 and every record's metric is there."""
    first, second = start(pending), start(pending)
    go(first), go(second)
    (a, out_a), (b, out_b) = finish(first), finish(second)
    assert a + b == RECORDS, out_a + out_b
    assert applied_metrics(pending) == {f"m{i}": float(i) for i in range(RECORDS)}
    assert not list((pending["state"] / "pending").glob("*.json"))


def test_an_applier_waits_for_the_one_applying(pending):
    """While one applier is in the middle of the records, a second one says it waits and
    applies nothing until the first is done; then it finds nothing left."""
    first = start(pending, pause=10)
    go(first)
    assert first.stdout.readline() == "paused\n"
    second = start(pending)
    go(second)
    assert "waiting for another invocation" in second.stdout.readline()
    go(first)
    (a, _), (b, _) = finish(first), finish(second)
    assert (a, b) == (RECORDS, 0)
    assert len(applied_metrics(pending)) == RECORDS


def test_a_killed_applier_loses_no_record(pending):
    """An applier killed (SIGKILL) in the middle holds nothing afterwards: the next applies
    every record it had not, and none is lost."""
    first = start(pending, pause=11)
    go(first)
    assert first.stdout.readline() == "paused\n"  # ten records applied, the eleventh under way
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    assert len(list((pending["state"] / "pending").glob("*.json"))) == RECORDS - 10
    second = start(pending)
    go(second)
    assert finish(second)[0] == RECORDS - 10
    assert applied_metrics(pending) == {f"m{i}": float(i) for i in range(RECORDS)}


@pytest.mark.workflow
def test_two_snakemake_invocations_in_one_folder_apply_each_record_once(tiny_run_copy):
    """Two scores remade by two invocations at once (outputs apart, as Snakemake allows): both
    succeed, and the two score records are applied once between them."""
    work = tiny_run_copy
    targets = ["results/mnist/scores/raw/umap.json", "results/mnist/scores/raw/pca.json"]
    for target in targets:
        (work / target).unlink()
    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(lambda target: snakemake(work, "--cores", "1", target), targets))
    said = "".join(p.stdout + p.stderr for p in procs)
    assert sum(map(int, re.findall(r"applied (\d+) pending record", said))) == 2, said[-4000:]
    assert not list((work / "results/.layermaps/pending").glob("*.json"))
    assert all((work / target).exists() for target in targets)
