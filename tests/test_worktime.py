"""Job and invocation timing records, and the efficiency computed from them."""

import os

import pytest

from layermaps.tracking import worktime


def job(rule, wall, work, threads=1):
    return {"rule": rule, "wall": wall, "work": work, "threads": threads}


def test_efficiency_weights_work_by_threads_and_divides_by_wall_times_cores():
    inv = {"wall": 100.0, "cores": 2, "snakemake_cpu_seconds": 4.0}
    jobs = [
        job("train", 60, {"fit": 50, "evaluate": 4}, threads=2),
        job("score", 3, {"knn": 1}),
        job("score", 5, {"knn": 1}),
        job("score", 4, {"knn": 2}),
    ]
    e = worktime.efficiency(inv, jobs)
    assert e["work_core_s"] == pytest.approx(54 * 2 + 4)
    assert e["efficiency"] == pytest.approx((54 * 2 + 4) / 200)
    assert e["snakemake_core_share"] == pytest.approx(0.04)
    score = e["rules"]["score"]
    assert score["jobs"] == 3 and score["median_wall_s"] == 4 and score["median_overhead_s"] == 2
    assert score["efficiency"] == pytest.approx(4 / 12)
    assert e["rules"]["train"]["median_overhead_s"] == 6


def test_work_timer_adds_up_per_kind(monkeypatch):
    monkeypatch.setattr(worktime, "_work", {})
    for _ in range(3):
        with worktime.work("draw"):
            pass
    with pytest.raises(KeyError):
        with worktime.work("knn"):
            raise KeyError("a failure still counts the time spent")
    assert set(worktime.work_seconds()) == {"draw", "knn"}
    assert all(v >= 0 for v in worktime.work_seconds().values())


def test_records_round_trip_and_the_latest_invocation_with_jobs_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(worktime, "_work", {"fit": 1.5})
    for inv in ("first", "second"):
        worktime.write_job_record(
            rule="train",
            wildcards={"model": "m"},
            threads=2,
            status="FINISHED",
            state_dir=str(tmp_path),
            invocation=inv,
        )
        worktime.write_invocation_record(
            state_dir=str(tmp_path),
            invocation=inv,
            start=worktime.process_start(),
            cores=64,
            status="success",
        )
    # a later invocation that ran no job (nothing to do) is not the one reported
    worktime.write_invocation_record(
        state_dir=str(tmp_path), invocation="third", start=worktime.process_start(), cores=2, status="success"
    )
    inv, jobs = worktime.read_invocation(tmp_path)
    assert inv["invocation"] == "second" and len(jobs) == 1
    assert jobs[0]["work"] == {"fit": 1.5} and jobs[0]["threads"] == 2 and jobs[0]["wall"] > 0
    assert inv["cores"] == 64 and inv["cpus_available"] == len(os.sched_getaffinity(0))
    assert inv["snakemake_cpu_seconds"] > 0
    assert worktime.read_invocation(tmp_path, "first")[0]["invocation"] == "first"
    with pytest.raises(
        FileNotFoundError, match="no record of invocation 'gone'.*its invocations: first, second, third"
    ):
        worktime.read_invocation(tmp_path, "gone")
    with pytest.raises(FileNotFoundError, match="no finished workflow invocation"):
        worktime.read_invocation(tmp_path / "empty")


def test_no_state_directory_no_record(monkeypatch):
    monkeypatch.delenv(worktime.STATE_ENV, raising=False)
    assert worktime.write_job_record(rule="x", wildcards={}, threads=1, status="FINISHED") is None
