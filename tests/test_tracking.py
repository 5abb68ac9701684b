"""MLflow tracking against a real SQLite store, as the workflow initialises it."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from layermaps.tracking.runlog import flatten, job_key
from layermaps.tracking.store import init_store

SRC = str(Path(__file__).resolve().parents[1] / "src")

JOB = textwrap.dedent("""
    import sys, time, mlflow
    from layermaps.tracking.store import job_run
    index, mode, run_id_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    if mode == "together":  # imports done: wait until every job is ready, then all write at once
        print("ready", flush=True)
        sys.stdin.readline()
    alone = mode in ("parallel", "together")  # a job key of its own
    with job_run(experiment="layermaps/test", rule="job",
                 wildcards={"i": index if alone else index % 4},
                 params={"index": index, "nested": {"a": [1, 2]}}, outputs=["x"],
                 run_id_file=run_id_file, log=lambda m: print(m, flush=True)):
        mlflow.log_metric("value", index * 1.5)
        print("started", flush=True)
        if mode == "fail":
            raise ValueError("boom")
        if mode == "sleep":
            time.sleep(3600)  # until the test's signal
""")


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    init_store(uri, str(tmp_path / "artifacts"), ["layermaps/test"])
    env = dict(
        os.environ,
        MLFLOW_TRACKING_URI=uri,
        LAYERMAPS_ARTIFACT_ROOT=str(tmp_path / "artifacts"),
        PYTHONPATH=SRC,
        LAYERMAPS_INVOCATION_ID="inv-1",
    )
    env.pop("MLFLOW_RUN_ID", None)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("layermaps/test")
    return {"uri": uri, "env": env, "client": client, "exp": exp, "tmp": tmp_path}


def start_job(store, index, mode):
    script = store["tmp"] / "job.py"
    if not script.exists():  # written once: rewriting it while others start would race
        script.write_text(JOB)
    stdin = subprocess.PIPE if mode == "together" else subprocess.DEVNULL  # the barrier's "go"
    return subprocess.Popen(
        [sys.executable, str(script), str(index), mode, str(store["tmp"] / f"run{index}.id")],
        env=store["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=stdin,
    )


def runs(store):
    return store["client"].search_runs([store["exp"].experiment_id], max_results=1000)


def test_experiment_has_explicit_artifact_location(store):
    assert store["exp"].artifact_location == (store["tmp"] / "artifacts" / "layermaps_test").as_uri()


def test_sixteen_concurrent_jobs_lose_nothing(store):
    """16 jobs write to one SQLite store at once: each waits, its imports done, until all are
    ready (a barrier on their stdin), so they overlap however slowly this machine starts them."""
    procs = [start_job(store, i, "together") for i in range(16)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.communicate()[0]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=900)[0] for p in procs]  # a hang guard only
    assert [p.returncode for p in procs] == [0] * 16, "\n".join(outputs)
    assert all("started" in out for out in outputs)
    found = runs(store)
    assert len(found) == 16
    assert all(r.info.status == "FINISHED" for r in found)
    assert sorted(r.data.metrics["value"] for r in found) == [i * 1.5 for i in range(16)]
    ids = {(store["tmp"] / f"run{i}.id").read_text().strip() for i in range(16)}
    assert ids == {r.info.run_id for r in found}
    r = found[0]
    assert r.data.params["nested.a"] == "[1, 2]"
    assert r.data.tags["layermaps.invocation"] == "inv-1"
    assert r.data.tags["layermaps.rule"] == "job"
    assert json.loads(r.data.tags["layermaps.outputs"]) == ["x"]
    assert r.data.tags["mlflow.source.git.commit"]


def test_exception_ends_run_failed_without_run_id_file(store):
    proc = start_job(store, 1, "fail")
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode != 0 and "boom" in out
    (run,) = runs(store)
    assert run.info.status == "FAILED"
    assert not (store["tmp"] / "run1.id").exists()


def wait_started(proc):
    for line in proc.stdout:
        if line.strip() == "started":
            return
    raise AssertionError("job never started")


def test_sigterm_ends_run_killed(store):
    proc = start_job(store, 2, "sleep")
    wait_started(proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=600)
    assert proc.returncode != 0
    (run,) = runs(store)
    assert run.info.status == "KILLED"


def deleted_runs(store):
    from mlflow.entities import ViewType

    return store["client"].search_runs([store["exp"].experiment_id], run_view_type=ViewType.DELETED_ONLY)


def test_leftover_running_run_marked_killed_by_next_attempt(store):
    proc = start_job(store, 3, "sleep")
    wait_started(proc)
    proc.kill()  # SIGKILL: nothing can run, the run stays RUNNING
    proc.wait()
    (run,) = runs(store)
    assert run.info.status == "RUNNING"
    retry = start_job(store, 3, "parallel")  # same job key
    out = retry.communicate(timeout=600)[0]
    assert retry.returncode == 0, out
    (current,) = runs(store)  # the leftover left the default view ...
    (old,) = deleted_runs(store)  # ... ended KILLED, pointing to its successor
    assert current.info.status == "FINISHED" and old.info.run_id == run.info.run_id
    assert old.info.status == "KILLED"
    assert old.data.tags["layermaps.superseded_by"] == current.info.run_id
    assert f"run {run.info.run_id} (KILLED) of an earlier attempt" in out and "superseded" in out


def test_rerun_supersedes_the_run_of_the_same_output_only(store):
    """One current run per output: a rerun retires the run it replaces, not another output's."""
    from layermaps.tracking.store import job_run

    def job(outputs):
        with job_run(
            experiment="layermaps/test",
            rule="embed",
            wildcards={"r": "umap"},
            params={"seed": 1},
            outputs=outputs,
            log=lambda m: None,
        ) as run:
            return run.info.run_id

    os.environ["MLFLOW_TRACKING_URI"] = store["uri"]
    try:
        first = job(["results/a.npz"])
        other = job(["results/quick/a.npz"])  # same rule and wildcards, another results folder
        second = job(["results/a.npz"])
        third = job(["results/a.npz"])
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI")
    assert sorted(r.info.run_id for r in runs(store)) == sorted([other, third])
    superseded = {r.info.run_id: r.data.tags["layermaps.superseded_by"] for r in deleted_runs(store)}
    assert superseded == {first: second, second: third}
    assert all(r.info.status == "FINISHED" for r in runs(store))


def test_mlflow_run_id_in_environment_is_not_resumed(store):
    first = start_job(store, 5, "parallel")
    first.communicate(timeout=600)
    first_id = (store["tmp"] / "run5.id").read_text().strip()
    store["env"]["MLFLOW_RUN_ID"] = first_id
    second = start_job(store, 6, "parallel")
    out = second.communicate(timeout=600)[0]
    assert second.returncode == 0, out
    assert (store["tmp"] / "run6.id").read_text().strip() != first_id
    assert len(runs(store)) == 2


def test_flatten_and_job_key():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": None}) == {
        "a.b": "1",
        "a.c": "[1, 2]",
        "d": "x",
        "e": "null",
    }
    assert job_key("embed", {"source": "raw", "dataset": "mnist"}) == "embed[dataset=mnist][source=raw]"


def test_deferred_jobs_add_to_the_run_when_applied(store):
    """Score and plot jobs record what they log; apply_pending adds it to the run, in order,
    without touching the run's status or params; a job that failed says so in a tag."""
    import mlflow

    from layermaps.tracking import runlog
    from layermaps.tracking.store import apply_pending, job_run

    state = store["tmp"] / "state"
    figure = store["tmp"] / "map.png"
    figure.write_bytes(b"png")
    mlflow.set_tracking_uri(store["uri"])
    os.environ["MLFLOW_TRACKING_URI"] = store["uri"]
    try:
        with job_run(
            experiment="layermaps/test",
            rule="embed",
            wildcards={"r": "umap"},
            params={"seed": 1},
            outputs=[],
            log=lambda m: None,
        ) as run:
            first = run.info.run_id
        common = dict(run_id=first, wildcards={"r": "umap"}, outputs=["s.json"], state_dir=state)
        with runlog.deferred_run(rule="score", params={"k": [3, 5]}, **common):
            runlog.log_metrics({"knn_accuracy_k5": 0.9})
            runlog.log_dict({"a": 1}, "scores.json")
        with runlog.deferred_run(rule="score", params={"k": [3, 5]}, **common):
            runlog.log_metrics({"knn_accuracy_k5": 0.8})  # a rerun: the later value wins
            runlog.log_artifacts(figure, artifact_path="figures")
        with pytest.raises(ValueError):
            with runlog.deferred_run(rule="plot", params={}, **common):
                raise ValueError("plot failed")
        assert len(list((state / "pending").glob("*.json"))) == 3
        assert store["client"].get_run(first).data.metrics == {}  # nothing until applied
        assert apply_pending(state, log=lambda m: None) == 3
        assert apply_pending(state, log=lambda m: None) == 0  # applied records are gone
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI")
    (run,) = runs(store)
    assert run.info.run_id == first and run.info.status == "FINISHED"
    assert run.data.metrics["knn_accuracy_k5"] == 0.8
    assert run.data.params == {"seed": "1"}  # params stay immutable: score settings are tags
    assert run.data.tags["score.k"] == "[3, 5]" and run.data.tags["score.status"] == "FINISHED"
    assert run.data.tags["score.wildcard.r"] == "umap"
    assert run.data.tags["plot.status"] == "FAILED"
    files = {f.path for f in store["client"].list_artifacts(first)}
    assert {"scores.json", "figures"} <= files
    assert [f.path for f in store["client"].list_artifacts(first, "figures")] == ["figures/map.png"]


def test_a_record_for_a_deleted_run_is_dropped(store):
    from layermaps.tracking import runlog
    from layermaps.tracking.store import apply_pending

    run_id = store["client"].create_run(store["exp"].experiment_id).info.run_id
    store["client"].delete_run(run_id)
    with runlog.deferred_run(
        run_id=run_id, rule="score", wildcards={}, params={}, outputs=[], state_dir=store["tmp"]
    ):
        runlog.log_metrics({"x": 1.0})
    said = []
    os.environ["MLFLOW_TRACKING_URI"] = store["uri"]
    try:
        assert apply_pending(store["tmp"], log=said.append) == 0
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI")
    assert not list((store["tmp"] / "pending").glob("*.json"))
    assert any("dropped what score logged" in line for line in said)


# A SIGTERM delivered the moment the job enters one of these functions (a profile hook of the
# interpreter, not a timer): before the run exists, while it is made, while earlier runs are
# retired, while MLflow resumes it, while its params are logged, while it ends.
KILLED_IN = textwrap.dedent("""
    import os, signal, sys
    from layermaps.tracking.store import job_run
    target, fired = sys.argv[1], []

    def deliver(frame, event, arg):
        if event == "call" and frame.f_code.co_name == target and not fired:
            fired.append(frame.f_code.co_filename)
            os.kill(os.getpid(), signal.SIGTERM)

    sys.setprofile(deliver)
    try:
        with job_run(experiment="layermaps/test", rule="job", wildcards={"i": 7}, params={"a": 1},
                     outputs=["x"], log=lambda m: print(m, flush=True)):
            print("the job's body ran", flush=True)
    finally:
        sys.setprofile(None)
        print("signal delivered in", target, "of", fired, flush=True)
""")
BEFORE_THE_RUN = ["check_server", "get_or_create_experiment"]
WITH_A_RUN = ["create_run", "retire_earlier_runs", "start_run", "log_params", "end_run"]


@pytest.mark.parametrize("target", BEFORE_THE_RUN + WITH_A_RUN)
def test_sigterm_anywhere_in_the_job_ends_it_killed(store, target):
    """Wherever the signal lands, the job stops as killed (JobKilled) and leaves no run RUNNING:
    the run ends KILLED, or was never made."""
    if target == "retire_earlier_runs":  # an earlier FINISHED run of the same job to retire
        first = start_job(store, 7, "parallel")
        assert first.wait(timeout=600) == 0, first.communicate()[0]
    script = store["tmp"] / "killed_in.py"
    script.write_text(KILLED_IN)
    proc = subprocess.run(
        [sys.executable, str(script), target], env=store["env"], text=True, capture_output=True, timeout=600
    )  # a hang guard only
    out = proc.stdout + proc.stderr
    assert "signal delivered in" in out and "[]" not in out, out  # the hook fired
    assert proc.returncode == 1 and "JobKilled" in out, out
    assert ("the job's body ran" in out) == (target == "end_run")
    found = [r for r in runs(store) if r.data.params.get("a") == "1" or r.info.status != "FINISHED"]
    if target in BEFORE_THE_RUN:
        assert found == [] and "before its MLflow run was made" in out, out
    else:
        (run,) = found
        assert run.info.status == "KILLED", out
        assert f"job ended KILLED (run {run.info.run_id})" in out
