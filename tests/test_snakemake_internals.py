"""The two places layermaps patches Snakemake's internals (layermaps.guards): each checks the
attributes it relies on, and these tests check them against the installed Snakemake, so an
upgrade that changes one fails here, by name, instead of silently turning a patch off."""

import inspect
import types

import pytest
import snakemake
from snakemake.persistence import PersistenceBase
from snakemake.scheduling.job_scheduler import JobRateLimiter, JobScheduler
from snakemake.settings.types import MaxJobsPerTimespan

from layermaps.guards import drop_default_rate_limit, rate_limit, snakemake_internals


def test_a_missing_attribute_is_one_clear_error():
    with pytest.raises(RuntimeError) as err:
        snakemake_internals(types.SimpleNamespace(), "job_rate_limiter", patch="job rate limiter")
    assert "job rate limiter" in str(err.value) and ".job_rate_limiter" in str(err.value)
    assert f"Snakemake {snakemake.__version__} no longer has" in str(err.value)
    with pytest.raises(RuntimeError, match="job_rate_limiter"):
        drop_default_rate_limit(types.SimpleNamespace())


def test_the_lock_patch_finds_what_it_wraps():
    snakemake_internals(PersistenceBase, "lock", "lock_warn_only", "locked", patch="lock")


def _scheduler(limit):
    return types.SimpleNamespace(job_rate_limiter=None if limit is None else JobRateLimiter(limit))


def test_the_default_rate_limit_is_dropped_and_a_users_kept():
    """On Snakemake's own limiter objects; the workflow tests check a real run's record."""
    default = _scheduler(MaxJobsPerTimespan(100, "1s"))
    drop_default_rate_limit(default)
    assert default.job_rate_limiter is None and rate_limit(default) is None
    own = _scheduler(MaxJobsPerTimespan(50, "3s"))
    drop_default_rate_limit(own)
    assert rate_limit(own) == [50, 3]


def test_the_scheduler_still_needs_the_patch():
    """The scheduler owns the attribute, and its loop still re-arms a timer at every pass while a
    limiter is set (the reason for the patch): when an upgrade stops that, drop the patch."""
    assert "self.job_rate_limiter =" in inspect.getsource(JobScheduler.__init__)
    loop = inspect.getsource(JobScheduler.schedule)
    assert "_schedule_reevalutation(self.job_rate_limiter.timespan)" in loop
