"""The two places layermaps patches Snakemake's internals (layermaps.guards): each checks the
attributes it relies on, and these tests check them against the installed Snakemake (its
classes, a real FilePersistence, and a real run of a tiny Snakefile), so an upgrade that
changes one fails here, by name, instead of silently turning a patch off."""

import inspect
import json
import subprocess
import sys
import types

import pytest
import snakemake
from snakemake.cli import get_argument_parser
from snakemake.persistence import PersistenceBase
from snakemake.persistence.file import FilePersistence
from snakemake.scheduling.job_scheduler import JobRateLimiter, JobScheduler
from snakemake.settings.types import MaxJobsPerTimespan

from layermaps.guards import (
    DEFAULT_RATE_LIMIT,
    RUNS_DIR,
    drop_default_rate_limit,
    rate_limit,
    snakemake_internals,
)


def test_a_missing_attribute_is_one_clear_error():
    with pytest.raises(RuntimeError) as err:
        snakemake_internals(types.SimpleNamespace(), "job_rate_limiter", patch="job rate limiter")
    message = str(err.value)
    assert "job rate limiter through types.SimpleNamespace.job_rate_limiter" in message
    assert f"Snakemake {snakemake.__version__} no longer has" in message and "\n" not in message
    with pytest.raises(RuntimeError, match="job_rate_limiter"):
        drop_default_rate_limit(types.SimpleNamespace())


def test_the_lock_patch_finds_what_it_wraps(tmp_path):
    """The class the patch replaces the methods of, and the lock files of a real file backend
    laid out as layermaps.guards reads them (<lockdir>/<n>.<input|output>.lock, one path a line)."""
    snakemake_internals(PersistenceBase, "lock", "lock_warn_only", "locked", patch="lock")
    persistence = FilePersistence(path=tmp_path / ".snakemake")
    snakemake_internals(persistence, "_lockdir", "_lockfile", patch="lock")
    persistence._write_locks("output", ["results/a"])
    written = sorted((tmp_path / ".snakemake/locks").glob("*.output.lock"))
    assert list(persistence._lockfile.values()) == [str(p) for p in written] and len(written) == 1
    assert written[0].read_text().splitlines() == ["results/a"]


def _scheduler(limit):
    return types.SimpleNamespace(job_rate_limiter=None if limit is None else JobRateLimiter(limit))


def test_the_default_rate_limit_is_dropped_and_a_users_kept():
    """On Snakemake's own limiter objects; the real run below has a real scheduler."""
    default = _scheduler(MaxJobsPerTimespan(100, "1s"))
    drop_default_rate_limit(default)
    assert default.job_rate_limiter is None and rate_limit(default) is None
    own = _scheduler(MaxJobsPerTimespan(50, "3s"))
    drop_default_rate_limit(own)
    assert rate_limit(own) == [50, 3]


def test_the_patch_knows_snakemakes_default_limit():
    default = get_argument_parser().get_default("max_jobs_per_timespan")
    limit = MaxJobsPerTimespan.parse_choice(default)
    assert (limit.max_jobs, limit.timespan) == DEFAULT_RATE_LIMIT, (
        f"Snakemake {snakemake.__version__}'s --max-jobs-per-timespan default is {default}: "
        f"update layermaps.guards.DEFAULT_RATE_LIMIT (and check the patch is still needed)"
    )


def test_the_scheduler_still_needs_the_patch():
    """The scheduler owns the attribute, and its loop still re-arms a timer at every pass while a
    limiter is set (the reason for the patch): when an upgrade stops that, drop the patch."""
    assert "self.job_rate_limiter =" in inspect.getsource(JobScheduler.__init__)
    loop = inspect.getsource(JobScheduler.schedule)
    assert "_schedule_reevalutation(self.job_rate_limiter.timespan)" in loop


# A Snakefile that uses both patches as workflow/rules/common.smk does; its one job copies the
# run record and the lock file while the run holds its lock.
SNAKEFILE = """
import json
from layermaps.guards import drop_default_rate_limit, guard_locks, rate_limit

guard_locks()

onstart:
    before = rate_limit(workflow.scheduler)
    drop_default_rate_limit(workflow.scheduler)
    with open("limits.json", "w") as f:
        json.dump([type(workflow.scheduler).__name__, before, rate_limit(workflow.scheduler)], f)

rule all:
    output: record="record.json", lock="lock.txt"
    shell:
        "cat .snakemake/layermaps-runs/*.json > {output.record}; "
        "cat .snakemake/locks/*.output.lock > {output.lock}"
"""


def _snakemake(folder, *args):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.workflow
def test_both_patches_on_a_real_run(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    first = _snakemake(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    # the scheduler's default limiter, dropped before its loop starts
    assert json.loads((tmp_path / "limits.json").read_text()) == ["JobScheduler", [100, 1], None]
    # while it held its lock, the run recorded itself and the lock file it wrote; gone after
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["locks"] == [str(tmp_path / ".snakemake/locks/0.output.lock")]
    assert record["command"] == "snakemake --cores 1"
    assert not list((tmp_path / ".snakemake" / RUNS_DIR).glob("*.json"))
    # what a killed run leaves: its lock and its record; the next run is refused in our words
    locks = tmp_path / ".snakemake/locks"
    locks.mkdir()  # removed with the lock
    (locks / "0.output.lock").write_text((tmp_path / "lock.txt").read_text())
    (tmp_path / ".snakemake" / RUNS_DIR / "killed.json").write_text(json.dumps(record))
    second = _snakemake(tmp_path, "--forceall")
    out = second.stdout + second.stderr
    assert second.returncode != 0
    assert f"{tmp_path} (.snakemake/locks) is locked, but the snakemake that took the lock no" in out, out
    assert "`snakemake --unlock` is safe" in out and "Traceback" not in out
